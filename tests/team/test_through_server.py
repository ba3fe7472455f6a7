"""A team works through `mk server` (issue 12): a training script, its run, its model and loading the
model back go through the server unchanged, the CLI never opens a local repository when
MODELKEEP_URL is set, and the store protocol refuses what it must."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from blake3 import blake3

import modelkeep as mk
from modelkeep import sdk
from modelkeep.cli.main import run as cli_run


@pytest.fixture
def remote(server: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A working folder with no repository, MODELKEEP_URL and carl's (contributor) token."""
    monkeypatch.setenv("MODELKEEP_URL", server["url"])
    monkeypatch.setenv("MODELKEEP_TOKEN", server["carl"])
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    if sdk._current is not None:
        sdk._current.close()
        sdk._current, sdk._current_key = None, None


def _no_local_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("opened a local repository")

    import modelkeep.config
    import modelkeep.services.workspace

    monkeypatch.setattr(modelkeep.services.workspace, "open_workspace", refuse)
    monkeypatch.setattr(modelkeep.services.workspace, "find_root", refuse)
    monkeypatch.setattr(modelkeep.config, "find_root", refuse)


def mk_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["mk", *args])
    try:
        cli_run()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_training_script_runs_unchanged_through_the_server(remote: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LogisticRegression

    _no_local_repository(monkeypatch)
    rng = np.random.RandomState(0)
    x = rng.rand(60, 3)
    y = (x[:, 0] > 0.5).astype(int)
    plots = remote / "plots"
    plots.mkdir()
    (plots / "loss.txt").write_text("1.0 0.5 0.25\n")
    with mk.start_run("fit", project="team") as run:
        run.seed(0)
        run.log_params({"C": 1.0})
        for step in range(5):
            run.log_metric("loss", 1 / (step + 1))
        run.log_artifact(plots)  # a folder: through the store protocol, not a single-file upload
        model = LogisticRegression().fit(x, y)
        version = run.log_model(model, "team-fraud", sample_input=x[:5])
    assert version.artifact_kind == "tree" and version.tags["run"] == str(run.id)

    logged = mk.connection().runs.get(run.id)
    assert (logged.status, logged.params, logged.created_by) == ("finished", {"C": "1.0"}, "carl")
    assert [value for _, value in logged.metrics["loss"]] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert [(a["name"], a["kind"]) for a in logged.artifacts] == [("plots", "tree")]
    assert logged.models == [version.ref] and logged.seeds and logged.environment["python"]
    latest = mk.connection().runs.get(run.id, outputs=False, history=False)  # each series' last point only
    assert latest.metrics == {"loss": [(4, pytest.approx(1 / 5))]} and latest.params == logged.params
    assert not latest.models and not latest.artifacts
    graph = mk.lineage(version.ref)
    assert f"run:{run.id}" in {node["id"] for node in graph["nodes"]}

    loaded = mk.load_model(version.ref)
    assert loaded.predict(x).tolist() == model.predict(x).tolist()
    predictor = mk.load_model(version.ref, as_predictor=True)
    assert predictor.predict(x[:4]) == model.predict(x[:4]).tolist()
    with pytest.raises(mk.InvalidInput, match="expected 3 values"):
        predictor.predict([[1.0, 2.0]])
    import pandas as pd

    names = [c["name"] for c in version.signature["inputs"]]
    frame = pd.DataFrame(x[:4], columns=names)[list(reversed(names))]  # columns in another order: matched by name
    assert predictor.predict(frame) == model.predict(x[:4]).tolist()
    with pytest.raises(mk.InvalidInput, match=f"lacks column '{names[0]}'"):
        predictor.predict(frame.drop(columns=[names[0]]))
    assert not (remote / ".modelkeep").exists()


def test_a_second_load_moves_no_bytes(remote: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    x = np.arange(40, dtype=float).reshape(20, 2)
    with mk.start_run("tree") as run:
        run.seed(1)
        version = run.log_model(DecisionTreeClassifier(random_state=0).fit(x, x[:, 0] > 10), "team-tree")
    store_reads: list[str] = []
    http = mk.connection().transport.http  # type: ignore[attr-defined]
    http.event_hooks["request"].append(lambda request: store_reads.append(request.url.path)
                                       if "/store/objects/" in request.url.path else None)
    with pytest.raises(mk.PermissionDenied, match="does not trust"):  # skops: only safe types unless trusted
        mk.load_model(version.ref)
    trusted = ["sklearn.tree._tree.Tree"]
    cold = len(store_reads)
    first = mk.load_model(version.ref, trusted=trusted)
    second = mk.load_model(version.ref, trusted=trusted)
    assert cold > 0 and len(store_reads) == cold  # the cache by digest answered
    assert first.predict(x).tolist() == second.predict(x).tolist()


def test_cli_through_the_server_downloads_and_shows_runs(remote: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _no_local_repository(monkeypatch)
    weights = remote / "model"
    weights.mkdir()
    (weights / "weights.bin").write_bytes(os.urandom(300_000))
    (weights / "config.json").write_text("{}")
    code, out, err = mk_cli(monkeypatch, capsys, "model", "register", "team-cli", str(weights), "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["artifact"]["kind"] == "tree"
    code, out, err = mk_cli(monkeypatch, capsys, "model", "download", "team-cli@latest", "--to", "back", "--json")
    assert code == 0, err
    assert (remote / "back" / "weights.bin").read_bytes() == (weights / "weights.bin").read_bytes()
    code, _, err = mk_cli(monkeypatch, capsys, "model", "download", "team-cli@latest", "--to", "back")
    assert code == 1 and "not an empty folder" in err  # nothing is overwritten
    code, out, err = mk_cli(monkeypatch, capsys, "run", "--project", "team", "--", sys.executable, "-c", "print(1)")
    assert code == 0, err
    code, out, err = mk_cli(monkeypatch, capsys, "runs", "list", "--project", "team", "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "finished", err
    code, out, err = mk_cli(monkeypatch, capsys, "whoami", "--json")
    assert json.loads(out)["user"] == "carl" and "server" in json.loads(out)["where"]


# Every command a user might run with MODELKEEP_URL set works through the server (an answer from it:
# here "not found" for names that do not exist, or "may not" for what a contributor may not do); none
# opens (or writes to) a local repository.
THROUGH_SERVER = [
    ["model", "list"], ["model", "show", "team-none@latest"], ["model", "search", "name = 'x'"],
    ["runs", "list"], ["runs", "show", "999"], ["env", "show", "run:999"], ["lineage", "team-none@1"], ["whoami"],
    ["audit", "log"], ["deploy", "list"], ["data", "log", "team-none"], ["data", "ls", "team-none@1"],
    ["data", "checkout", "team-none@1", "--to", "out"], ["data", "status", "team-none"],
    ["reproduce", "m@1", "--to", "r"], ["export", "cyclonedx", "m@1"], ["export", "openlineage", "m@1"],
    ["audit", "holder", "m", "production", "--at", "2026-01-01"], ["audit", "verify"], ["deploy", "status", "d"],
    # carl is no admin: refused there
    ["protect", "m", "production"], ["user", "add", "u"], ["webhook", "deliveries"], ["webhook", "dispatch"],
    ["webhook", "list"], ["webhook", "remove", "1"], ["webhook", "test", "1"],
    ["push"], ["pull"], ["verify"], ["audit", "checkpoint"],
    ["retention", "show"], ["retention", "set", "--all-models", "--keep-last", "3"], ["hold", "m@1", "--reason", "r"],
    ["gc", "--dry-run"], ["gc"], ["undelete", "m@1"],
]


def test_no_command_opens_a_local_repository(remote: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (remote / "README.md").write_text("data\n")
    _no_local_repository(monkeypatch)
    for args in THROUGH_SERVER:
        code, _out, err = mk_cli(monkeypatch, capsys, *args)
        assert code == 0 or (code == 1 and ("not" in err or "no model" in err)) or (code == 4 and "may not admin" in err), \
            (args, code, err)
    assert not (remote / ".modelkeep").exists()


def _put(server: dict[str, str], who: str, key: str, data: bytes) -> httpx.Response:
    return httpx.put(f"{server['url']}/api/v1/store/objects/{key}", content=data,
                     headers={"Authorization": f"Bearer {server[who]}"}, timeout=10)


def test_the_store_checks_what_clients_write(server: dict[str, str]) -> None:
    pack = os.urandom(1000)
    pack_id = blake3(pack).hexdigest()
    wrong = "0" * 64
    assert _put(server, "carl", f"packs/{wrong[:2]}/{wrong}", pack).status_code == 422  # not its hash
    assert _put(server, "carl", f"index/{pack_id}", b"MKIDX1\n\x00").status_code == 422  # pack not stored
    assert _put(server, "carl", "config", b"{}").status_code == 422  # read-only
    assert _put(server, "carl", "gc/condemned", b"{}").status_code == 422  # the server's gc writes it, nobody else
    assert _put(server, "vera", f"packs/{pack_id[:2]}/{pack_id}", pack).status_code == 403  # a viewer
    assert _put(server, "carl", f"packs/{pack_id[:2]}/{pack_id}", pack).status_code == 201
    headers = {"Authorization": f"Bearer {server['vera']}", "Range": "bytes=10-19"}
    part = httpx.get(f"{server['url']}/api/v1/store/objects/packs/{pack_id[:2]}/{pack_id}", headers=headers, timeout=10)
    assert part.status_code == 206 and part.content == pack[10:20]


def test_login_keeps_the_token_for_the_user_only(server: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELKEEP_CONFIG_DIR", str(tmp_path / "config"))
    code, _, err = mk_cli(monkeypatch, capsys, "login", server["url"], "--token", "mk_wrong")
    assert code == 4 and not (tmp_path / "config" / "credentials.json").exists()
    code, _, err = mk_cli(monkeypatch, capsys, "login", server["url"], "--token", server["ada"])
    assert code == 0 and "as ada" in err
    saved = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    code, out, _ = mk_cli(monkeypatch, capsys, "whoami", "--json")  # no MODELKEEP_URL: the login is used
    assert json.loads(out)["user"] == "ada"
    code, _, err = mk_cli(monkeypatch, capsys, "logout")
    assert code == 0 and "logged out" in err and server["ada"] not in saved.read_text()


def test_datasets_through_the_server_send_only_new_chunks(remote: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    _no_local_repository(monkeypatch)
    folder = remote / "events"
    (folder / "day=1").mkdir(parents=True)
    (folder / "day=2").mkdir()
    (folder / "day=1" / "rows.csv").write_bytes(os.urandom(2_000_000))
    (folder / "day=2" / "rows.csv").write_bytes(os.urandom(1_000_000))
    code, out, err = mk_cli(monkeypatch, capsys, "data", "add", str(folder), "--name", "team-events",
                            "--partition-by", "day", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["ref"] == "team-events@1" and sorted(first["partitions"]) == ["day=1", "day=2"]
    assert first["bytes_new"] >= 3_000_000

    with (folder / "day=2" / "rows.csv").open("ab") as handle:  # a 1 % append
        handle.write(os.urandom(30_000))
    sent: list[int] = []
    from modelkeep.client import http as client_http

    original = client_http.Transport.send

    def counting(self: client_http.Transport, method: str, path: str, **kwargs: object) -> httpx.Response:
        if method == "PUT" and "/store/objects/packs/" in path:
            sent.append(len(kwargs["content"]))  # type: ignore[arg-type]
        return original(self, method, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(client_http.Transport, "send", counting)
    code, out, err = mk_cli(monkeypatch, capsys, "data", "add", str(folder), "--name", "team-events", "--json")
    assert code == 0, err
    second = json.loads(out)
    assert second["ref"] == "team-events@2"
    assert 0 < sum(sent) <= 1.1 * 30_000 + 300_000  # the new chunks (and the last, re-cut one), not the dataset

    code, out, err = mk_cli(monkeypatch, capsys, "data", "status", "team-events", "--json")
    assert code == 0 and json.loads(out)["clean"], err
    code, out, err = mk_cli(monkeypatch, capsys, "data", "ls", "team-events@2", "--json")
    assert sorted(f["path"] for f in json.loads(out)) == ["day=1/rows.csv", "day=2/rows.csv"]
    code, out, err = mk_cli(monkeypatch, capsys, "data", "checkout", "team-events@2", "--to", "copy")
    assert code == 0, err
    assert (remote / "copy" / "day=2" / "rows.csv").read_bytes() == (folder / "day=2" / "rows.csv").read_bytes()
    (remote / "part").mkdir()
    (remote / "part" / "rows.csv").write_text("late rows\n")
    code, out, err = mk_cli(monkeypatch, capsys, "data", "add", str(remote / "part"), "--name", "team-events",
                            "--partition", "day=3", "--json")
    assert code == 0 and sorted(json.loads(out)["partitions"]) == ["day=1", "day=2", "day=3"], err
    code, out, err = mk_cli(monkeypatch, capsys, "data", "diff", "team-events@2", "team-events@3", "--json")
    assert code == 0 and [row["path"] for row in json.loads(out)["added"]] == ["day=3/rows.csv"], err

    import fsspec  # mk:// through the server: byte ranges of a version, read from the store it names

    fs = fsspec.filesystem("mk", skip_instance_cache=True)
    whole = (folder / "day=2" / "rows.csv").read_bytes()
    try:
        assert fs.cat_file("mk://team-events@2/day=2/rows.csv", start=500_000, end=700_000) == whole[500_000:700_000]
        chunks = fs.connection.datasets._chunk_cache  # the store is remote: chunks read are kept locally
        assert chunks is not None and chunks.misses >= 1 and chunks.hits == 0  # (random bytes: 1 to 4 chunks)
        read = chunks.misses
        assert fs.cat_file("mk://team-events@2/day=2/rows.csv", start=500_000, end=700_000) == whole[500_000:700_000]
        assert (chunks.misses, chunks.hits) == (read, read)  # read again: from the local chunk cache alone
        with fs.open("mk://team-events/day=3/rows.csv") as handle:  # the latest, @3
            assert handle.read() == b"late rows\n"
    finally:
        fs.connection.close()
    with mk.step("clean", inputs=["team-events@3"]) as step:  # a pipeline step through the server
        step.log_dataset(remote / "part", "team-clean")
    assert mk.lineage("team-clean@1")["nodes"]


def test_an_admin_manages_the_team_through_the_server(server: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELKEEP_URL", server["url"])
    monkeypatch.setenv("MODELKEEP_TOKEN", server["admin"])
    _no_local_repository(monkeypatch)
    assert mk_cli(monkeypatch, capsys, "user", "add", "team-dora", "--role", "viewer")[0] == 0
    code, out, err = mk_cli(monkeypatch, capsys, "token", "create", "team-dora", "--json")
    assert code == 0, err
    token = json.loads(out)
    assert mk_cli(monkeypatch, capsys, "role", "bind", "team-dora", "contributor", "--project", "team")[0] == 0
    (tmp_path / "gates.json").write_text(json.dumps({"min_metrics": {"auc": 0.9}}))
    code, _, err = mk_cli(monkeypatch, capsys, "protect", "team-gated", "staging", "--approvals", "1", "--gates", "gates.json")
    assert code == 0, err
    code, out, err = mk_cli(monkeypatch, capsys, "webhook", "add", "http://127.0.0.1:9/hook", "--events", "*", "--json")
    assert code == 0 and json.loads(out)["secret"], err
    hook = json.loads(out)["id"]
    code, out, err = mk_cli(monkeypatch, capsys, "webhook", "list", "--json")
    listed = {row["id"]: row for row in json.loads(out)}
    assert listed[hook]["url"] == "http://127.0.0.1:9/hook" and "secret" not in listed[hook], err
    code, _, err = mk_cli(monkeypatch, capsys, "webhook", "test", str(hook))
    assert code == 1 and "the test delivery failed: ConnectError" in err  # port 9: nobody answers there
    assert mk_cli(monkeypatch, capsys, "webhook", "remove", str(hook))[0] == 0
    assert hook not in {row["id"] for row in json.loads(mk_cli(monkeypatch, capsys, "webhook", "list", "--json")[1])}
    code, _, err = mk_cli(monkeypatch, capsys, "webhook", "remove", str(hook))
    assert code == 1 and f"webhook {hook} does not exist" in err
    monkeypatch.setenv("MODELKEEP_TOKEN", token["token"])
    code, out, _ = mk_cli(monkeypatch, capsys, "whoami", "--json")
    assert json.loads(out)["user"] == "team-dora"
    code, _, err = mk_cli(monkeypatch, capsys, "user", "add", "team-eve")
    assert code == 4 and "may not admin" in err  # checked by the service on the server
    monkeypatch.setenv("MODELKEEP_TOKEN", server["admin"])
    code, out, err = mk_cli(monkeypatch, capsys, "token", "create", "team-dora", "--name", "spare", "--json")
    spare = json.loads(out)  # never used before it is revoked: no cached answer to wait out (Access.CACHE_S)
    assert mk_cli(monkeypatch, capsys, "token", "revoke", str(spare["id"]))[0] == 0
    monkeypatch.setenv("MODELKEEP_TOKEN", spare["token"])
    assert mk_cli(monkeypatch, capsys, "whoami")[0] == 4


def test_an_admin_verifies_and_backs_up_the_servers_store_from_a_client(
        server: dict[str, str], remote: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _no_local_repository(monkeypatch)
    (remote / "model.bin").write_bytes(os.urandom(50_000))
    code, out, err = mk_cli(monkeypatch, capsys, "model", "register", "team-backup", "model.bin", "--json")
    assert code == 0, err
    monkeypatch.setenv("MODELKEEP_TOKEN", server["admin"])
    code, out, err = mk_cli(monkeypatch, capsys, "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] and json.loads(out)["checked"] > 0, err
    code, out, err = mk_cli(monkeypatch, capsys, "push", "backup", "--json")
    assert code == 0, err
    pushed = json.loads(out)
    assert pushed["remote"] == "backup" and pushed["objects"] > 0
    code, out, err = mk_cli(monkeypatch, capsys, "pull", "backup", "--json")
    assert code == 0 and json.loads(out)["objects"] == 0, err  # the server lacks nothing
    code, out, err = mk_cli(monkeypatch, capsys, "push", str(remote / "elsewhere"))
    assert code == 1 and "the server decides where it writes" in err and not (remote / "elsewhere").exists()
    code, out, err = mk_cli(monkeypatch, capsys, "audit", "log", "--user", "carl", "--json")
    assert code == 0 and "model.register" in {row["action"] for row in json.loads(out)}, err
    code, out, err = mk_cli(monkeypatch, capsys, "audit", "holder", "team-backup", "production", "--json")
    assert code == 0 and json.loads(out)["version"] is None, err
    code, out, err = mk_cli(monkeypatch, capsys, "webhook", "dispatch", "--json")
    assert code == 0 and isinstance(json.loads(out), dict), err


def test_an_imported_history_keeps_every_point_through_the_server(server: dict[str, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """``log_history`` (what ``mk import mlflow`` writes into a server): each point with its moment,
    two at one step included, in requests of at most 10,000 points."""
    from datetime import datetime

    from modelkeep.client import runs as remote_runs
    from modelkeep.client.connect import RemoteConnection
    from modelkeep.services.interface import RunCreate

    conn = RemoteConnection(server["url"], server["carl"])
    try:
        run_id = conn.runs.create(RunCreate(name="imported", project="team"))
        moments = [datetime(2026, 1, 1, 0, 0, s) for s in range(4)]
        points = [("loss", 0.5, 0, moments[0]), ("loss", 0.4, 1, moments[1]), ("loss", 0.3, 1, moments[2]),
                  ("acc", 0.9, 1, moments[3])]
        monkeypatch.setattr(remote_runs, "HISTORY_ROWS", 3)  # two requests
        conn.runs.log_history(run_id, points)
        view = conn.runs.get(run_id)
        assert view.metrics == {"acc": [(1, 0.9)], "loss": [(0, 0.5), (1, 0.4), (1, 0.3)]}
    finally:
        conn.close()
