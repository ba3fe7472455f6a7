"""The REST server on loopback: tokens, the role matrix over HTTP, JSON errors, the SDK remotely."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import modelkeep as mk
from tests.live_server import MK


def call(server: dict[str, str], who: str | None, method: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server[who]}"} if who else {}
    return httpx.request(method, server["url"] + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_tokens_are_required(server: dict[str, str]) -> None:
    assert call(server, None, "GET", "/health").json()["status"] == "ok"
    assert call(server, None, "GET", "/api/v1/models").status_code == 401
    bad = httpx.get(server["url"] + "/api/v1/models", headers={"Authorization": "Bearer mk_00000000_nope"})
    assert bad.status_code == 401 and bad.json()["error"] == "Unauthenticated"
    assert call(server, None, "GET", "/openapi.json").status_code == 200


def test_role_matrix_over_http(server: dict[str, str]) -> None:
    created = call(server, "carl", "POST", "/api/v1/models/fraud/versions", json={"metrics": {"auc": 0.9}})
    assert created.status_code == 201
    call(server, "carl", "POST", "/api/v1/models/fraud/versions", json={"metrics": {"auc": 0.95}, "params": {"d": 2}})
    expectations = [
        # (who, method, path, body, status)
        ("vera", "GET", "/api/v1/models/fraud/versions/latest", None, 200),
        ("vera", "POST", "/api/v1/models/fraud/versions", {}, 403),
        ("vera", "PUT", "/api/v1/models/fraud/aliases/staging", {"version": "1.0.0"}, 403),
        ("carl", "PUT", "/api/v1/models/fraud/aliases/staging", {"version": "1.0.0"}, 200),
        ("admin", "PUT", "/api/v1/models/fraud/aliases/production", {"version": "1.0.0"}, 403),  # protected for all
        ("ada", "POST", "/api/v1/models/fraud/versions", {}, 403),
        ("vera", "GET", "/api/v1/audit", None, 200),
        ("carl", "GET", "/api/v1/search?filter=metrics.auc%20%3E%200.92", None, 200),
        ("carl", "GET", "/api/v1/models/nope/versions/latest", None, 404),
        ("carl", "GET", "/api/v1/search?filter=metrics.auc%20%3E", None, 422),
        ("carl", "POST", "/api/v1/models/fraud/versions", {"colour": "red"}, 422),
        ("carl", "POST", "/api/v1/models/fraud/versions", {"version": "1.0.0"}, 409),
    ]
    for who, method, path, body, status in expectations:
        response = call(server, who, method, path, json=body) if body is not None else call(server, who, method, path)
        assert response.status_code == status, (who, method, path, response.text)
        if status >= 400:
            assert set(response.json()) >= {"error", "message"}


def test_promotion_through_the_api(server: dict[str, str]) -> None:
    call(server, "carl", "POST", "/api/v1/models/churn/versions", json={"metrics": {"auc": 0.8}})
    request = call(server, "carl", "POST", "/api/v1/promotions",
                   json={"ref": "churn@1.0.0", "alias": "production", "justification": "first release"})
    assert request.status_code == 201 and request.json()["status"] == "pending"
    own = call(server, "carl", "POST", f"/api/v1/promotions/{request.json()['id']}/reviews", json={"decision": "approve"})
    assert own.status_code == 403
    approved = call(server, "ada", "POST", f"/api/v1/promotions/{request.json()['id']}/reviews",
                    json={"decision": "approve", "comment": "ok"})
    assert approved.status_code == 200 and approved.json()["status"] == "applied"
    holder = call(server, "vera", "GET", "/api/v1/models/churn/versions/production").json()
    assert holder["version"] == "1.0.0.0.0"
    entries = call(server, "vera", "GET", "/api/v1/audit?model=churn").json()
    assert {"promotion.request", "promotion.approve", "promotion.apply"} <= {e["action"] for e in entries}
    assert all(e["source"] == "127.0.0.1" for e in entries)
    assert call(server, "vera", "GET", "/api/v1/audit/verify").json()["ok"]


@pytest.fixture
def remote_sdk(server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from modelkeep import sdk

    monkeypatch.setenv("MODELKEEP_URL", server["url"])
    monkeypatch.setenv("MODELKEEP_TOKEN", server["carl"])
    yield
    if sdk._current is not None:
        sdk._current.close()
        sdk._current, sdk._current_key = None, None


def test_sdk_against_the_live_server(server: dict[str, str], remote_sdk: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELKEEP_URL", server["url"])
    monkeypatch.setenv("MODELKEEP_TOKEN", server["carl"])
    v = mk.register("remote-model", params={"lr": 0.1}, metrics={"auc": 0.7})
    v2 = mk.register("remote-model", params={"lr": 0.05}, metrics={"auc": 0.75})
    assert (v.version, v2.bump) == ("1.0.0.0.0", "patch")
    assert mk.get("remote-model@latest").metrics == {"auc": 0.75}
    mk.set_alias("remote-model@1.0.0", "staging")
    assert mk.get("remote-model@staging").version == "1.0.0.0.0"
    assert [r.ref for r in mk.search("name = 'remote-model' and metrics.auc > 0.72").results] == [v2.ref]
    assert mk.diff(v.ref, v2.ref)["params"][0]["status"] == "changed"
    with pytest.raises(mk.PermissionDenied, match="protected"):
        mk.set_alias("remote-model@1.0.1", "production")
    with pytest.raises(mk.NotFound):
        mk.get("missing@latest")
    assert "remote-model" in [m.name for m in mk.list_models()]
    assert mk.delete("remote-model@1.0.1").version == "1.0.1.0.0"
    assert [v.version for v in mk.list_versions("remote-model")] == ["1.0.0.0.0"]


def test_cli_against_the_server(server: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, "MODELKEEP_URL": server["url"], "MODELKEEP_TOKEN": server["carl"]}
    env.pop("MODELKEEP_HOME", None)

    def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*MK, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == code, done.stdout + done.stderr
        return done

    import json

    made = json.loads(cli("model", "register", "cli-model", "--param", "k=1", "--metric", "auc[test]=0.8", "--json").stdout)
    assert made["version"] == "1.0.0.0.0" and made["metrics"] == {"auc[test]": 0.8}
    cli("model", "register", "cli-model", "--param", "k=2", "--metric", "auc[test]=0.85")
    assert json.loads(cli("model", "show", "cli-model@latest", "--json").stdout)["bump"] == "patch"
    assert len(json.loads(cli("model", "search", "name = 'cli-model'", "--json").stdout)["results"]) == 2
    cli("model", "alias", "cli-model@1.0.0", "staging")
    assert "production" in cli("model", "alias", "cli-model@1.0.1", "production", code=4).stderr
    request_id = cli("promote", "cli-model@1.0.1", "--to", "production", "--justification", "better").stdout.split()[0]
    assert "may not promotion.approve" in cli("approve", request_id, code=4).stderr
    env["MODELKEEP_TOKEN"] = server["ada"]
    assert "applied" in cli("approve", request_id, "-m", "ok").stdout
    assert json.loads(cli("audit", "verify", "--json").stdout)["ok"]
    env["MODELKEEP_TOKEN"] = "mk_bad_token"
    assert "Unauthenticated" not in cli("model", "list", code=4).stderr  # one line, no traceback


@pytest.mark.long
def test_schemathesis_finds_no_server_error_and_no_schema_violation(server: dict[str, str]) -> None:
    st = Path(sys.executable).with_name("st")
    done = subprocess.run(
        [str(st), "run", f"{server['url']}/openapi.json", "-H", f"Authorization: Bearer {server['admin']}",
         # the coverage phase's boundary and malformed values of every parameter (~5,700 cases) and a
         # few random ones per operation; the stateful phase (~1,000 cases more, following links that
         # mostly lead to 404s here) cost ~15 s of the suite's longest test
         "--phases", "coverage,fuzzing", "--max-examples", "5", "--seed", "1",
         # revoking tokens with the admin's own token would lock the other tests of this server out
         "--exclude-path", "/api/v1/tokens/{token_id}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"],
        capture_output=True, text=True, timeout=300,
    )
    failures = done.stdout[done.stdout.find("FAILURES"):]
    assert done.returncode == 0, failures[:6000]


ENDPOINTS = [
    # (method, path, body, roles allowed) — every route of the API; "ok" means not 401/403.
    ("GET", "/api/v1/models", None, {"viewer", "contributor", "approver", "admin"}),
    ("GET", "/api/v1/models/matrix/versions", None, {"viewer", "contributor", "approver", "admin"}),
    ("GET", "/api/v1/models/matrix/versions/latest", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/v1/models/matrix/versions", {"params": {"r": 1}}, {"contributor", "admin"}),
    ("PUT", "/api/v1/models/matrix/aliases/staging", {"version": "1.0.0"}, {"contributor", "admin"}),
    ("DELETE", "/api/v1/models/matrix/aliases/staging", None, {"contributor", "admin"}),
    ("GET", "/api/v1/search?filter=name%20%3D%20%27matrix%27", None, {"viewer", "contributor", "approver", "admin"}),
    ("GET", "/api/v1/diff?a=matrix@1.0.0&b=matrix@latest", None, {"viewer", "contributor", "approver", "admin"}),
    ("GET", "/api/v1/lineage?ref=matrix@latest", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/v1/promotions", {"ref": "matrix@1.0.0", "alias": "production", "justification": "j"},
     {"contributor", "admin"}),
    ("GET", "/api/v1/promotions/1", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/v1/promotions/999/reviews", {"decision": "approve"}, {"approver", "admin"}),
    ("POST", "/api/v1/promotions/999/withdraw", None, {"contributor", "admin"}),
    ("POST", "/api/v1/models/matrix/aliases/production/rollback", None, {"approver", "admin"}),
    ("GET", "/api/v1/audit", None, {"viewer", "contributor", "approver", "admin"}),
    ("GET", "/api/v1/audit/verify", None, {"viewer", "contributor", "approver", "admin"}),
    ("DELETE", "/api/v1/models/matrix/versions/9.9.9", None, {"contributor", "admin"}),
    ("POST", "/api/v1/artifacts?filename=x.bin", None, {"contributor", "admin"}),
    ("GET", "/api/v1/models/matrix/versions/latest/artifact", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/v1/store/presign", {"keys": ["config"], "method": "GET"}, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/v1/store/presign", {"keys": ["index/" + "0" * 64], "method": "PUT"}, {"contributor", "admin"}),
    ("GET", "/api/v1/store/keys?prefix=index/", None, {"viewer", "contributor", "approver", "admin"}),
    ("GET", "/api/v1/deployments", None, {"viewer", "contributor", "approver", "admin", "deployer"}),
    # a deployer may deploy approved versions only (matrix@latest is not one)
    ("POST", "/api/v1/deployments/matrix-svc", {"model": "matrix@latest"}, {"admin"}),
    ("GET", "/api/v1/deployments/matrix-svc", None, {"viewer", "contributor", "approver", "admin", "deployer"}),
    ("GET", "/api/v1/deployments/matrix-svc/history", None, {"viewer", "contributor", "approver", "admin", "deployer"}),
    ("PATCH", "/api/v1/deployments/matrix-svc", {"policy": {"window_s": 5}}, {"admin", "deployer"}),
    ("POST", "/api/v1/deployments/matrix-svc/switch", None, {"admin", "deployer"}),
    ("POST", "/api/v1/deployments/matrix-svc/rollback", {"reason": "r"}, {"admin", "deployer"}),
    # issue 12: runs, datasets, the store protocol, admin, whoami and metrics
    ("GET", "/api/v1/runs", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/v1/runs", {"name": "matrix-run"}, {"contributor", "admin"}),
    ("GET", "/api/v1/datasets", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/v1/datasets/matrix-data/versions", {"root": {"kind": "blob", "id": "0" * 64, "size": 1}},
     {"contributor", "admin"}),
    ("GET", "/api/v1/store/info", None, {"viewer", "contributor", "approver", "admin"}),
    ("GET", "/api/v1/store/objects/config", None, {"viewer", "contributor", "approver", "admin"}),
    ("PUT", "/api/v1/store/objects/index/" + "0" * 64, None, {"contributor", "admin"}),
    ("GET", "/api/v1/whoami", None, {"viewer", "contributor", "approver", "admin", "deployer"}),
    ("GET", "/metrics", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/v1/users", {"name": "matrix-user"}, {"admin"}),
    ("PUT", "/api/v1/protections", {"model": "matrix", "alias": "gold"}, {"admin"}),
    ("GET", "/api/v1/webhooks/deliveries", None, {"admin"}),
    # issue 16: retention is an admin's; reading the policies is anyone's
    ("GET", "/api/v1/retention", None, {"viewer", "contributor", "approver", "admin"}),
    ("PUT", "/api/v1/retention/model/matrix", {"keep_last": 50}, {"admin"}),
    ("GET", "/api/v1/holds", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/v1/holds", {"target": "matrix@1.0.0", "reason": "matrix"}, {"admin"}),
    ("GET", "/api/v1/gc/plan", None, {"admin"}),
    ("POST", "/api/v1/gc", {"grace_s": 86400}, {"admin"}),
    ("POST", "/api/v1/gc/undelete", {"target": "matrix@9.9.9"}, {"admin"}),
    # issue 13: the MLflow API goes through the same checks
    ("GET", "/api/2.0/mlflow/registered-models/get?name=matrix", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/2.0/mlflow/registered-models/create", {"name": "matrix-ml"}, {"contributor", "admin"}),
    ("GET", "/api/2.0/mlflow/model-versions/search?filter=name%3D%27matrix%27", None,
     {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/2.0/mlflow/experiments/create", {"name": "matrix-exp"}, {"contributor", "admin"}),
    ("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0", None, {"viewer", "contributor", "approver", "admin"}),
    ("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": "0"}, {"contributor", "admin"}),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/matrix/x.bin", None, {"contributor", "admin"}),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts?path=0", None, {"viewer", "contributor", "approver", "admin"}),
]
ROLE_USERS = {"viewer": "vera", "contributor": "carl", "approver": "ada", "admin": "admin", "deployer": "dep"}


@pytest.mark.long
def test_every_endpoint_for_every_role(server: dict[str, str]) -> None:
    """Each route × each role: allowed roles never get 401/403, the others always get 403."""
    call(server, "admin", "POST", "/api/v1/models/matrix/versions", json={"params": {"r": 0}})
    call(server, "admin", "POST", "/api/v1/models/matrix/versions", json={"params": {"r": 2}})
    for method, path, body, allowed in ENDPOINTS:
        for role, user in ROLE_USERS.items():
            kwargs = {"json": body} if body is not None else {}
            status = call(server, user, method, path, **kwargs).status_code
            if role in allowed:
                assert status not in (401, 403), (role, method, path, status)
            else:
                assert status == 403, (role, method, path, status)
        assert call(server, None, method, path).status_code == 401


def test_deployment_tokens_read_approved_versions_only(server: dict[str, str]) -> None:
    call(server, "carl", "POST", "/api/v1/models/svc/versions", json={"metrics": {"auc": 0.9}})
    call(server, "carl", "POST", "/api/v1/models/svc/versions", json={"metrics": {"auc": 0.95}, "params": {"x": 1}})
    assert call(server, "dep", "GET", "/api/v1/models/svc/versions/1.0.1").status_code == 403
    request = call(server, "carl", "POST", "/api/v1/promotions",
                   json={"ref": "svc@1.0.1", "alias": "production", "justification": "release"}).json()
    call(server, "ada", "POST", f"/api/v1/promotions/{request['id']}/reviews", json={"decision": "approve"})
    assert call(server, "dep", "GET", "/api/v1/models/svc/versions/production").json()["version"] == "1.0.1.0.0"
    assert call(server, "dep", "GET", "/api/v1/models/svc/versions/1.0.0").status_code == 403
    assert call(server, "dep", "GET", "/api/v1/models").status_code == 403


def test_artifacts_stream_both_ways_and_reads_are_audited(server: dict[str, str], tmp_path: Path) -> None:
    from modelkeep.client import RemoteRegistry

    carl = RemoteRegistry(server["url"], server["carl"])
    payload = os.urandom(3_000_000) + b"tail"
    source = tmp_path / "weights.bin"
    source.write_bytes(payload)
    version = carl.register("streamed", source, params={"k": 1})
    assert version.artifact_kind == "file" and version.artifact_size == len(payload)
    dest = carl.download(f"streamed@{version.version}", tmp_path / "back.bin")
    assert dest.read_bytes() == payload
    with pytest.raises(mk.NotFound, match="upload it first"):
        carl.register("streamed", artifact={"kind": "file", "digest": "0" * 64})
    from modelkeep.client.governance import RemoteAudit

    audit = RemoteAudit(carl.transport).log(action="artifact.read")
    reads = [e for e in audit if e["target"] == f"model:{version.ref}"]
    assert reads and reads[0]["actor"] == "carl"
    carl.close()


def test_deployments_through_the_server_and_the_cli(server: dict[str, str], tmp_path: Path) -> None:
    signature = {"inputs": [{"name": "x", "type": "double"}], "outputs": [{"name": "y", "type": "long"}]}
    for metric in (0.9, 0.95):
        call(server, "carl", "POST", "/api/v1/models/routed/versions", json={"metrics": {"auc": metric},
                                                                             "signature": signature})
    request = call(server, "carl", "POST", "/api/v1/promotions",
                   json={"ref": "routed@1.0.1", "alias": "production", "justification": "release"}).json()
    call(server, "ada", "POST", f"/api/v1/promotions/{request['id']}/reviews", json={"decision": "approve"})
    refused = call(server, "dep", "POST", "/api/v1/deployments/routed-svc",
                   json={"model": "routed@production", "candidate": "routed@1.0.0"})
    assert refused.status_code == 403 and "not an approved version" in refused.json()["message"]
    created = call(server, "dep", "POST", "/api/v1/deployments/routed-svc", json={"model": "routed@production"})
    assert created.status_code == 201 and created.json()["arms"][0]["model"] == "routed@1.0.1.0.0"
    bad = call(server, "dep", "PATCH", "/api/v1/deployments/routed-svc", json={"weights": {"nope": 10}})
    assert bad.status_code == 422 and "no arm 'nope'" in bad.json()["message"]
    env = {**os.environ, "MODELKEEP_URL": server["url"], "MODELKEEP_TOKEN": server["dep"], "COLUMNS": "200"}
    env.pop("MODELKEEP_HOME", None)
    out = subprocess.run([*MK, "deploy", "update", "routed-svc", "--window", "3", "--reason", "faster windows",
                          "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["revision"] == 2
    status = json.loads(subprocess.run([*MK, "deploy", "status", "routed-svc", "--json"], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, check=True).stdout)
    assert status["policy"]["window_s"] == 3.0 and status["strategy"] == "single"
    history = json.loads(subprocess.run([*MK, "deploy", "history", "routed-svc", "--json"], cwd=tmp_path, env=env,
                                        capture_output=True, text=True, check=True).stdout)
    assert [(h["action"], h["actor"], h["reason"]) for h in history] == [("update", "dep", "faster windows"),
                                                                         ("create", "dep", "")]
    viewer = {**env, "MODELKEEP_TOKEN": server["vera"]}
    denied = subprocess.run([*MK, "deploy", "update", "routed-svc", "--window", "4"], cwd=tmp_path, env=viewer,
                            capture_output=True, text=True)
    assert denied.returncode == 4 and denied.stderr.startswith("error: vera may not deployment.write")
    events = [e["action"] for e in call(server, "admin", "GET", "/api/v1/audit?action=deployment.*").json()]
    assert events[:2] == ["deployment.update", "deployment.create"]


def test_the_server_freezes_what_start_up_made_out_of_the_collectors_scans(workspace: mk.Workspace,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A full collection walked the ~140,000 objects start-up leaves (the routes, the tables, the
    modules) in the middle of a request: a search's slowest answers took 180-200 ms, 95-120 after."""
    import gc

    from modelkeep.cli import server

    monkeypatch.chdir(workspace.config.root)
    gc.unfreeze()
    try:
        app = server.app()  # a worker process (uvicorn's factory): settled before it serves
        assert gc.get_freeze_count() > 10_000 and app.title
        gc.unfreeze()
        gc.disable()  # mk server: start-up runs without the collector (0.3 s of passes over what it makes) ...
        server.app(settle_now=False)
        assert gc.get_freeze_count() == 0 and not gc.isenabled()
        server.settle()  # ... and settles a second after it listens: collected, frozen, the collector on again
        assert gc.get_freeze_count() > 10_000 and gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_the_server_starts_without_what_only_deliveries_need() -> None:
    """httpx (150 ms with its command line's pygments) is imported by the first webhook delivery, not
    by a server starting: start-up to /health was 2.1 s, 1.8 with this and the collector settled late."""
    import subprocess
    import sys

    script = "import sys, modelkeep.cli.server, modelkeep.api.app; print([m for m in ('httpx', 'pygments') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
