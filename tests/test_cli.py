"""The command line as users and scripts see it: JSON on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelkeep.errors import InvalidInput

MK = [sys.executable, "-m", "modelkeep.cli.main"]


def mk(cwd: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELKEEP_USER": "cli-tester", "COLUMNS": "200"}
    env.pop("MODELKEEP_HOME", None)
    result = subprocess.run([*MK, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == code, (result.stdout, result.stderr)
    return result


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    mk(tmp_path, "init")
    (tmp_path / "model.bin").write_text("weights-1")
    return tmp_path


def test_register_show_search_diff_alias_json(repo: Path) -> None:
    first = json.loads(mk(repo, "model", "register", "fraud", "model.bin", "--param", "depth=3",
                          "--metric", "auc=0.90", "--tag", "team=risk", "--json").stdout)
    assert first["version"] == "1.0.0.0.0" and first["bump"] == "initial" and len(first["digest"]) == 64
    (repo / "model.bin").write_text("weights-2")
    second = json.loads(mk(repo, "model", "register", "fraud", "model.bin", "--param", "depth=5",
                           "--metric", "auc=0.93", "--metric", "auc[holdout:test]=0.91", "--json").stdout)
    assert second["bump"] == "patch" and second["reasons"] == ["hyperparameters changed: depth 3 → 5"]
    sub = repo / "deep" / "folder"
    sub.mkdir(parents=True)
    shown = json.loads(mk(sub, "model", "show", "fraud@latest", "--json").stdout)  # found walking up
    for key in ("name", "version", "bump", "reasons", "params", "metrics", "tags", "aliases", "data",
                "digest", "created_at", "created_by", "components"):
        assert key in shown
    assert shown["created_by"] == "cli-tester"
    assert shown["metrics"] == {"auc": 0.93, "auc[holdout:test]": 0.91}
    mk(repo, "model", "alias", "fraud@1.0.0", "production")
    assert json.loads(mk(repo, "model", "show", "fraud@production", "--json").stdout)["version"] == "1.0.0.0.0"
    page = json.loads(mk(repo, "model", "search", "metrics.auc > 0.91", "--json").stdout)
    assert [r["version"] for r in page["results"]] == ["1.0.1.0.0"] and page["next_cursor"] is None
    diff = json.loads(mk(repo, "model", "diff", "fraud@1.0.0", "fraud@1.0.1", "--json").stdout)
    for key in ("params", "metrics", "data", "signature", "artifacts", "environment"):
        assert key in diff
    auc = next(r for r in diff["metrics"] if r["key"] == "auc")
    assert auc["a"] == 0.90 and auc["b"] == 0.93 and abs(auc["delta"] - 0.03) < 1e-9
    assert diff["artifacts"]["changed"] == [{"path": "artifact", "size_a": 9, "size_b": 9}]
    listing = json.loads(mk(repo, "model", "list", "--json").stdout)
    assert listing[0]["name"] == "fraud" and listing[0]["aliases"] == {"production": "1.0.0.0.0"}
    table = mk(repo, "model", "diff", "fraud@1.0.0", "fraud@1.0.1").stdout
    assert "depth" in table and "+0.03" in table


def test_errors_are_one_line_with_exit_codes(repo: Path) -> None:
    result = mk(repo, "model", "show", "nope@latest", code=1)
    assert result.stderr.startswith("error: model 'nope' does not exist")
    assert "Traceback" not in result.stderr and result.stdout == ""
    bad = mk(repo, "model", "register", "m", "model.bin", "--version", "1.2.x", code=1)
    assert "MAJOR.MINOR.PATCH.DATA.EXPERIMENT" in bad.stderr and "Traceback" not in bad.stderr
    mk(repo, "model", "register", "m", "model.bin", "--version", "1.0.0")
    conflict = mk(repo, "model", "register", "m", "model.bin", "--version", "1.0.0", code=1)
    assert "already exists" in conflict.stderr
    filt = mk(repo, "model", "search", "metrics.auc >", code=1)
    assert "expected a value" in filt.stderr
    usage = mk(repo, "model", "register", code=2)
    assert "Missing argument" in usage.stderr or "Usage" in usage.stderr
    debug = mk(repo, "--debug", "model", "show", "nope", code=1)
    assert "Traceback" in debug.stderr


def test_whoami_of_a_local_repository_answers_from_its_configuration_as_the_connection_does(repo: Path) -> None:
    from modelkeep.services.connection import LocalConnection
    from modelkeep.services.workspace import open_workspace

    ws = open_workspace(repo)
    try:
        where = LocalConnection(ws).where
        assert json.loads(mk(repo, "whoami", "--json").stdout) == {"user": "cli-tester", "where": where}
        ws.access.create_user("admin", role="admin")  # a registry with users: the same answer
        assert json.loads(mk(repo, "whoami", "--json").stdout) == {"user": "cli-tester", "where": where}
        assert mk(repo, "whoami").stdout.strip() == f"cli-tester on {where}"
    finally:
        ws.close()


def test_outside_a_repository(tmp_path: Path) -> None:
    result = mk(tmp_path, "model", "list", code=1)
    assert "no modelkeep repository" in result.stderr and "mk init" in result.stderr


def test_modelkeep_home_and_config(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("elsewhere")
    env_home = {**os.environ, "MODELKEEP_HOME": str(repo)}
    out = subprocess.run([*MK, "model", "list", "--json"], cwd=other, env=env_home,
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    mk(repo, "config", "set", "user.name", "alice")
    assert mk(repo, "config", "get", "user.name").stdout.strip() == "alice"
    mk(repo, "config", "set", "BAD KEY", "x", code=1)


def test_delete_commands(repo: Path) -> None:
    mk(repo, "model", "register", "m", "model.bin")
    mk(repo, "model", "delete", "m", code=1)  # needs NAME@VERSION or --all
    mk(repo, "model", "delete", "m@1.0.0")
    mk(repo, "model", "register", "m", "model.bin")
    result = json.loads(mk(repo, "model", "delete", "m", "--all", "--yes", "--json").stdout)
    assert result == {"name": "m", "deleted_versions": 1}


def test_model_list_of_a_personal_registry_reads_it_with_sqlite3_and_answers_the_same(repo: Path) -> None:
    from modelkeep.meta.sqlite_fast import model_rows
    from modelkeep.services.workspace import open_workspace

    mk(repo, "model", "register", "fraud", "model.bin")
    (repo / "model.bin").write_text("weights-2")
    mk(repo, "model", "register", "fraud", "model.bin")
    mk(repo, "model", "register", "churn", "model.bin")
    mk(repo, "model", "alias", "fraud@1.0.0", "production")
    listed = json.loads(mk(repo, "model", "list", "--json").stdout)
    ws = open_workspace(repo)
    try:
        assert model_rows(ws.config.db_url) is not None  # the fast path applies here
        assert listed == [m.to_dict() for m in ws.registry.list_models()]  # and answers as the registry does
        assert [(m["name"], m["versions"], m["latest"]) for m in listed] == [("churn", 1, "1.0.0.0.0"),
                                                                             ("fraud", 2, "1.0.1.0.0")]
        ws.access.create_user("admin", role="admin")
        assert model_rows(ws.config.db_url) is None  # with users, reads are checked: the normal path
    finally:
        ws.close()
    refused = mk(repo, "model", "list", "--json", code=4)  # cli-tester is no user of this registry now
    assert "cli-tester" in refused.stderr


def test_runs_list_of_a_personal_registry_reads_it_with_sqlite3_and_answers_the_same(repo: Path) -> None:
    from modelkeep.meta.sqlite_fast import run_rows
    from modelkeep.services.interface import RunCreate
    from modelkeep.services.workspace import open_workspace

    ws = open_workspace(repo)
    try:
        for name, project in (("a", "default"), ("b", "fraud"), ("c", "fraud"), ("d", "default")):
            ws.runs.create(RunCreate(name=name, project=project))
        ws.runs.end(2, "failed", 3)
        assert run_rows(ws.config.db_url, None, 50) is not None  # the fast path applies here
        for project, limit in ((None, 50), ("fraud", 50), (None, 2), ("nope", 50)):
            words = ["runs", "list", "--json", "--limit", str(limit)] + (["--project", project] if project else [])
            listed = json.loads(mk(repo, *words).stdout)
            assert listed == ws.runs.list(project, limit)  # and answers as the service does
        assert [(r["name"], r["exit_code"]) for r in json.loads(mk(repo, "runs", "list", "--json").stdout)] == \
            [("d", None), ("c", None), ("b", 3), ("a", None)]
        ws.access.create_user("admin", role="admin")
        assert run_rows(ws.config.db_url, None, 50) is None  # with users, reads are checked: the normal path
    finally:
        ws.close()
    assert "cli-tester" in mk(repo, "runs", "list", "--json", code=4).stderr  # no user of this registry now


def add_rows_dataset(repo: Path) -> None:
    """Dataset ``rows@1`` (one small CSV) in ``repo``."""
    (repo / "data").mkdir()
    (repo / "data" / "rows.csv").write_text("a,b\n1,2\n")
    mk(repo, "data", "add", "data", "--name", "rows")


def test_runs_show_of_a_personal_registry_reads_it_with_sqlite3_and_answers_the_same(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelkeep.services.interface import ArtifactRef, RunCreate
    from modelkeep.services.runs.fast_reads import show_run
    from modelkeep.services.workspace import open_workspace

    add_rows_dataset(repo)
    monkeypatch.chdir(repo)
    ws = open_workspace(repo)
    try:
        bare = ws.runs.create(RunCreate(name="bare"))
        full = ws.runs.create(RunCreate(name="full", project="fraud", command=["python", "train.py"],
                                        environment={"python": "3.11"}, code={"commit": "abc"}))
        ws.runs.log_params(full, {"depth": 3, "lr": "0.1"})
        for step, (loss, auc) in enumerate(((0.9, 0.5), (0.5, 0.8), (0.2, 0.93))):
            ws.runs.log_metrics(full, {"loss": loss, "auc": auc}, step)
        ws.runs.set_tags(full, {"team": "risk"})
        ws.runs.use_dataset(full, "rows@1")
        ws.runs.set_seeds(full, {"numpy": 7})
        ws.runs.add_warning(full, "dirty working tree")
        made = [ws.registry.register("fraud", repo / "model.bin", params={"depth": 3}) for _ in range(2)]
        for version in made:
            ws.runs.link_output(full, version.id)
        ws.runs.log_artifact(full, "model", ArtifactRef(kind=made[0].artifact_kind, digest=made[0].digest))
        ws.runs.end(full, "finished", 0)
        for run_id in (bare, full):
            fast = show_run(run_id)
            assert fast is not None, run_id  # the fast path applies here
            expected = json.loads(json.dumps(ws.runs.get(run_id).to_dict()))
            assert json.loads(json.dumps(fast.to_dict())) == expected, run_id  # and answers as the service does
            assert json.loads(mk(repo, "runs", "show", str(run_id), "--json").stdout) == expected, run_id
        shown = json.loads(mk(repo, "runs", "show", str(full), "--json").stdout)
        assert shown["metrics"]["auc"] == [{"step": 0, "value": 0.5}, {"step": 1, "value": 0.8}, {"step": 2, "value": 0.93}]
        assert shown["models"] == [v.ref for v in made] and shown["inputs"] == ["rows@1"] and shown["exit_code"] == 0
        assert show_run(99) is None
        assert "run 99 does not exist" in mk(repo, "runs", "show", "99", code=1).stderr  # said by the normal path
        ws.access.create_user("admin", role="admin")
        assert show_run(full) is None  # with users, reads are checked: the normal path
    finally:
        ws.close()


def test_deploy_list_status_and_history_of_a_personal_registry_read_it_with_sqlite3_and_answer_the_same(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.meta.sqlite_fast import deployment_rows
    from modelkeep.services.deploy.fast_reads import deployment_history, deployment_status
    from modelkeep.services.deploy.spec import Monitoring, Policy, Sticky
    from modelkeep.services.deploy.views import MONITORING_FIELDS, POLICY_FIELDS, STICKY_FIELDS
    from modelkeep.services.workspace import open_workspace

    mk(repo, "model", "register", "m", "model.bin")
    (repo / "model.bin").write_text("weights-2")
    mk(repo, "model", "register", "m", "model.bin")
    ws = open_workspace(repo)
    try:
        plan = ws.deployments.plan
        ws.deployments.create("single", plan("single", "m@1.0.0"))
        ws.deployments.create("canary", plan("canary", "m@1.0.0", candidate="m@1.0.1", shadows=[("m@1.0.1", 0.25)],
                                             rollout={"steps": [10, 100], "bake_s": 5}))
        ws.deployments.advance("canary", expected_revision=1)
        assert deployment_rows(ws.config.db_url) is not None  # the fast path applies here
        listed = json.loads(mk(repo, "deploy", "list", "--json").stdout)
        assert listed == json.loads(json.dumps(ws.deployments.list()))  # and answers as the service does
        assert [(d["name"], d["revision"], d["rollout"] and d["rollout"]["step"]) for d in listed] == \
            [("canary", 2, 1), ("single", 1, None)]
        assert [s["fraction"] for s in listed[0]["shadows"]] == [0.25]
        assert "rollout step 2/2" in mk(repo, "deploy", "list").stdout
        ws.deployments.report("canary", "gw-b", 2, {"requests": 12, "attribution": {"stable": "ok"}})
        ws.deployments.report("canary", "gw-a", 1, {"requests": 3})
        ws.deployments.update("single", lambda spec: spec.model_copy(update={"contract": {"inputs": ["x"]}}),
                              reason="a contract", allow_contract_change=True)
        monkeypatch.chdir(repo)
        for name in ("canary", "single"):
            status, history = deployment_status(name), deployment_history(name)
            assert status is not None and history is not None, name  # the fast path applies here
            expected = json.loads(json.dumps(ws.deployments.status(name)))
            assert status == expected and json.loads(mk(repo, "deploy", "status", name, "--json").stdout) == expected
            expected_history = json.loads(json.dumps(ws.deployments.history(name)))
            assert history == expected_history, name
            assert json.loads(mk(repo, "deploy", "history", name, "--json").stdout) == expected_history
        canary = deployment_status("canary")
        assert canary is not None and [g["gateway"] for g in canary["gateways"]] == ["gw-a", "gw-b"]
        assert canary["gateways"][1]["attribution"] == {"stable": "ok"}
        # the sections a status shows whole are named in views.py, in the models' order: a field added to a
        # model and not there would decline every fast read and break the service's status
        models = (tuple(Policy.model_fields), tuple(Monitoring.model_fields), tuple(Sticky.model_fields))
        assert models == (POLICY_FIELDS, MONITORING_FIELDS, STICKY_FIELDS)
        assert deployment_status("nope") is None and deployment_history("nope") is None  # the normal path says so
        assert "deployment 'nope' does not exist" in mk(repo, "deploy", "status", "nope", code=1).stderr
        ws.access.create_user("admin", role="admin")
        assert deployment_rows(ws.config.db_url) is None  # with users, reads are checked: the normal path
        assert deployment_status("canary") is None and deployment_history("canary") is None
    finally:
        ws.close()
    assert "cli-tester" in mk(repo, "deploy", "list", "--json", code=4).stderr  # no user of this registry now


def test_audit_log_of_a_personal_registry_reads_it_with_sqlite3_and_answers_the_same(repo: Path) -> None:
    from modelkeep.meta.sqlite_fast import audit_rows
    from modelkeep.services.connection import LocalAudit
    from modelkeep.services.workspace import open_workspace

    for name in ("fraud", "fraudx"):  # 'fraud_' as a bare LIKE pattern would match fraudx's entries
        mk(repo, "model", "register", name, "model.bin")
    mk(repo, "model", "alias", "fraud@1.0.0", "production")
    ws = open_workspace(repo)
    try:
        assert audit_rows(ws.config.db_url, None, None, None, 200) is not None  # the fast path applies here
        service = LocalAudit(ws)
        for model, user, action, limit in ((None, None, None, 200), ("fraud", None, None, 200), ("a%b", None, None, 200),
                                           ("fraudx", None, None, 200),
                                           (None, "cli-tester", "alias.*", 200), (None, "nobody", None, 200),
                                           (None, None, "model.*", 2), ("fraud_", None, None, 200)):
            words = ["audit", "log", "--json", "--limit", str(limit)] + (["--model", model] if model else []) + \
                (["--user", user] if user else []) + (["--action", action] if action else [])
            assert json.loads(mk(repo, *words).stdout) == service.log(model=model, user=user, action=action, limit=limit)
        fraud = json.loads(mk(repo, "audit", "log", "--json", "--model", "fraud").stdout)
        assert {e["target"].split("@")[0] for e in fraud} == {"model:fraud"}
        assert [e["action"] for e in fraud] == ["alias.set", "model.register", "model.create"]  # made by its first version
        assert json.loads(mk(repo, "audit", "log", "--json", "--model", "fraud_").stdout) == []
        ws.access.create_user("admin", role="admin")
        assert audit_rows(ws.config.db_url, None, None, None, 200) is None  # with users, reads are checked
    finally:
        ws.close()


def test_lineage_of_a_personal_registry_reads_it_with_sqlite3_and_answers_the_same(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelkeep.services.connection import LocalConnection
    from modelkeep.services.interface import RunCreate
    from modelkeep.services.runs.fast_reads import lineage
    from modelkeep.services.workspace import open_workspace

    add_rows_dataset(repo)
    mk(repo, "model", "register", "fraud", "model.bin", "--data", "rows@1")
    mk(repo, "model", "alias", "fraud@1.0.0", "production")
    (repo / "model.bin").write_text("weights-2")
    mk(repo, "model", "register", "fraud", "model.bin", "--data", "rows@1", "--param", "depth=4")
    mk(repo, "model", "register", "pair", "--composite", "fraud@1.0.1")
    monkeypatch.chdir(repo)
    ws = open_workspace(repo)
    try:
        run = ws.runs.create(RunCreate(name="train"))
        ws.runs.use_dataset(run, "rows@1")
        ws.runs.link_output(run, ws.registry.get("fraud@1.0.1").id)
        service = LocalConnection(ws).lineage
        asked = [("fraud@1.0.1", {}), ("fraud@production", {"parents": True}), ("model:pair@latest", {}),
                 ("rows@1", {"downstream": True}), ("dataset:rows", {"downstream": True, "depth": 1}),
                 ("rows@latest", {"downstream": True, "parents": True}), (f"run:{run}", {"downstream": True}),
                 (f"run:{run}", {})]
        for ref, options in asked:
            fast = lineage(ref, **options)
            assert fast is not None, ref  # the fast path applies here
            expected = json.loads(json.dumps(service.lineage(ref, **options)))
            assert json.loads(json.dumps(fast)) == expected, (ref, options)  # and answers as the service does
            words = ["lineage", ref, "--json"] + [f"--{k}" for k, v in options.items() if v is True] + \
                (["--depth", str(options["depth"])] if "depth" in options else [])
            assert json.loads(mk(repo, *words).stdout) == expected, (ref, options)
        down = lineage("rows@1", downstream=True)
        assert down is not None and down["model_versions"] == ["fraud@1.0.0.0.0", "fraud@1.0.1.0.0", "pair@1.0.0.0.0"]
        assert down["aliases"] == ["fraud@production"] and down["runs"] == [str(run)]
        # what it does not find, or finds ambiguous, the normal path says
        mk(repo, "model", "register", "rows", "model.bin")
        for ref in ("rows@1", "nobody@1", "run:99", "fraud@9.9.9", "dataset:rows@abcdef"):
            assert lineage(ref) is None, ref
        assert "both a model and a dataset" in mk(repo, "lineage", "rows@1", code=1).stderr
        assert "run 99 does not exist" in mk(repo, "lineage", "run:99", code=1).stderr
        ws.access.create_user("admin", role="admin")
        assert lineage("fraud@1.0.1") is None  # with users, reads are checked: the normal path
    finally:
        ws.close()


def test_model_show_and_diff_of_a_personal_registry_read_it_with_sqlite3_and_answer_the_same(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelkeep.services.models.fast_reads import diff, show_version
    from modelkeep.services.workspace import open_workspace

    add_rows_dataset(repo)
    mk(repo, "model", "register", "fraud", "model.bin", "--param", "depth=3", "--metric", "auc=0.9",
       "--metric", "auc[holdout:test]=0.91", "--tag", "team=risk", "--data", "rows@1")
    (repo / "model.bin").write_text("weights-2")
    mk(repo, "model", "register", "fraud", "model.bin", "--param", "depth=5")
    mk(repo, "model", "register", "churn", "model.bin")
    mk(repo, "model", "register", "pair", "--composite", "fraud@1.0.1", "--composite", "churn@1.0.0")
    mk(repo, "model", "alias", "fraud@1.0.0", "production")
    weights = repo / "weights"
    weights.mkdir()
    for name, text in (("a.bin", "a-1"), ("b.bin", "b-1"), ("same.bin", "same")):
        (weights / name).write_text(text)
    mk(repo, "model", "register", "tree", "weights")
    (weights / "a.bin").write_text("a-2")
    (weights / "b.bin").unlink()
    (weights / "c.bin").write_text("c-1")
    mk(repo, "model", "register", "tree", "weights")
    monkeypatch.chdir(repo)
    refs = ["fraud", "fraud@latest", "fraud@production", "fraud@1.0.0", "fraud@1.0.*", "fraud@^1.0", "pair@latest"]
    ws = open_workspace(repo)
    try:
        for ref in refs:
            fast = show_version(ref)
            assert fast is not None, ref  # the fast path applies here
            expected = ws.registry.get(ref).to_dict()
            assert fast.to_dict() == expected, ref  # and answers as the registry does
            assert json.loads(mk(repo, "model", "show", ref, "--json").stdout) == expected, ref
        assert show_version("fraud@9.9.9") is None and show_version("nobody@latest") is None
        pairs = [("fraud@1.0.0", "fraud@1.0.1"), ("fraud@production", "pair@latest"), ("tree@1.0.0", "tree@latest"),
                 ("tree@latest", "fraud@1.0.0")]
        for a, b in pairs:
            fast_diff = diff(a, b)
            assert fast_diff is not None, (a, b)
            expected_diff = json.loads(json.dumps(ws.registry.diff(a, b)))
            assert json.loads(json.dumps(fast_diff)) == expected_diff, (a, b)
            assert json.loads(mk(repo, "model", "diff", a, b, "--json").stdout) == expected_diff, (a, b)
        tree = diff("tree@1.0.0", "tree@latest")
        assert tree is not None
        assert [[f["path"] for f in tree["artifacts"][side]] for side in ("added", "removed", "changed")] == \
            [["c.bin"], ["b.bin"], ["a.bin"]]
        assert diff("fraud@1.0.0", "fraud@9.9.9") is None and diff("nobody@1", "fraud@1.0.0") is None
        assert "no version of fraud matches" in mk(repo, "model", "diff", "churn@1.0.0", "fraud@9.9.9", code=1).stderr
        ws.access.create_user("admin", role="admin")
        assert show_version("fraud@latest") is None  # with users, reads are checked: the normal path
        assert diff("fraud@1.0.0", "fraud@1.0.1") is None
    finally:
        ws.close()
    assert "no version of fraud matches" in mk(repo, "model", "show", "fraud@9.9.9", code=1).stderr  # said by the normal path


def test_data_log_ls_diff_and_cat_of_a_personal_registry_read_it_with_sqlite3_and_answer_the_same(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelkeep.services.data.dataset_diff import diff_dataset_versions
    from modelkeep.services.data.fast_reads import dataset_cat, dataset_diff, dataset_files, dataset_log
    from modelkeep.services.workspace import open_workspace

    for day, rows in (("2024-01-01", "1,2\n"), ("2024-01-02", "3,4\n")):
        (repo / "events" / f"day={day}").mkdir(parents=True)
        (repo / "events" / f"day={day}" / "part.csv").write_text("a,b\n" + rows)
    mk(repo, "data", "add", "events", "--name", "events", "--partition-by", "day", "-m", "two days")
    (repo / "events" / "day=2024-01-02" / "part.csv").write_text("a,b\n5,6\n")
    mk(repo, "data", "add", "events/day=2024-01-02", "--name", "events", "--partition", "day=2024-01-02")
    (repo / "one.csv").write_text("x\n1\n")
    mk(repo, "data", "add", "one.csv", "--name", "single")
    monkeypatch.chdir(repo)
    ws = open_workspace(repo)
    try:
        for name in ("events", "single"):
            fast = dataset_log(name)
            assert fast is not None, name  # the fast path applies here
            expected = [v.to_dict() for v in ws.datasets.log(name)]
            assert [v.to_dict() for v in fast] == expected, name  # and answers as the service does
            assert json.loads(mk(repo, "data", "log", name, "--json").stdout) == expected, name
        assert len(expected) == 1 and len(dataset_log("events") or []) == 2 and (dataset_log("events") or [])[0].partitions
        assert dataset_log("nothing") is None
        for ref in ("events", "events@latest", "events@1", "events@2", "single", "single@1"):
            files = dataset_files(ref)
            assert files is not None and files == ws.datasets.files(ref), ref
            listed = [{"path": p, "size": e.size, "digest": e.id} for p, e in files.items()]
            assert json.loads(mk(repo, "data", "ls", ref, "--json").stdout) == listed, ref
        assert sorted(dataset_files("events@1") or {}) == ["day=2024-01-01/part.csv", "day=2024-01-02/part.csv"]
        for ref in ("events@3", "nothing@1", f"events@{ws.datasets.get('events@1').digest[:8]}"):
            assert dataset_files(ref) is None, ref  # the normal path answers (and says what is wrong)
        assert "has no version 3" in mk(repo, "data", "ls", "events@3", code=1).stderr
        for a, b in (("events@1", "events@2"), ("events@2", "events@1"), ("events@1", "events"), ("single@1", "single")):
            diff = dataset_diff(a, b)
            assert diff is not None and diff == diff_dataset_versions(ws.datasets, a, b), (a, b)
            assert json.loads(mk(repo, "data", "diff", a, b, "--json").stdout) == diff, (a, b)
        assert dataset_diff("events@1", "events@2")["rows"]["day=2024-01-02/part.csv"]["added"] == 1  # type: ignore[index]
        assert dataset_diff("events@1", "events@9") is None and dataset_diff("events@1", "single@1") is not None
        for ref, file in (("events@1", "day=2024-01-02/part.csv"), ("events", "/day=2024-01-02/part.csv"),
                          ("single", None), ("single@1", "one.csv")):
            contents = dataset_cat(ref, file)
            assert contents is not None, (ref, file)
            expected_bytes = b"".join(ws.datasets.cat(ref, file))
            assert b"".join(contents) == expected_bytes
            assert expected_bytes.startswith(b"x\n" if ref.startswith("single") else b"a,b\n")
            assert mk(repo, "data", "cat", ref, *([file] if file else [])).stdout == expected_bytes.decode()
        assert dataset_cat("events@9", None) is None  # the normal path says what is missing
        with pytest.raises(InvalidInput, match="has 2 files; name one"):
            dataset_cat("events", None)
        assert "has no file 'nope.csv'" in mk(repo, "data", "cat", "events@1", "nope.csv", code=1).stderr
        ws.access.create_user("admin", role="admin")
        assert dataset_log("events") is None and dataset_files("events") is None  # with users, reads are checked
        assert dataset_diff("events@1", "events@2") is None and dataset_cat("single", None) is None
    finally:
        ws.close()


@pytest.mark.parametrize("words", [["model", "list", "--help"], ["--debug", "model", "show", "--help"], ["push", "--help"],
                                   ["deploy", "list", "--help"], ["model", "--help"], ["model", "lst"], ["model"]])
def test_a_command_line_builds_only_the_command_it_names_and_answers_as_the_whole_app(words: list[str]) -> None:
    import typer
    from typer.testing import CliRunner

    from modelkeep.cli.main import app
    from modelkeep.cli.narrow import narrowed

    whole, narrow = (CliRunner().invoke(candidate, words, prog_name="mk", env={"COLUMNS": "200"})
                     for candidate in (app, narrowed(app, words)))
    assert (narrow.exit_code, narrow.output) == (whole.exit_code, whole.output)
    built = typer.main.get_command(narrowed(app, words))
    named = [w for w in words if not w.startswith("-")]
    assert isinstance(built, typer.core.TyperGroup) and list(built.commands) == named[:1]
    group = built.commands[named[0]]
    if len(named) > 1 and named[1] in ("list", "show"):  # a group's command: only it, one level down too
        assert isinstance(group, typer.core.TyperGroup) and list(group.commands) == named[1:2]


COERCING = """
import json, sys
import typer.core
from typer.testing import CliRunner
from modelkeep.cli.coercion import defer_adapters
from modelkeep.cli.main import app
try:  # what defer_adapters replaces, and the path check it calls, where Typer has them
    from typer._param_types import coerce_cli_path
    hook = hasattr(typer.core, "build_runtime_param")
except ImportError:
    hook = False
installed = sys.argv[1] == "deferred" and defer_adapters()
answers = []
for words in json.loads(sys.argv[2]):
    done = CliRunner().invoke(app, words, prog_name="mk", env={"COLUMNS": "200"})
    answers.append([done.exit_code, done.output, "pydantic" in sys.modules])
print(json.dumps({"hook": hook, "installed": installed, "answers": answers}))
"""


def test_parameters_are_coerced_as_typer_does_without_pydantic_where_it_has_nothing_to_do(repo: Path) -> None:
    mk(repo, "model", "register", "fraud", "model.bin", "--metric", "auc=0.9")
    (repo / "table").mkdir()
    (repo / "table" / "a.csv").write_text("x\n1\n")
    mk(repo, "data", "add", "--name", "table", "table")
    (repo / "table" / "b.csv").write_text("y\n2\n")
    cases = [["model", "list", "--json"], ["data", "status", "table", "table", "--json"],  # neither needs pydantic
             ["model", "show", "fraud@latest", "--json"], ["model", "search", "name = 'fraud'", "--limit", "1", "--json"],
             ["model", "search", "--limit", "many"], ["model", "search", "--limit", "0"], ["server", "--workers", "0"],
             ["deploy", "list", "--json"], ["data", "status", "table", "no-such-folder", "--json"],
             ["runs", "list", "--limit", "5", "--json"], ["runs", "list", "--limit", "+5", "--json"],
             ["runs", "list", "--limit", "5_0", "--json"], ["runs", "show", "-1"], ["runs", "list", "--limit", "x1"]]
    env = {**os.environ, "MODELKEEP_USER": "cli-tester"}
    env.pop("MODELKEEP_HOME", None)

    def answers(how: str, cases: list[list[str]] = cases) -> dict:
        done = subprocess.run([sys.executable, "-c", COERCING, how, json.dumps(cases)], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    typer_own, deferred = answers("typer"), answers("deferred")
    # the deferral is installed exactly where Typer has the hook it replaces; where it has not, the
    # command line coerces as Typer does (only slower), and answers the same either way
    assert deferred["installed"] == deferred["hook"]
    ours, theirs = deferred["answers"], typer_own["answers"]
    assert [a[:2] for a in ours] == [a[:2] for a in theirs]
    codes = [a[0] for a in ours]
    assert codes[:4] == [0, 0, 0, 0] and codes[4] == 2 and "Invalid value" in ours[4][1] and codes[6] == 2, ours
    assert theirs[0][2] and ours[4][2]  # Typer's own loads pydantic for a list; a typed number goes to its adapter
    # deferred, a list with its defaults, and a path typed on the command line, never loaded pydantic
    assert not ours[1][2] if deferred["installed"] else ours[0][2]
    assert [row["path"] for row in json.loads(ours[1][1])["added"]] == ["b.csv"], ours[1]  # the path reached the command
    assert codes[8] != 0  # a missing one is refused, with the same exit code and output as Typer's own
    # a plain number typed on the command line is read as pydantic reads it, without it; any other
    # text goes to Typer's adapter (the same answers above)
    assert codes[9:11] == [0, 0] and codes[13] == 2, ours[9:]
    alone = answers("deferred", [["runs", "list", "--limit", "5", "--json"]])["answers"][0]
    assert alone[0] == 0 and (not alone[2] if deferred["installed"] else True), alone


@pytest.mark.parametrize("words", [[], ["--help"], ["--bogus", "model", "list"], ["modle", "list"]])
def test_a_command_line_that_names_no_command_first_gets_the_whole_app(words: list[str]) -> None:
    from modelkeep.cli.main import app
    from modelkeep.cli.narrow import narrowed

    assert narrowed(app, words) is app
