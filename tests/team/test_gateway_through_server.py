"""``mk serve`` pointed at a server, not at a database (issue 12): the gateway reads its deployment
and model files from the server, has its callers' tokens checked there, and records its reports,
alerts, rollback and validation there, as the (least-privileged) user of its own token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from modelkeep.client.connect import RemoteConnection, connect
from modelkeep.errors import PermissionDenied
from modelkeep.examples import LinearClassifier
from modelkeep.gateway.app import create_gateway_app
from modelkeep.gateway.runtime import Gateway
from modelkeep.gateway.serve import PinnedVersions
from modelkeep.services.deploy.predictor import ModelLoader
from tests.deploy_helpers import CLASS, TRAIN, FakeTime, rows, send
from tests.live_server import free_port, wait_until_up
from tests.team.test_through_server import _no_local_repository

FAST = {"window_s": 1e6, "min_samples": 40, "failing_windows": 2}  # windows are closed by the test


@pytest.fixture(autouse=True)
def _faults_take_effect_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LinearClassifier, "CHECK_S", 0.0)


@pytest.fixture(scope="module")
def deployed(server: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two versions registered by carl, a canary deployment ``clf`` made by the admin, and a
    gateway user ``gw`` whose role grants reading models and running deployments, nothing else."""
    fault = tmp_path_factory.mktemp("fault") / "fault"
    carl = RemoteConnection(server["url"], server["carl"])
    refs = []
    for coef, fault_file in (([1.0, 0.5, 0.0], None), ([1.0, 0.45, 0.05], str(fault))):
        with carl.runs.start("train", project="team") as run:
            run.seed(0)
            version = run.log_model(LinearClassifier(coef, -1.0, fault_file), "clf", flavor="python",
                                    sample_input=TRAIN[:5], baseline=TRAIN, metrics={"accuracy": 0.95})
            refs.append(version.ref)
    carl.close()
    admin = RemoteConnection(server["url"], server["admin"])
    admin.admin.define_role("gateway", ["model.read", "deployment.read", "deployment.write"])
    admin.admin.create_user("gw")
    admin.admin.bind("gw", "gateway")
    token = admin.admin.create_token("gw")["token"]
    admin.deployments.deployment_create("clf", {
        "model": refs[0], "candidate": refs[1], "trusted": [CLASS], "rollout": {"steps": [25, 100], "bake_s": 1e6},
        "policy": FAST})
    admin.close()
    yield {**server, "gw": token, "fault": str(fault), "stable": refs[0], "candidate": refs[1]}


def test_a_gateway_serves_and_rolls_back_through_the_server(deployed: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELKEEP_URL", deployed["url"])
    monkeypatch.setenv("MODELKEEP_TOKEN", deployed["gw"])
    _no_local_repository(monkeypatch)
    connection = connect()
    support = connection.gateway()
    assert support.dispatch is None  # the server delivers webhook events itself
    loader = ModelLoader(PinnedVersions(support.control, "clf"), connection.store, connection.model_cache, trusted=[CLASS])
    gw = Gateway(support.control, loader, "clf", gateway_id="edge-1", timer=FakeTime().now)  # load cannot sway it
    gw.start(control=False)
    client = TestClient(create_gateway_app(gw, support.tokens))

    body = {"inputs": [[0.1, 0.2, 0.3]]}
    assert client.post("/predict", json=body).status_code == 401
    refused = client.post("/predict", json=body, headers={"Authorization": f"Bearer {deployed['vera']}"})
    assert refused.status_code == 403 and "deployment.invoke" in refused.json()["message"]  # a viewer
    served = client.post("/predict", json=body, headers={"Authorization": f"Bearer {deployed['dep']}"})
    assert served.status_code == 200 and served.headers["x-modelkeep-version"] in (deployed["stable"], deployed["candidate"])

    answers = send(gw, rows(400))
    assert {a["arm"] for a in answers} == {"canary", "stable"}
    assert gw.tick(force_window=True)["verdict"] == "pass"
    Path(deployed["fault"]).write_text("fail")
    decisions = []
    for seed in (2, 3, 4):
        send(gw, rows(400, seed=seed))
        decisions.append(gw.tick(force_window=True)["decision"])
    assert decisions[:2] == ["none", "rollback"]
    assert gw.readiness()["traffic"] == {"canary": 0.0, "stable": 100.0}
    gw.stop()

    admin = RemoteConnection(deployed["url"], deployed["admin"])
    last = admin.deployments.deployment_history("clf")[0]
    assert (last["action"], last["status"], last["actor"]) == ("rollback", "rolled_back", "gw")
    assert last["evidence"]["attribution"]["blamed"] == ["canary"]
    assert last["validation"]["ok"] and last["validation"]["smoke"]["requests"] == 10
    status = admin.deployments.deployment_status("clf")
    assert [g["gateway"] for g in status["gateways"]] == ["edge-1"]  # its report, stored by the server
    audited = {(e["action"], e["actor"]) for e in admin.audit.log(limit=500)}
    assert {("deployment.alert", "gw"), ("deployment.rollback", "gw"), ("deployment.validate", "gw")} <= audited
    admin.close()
    connection.close()
    assert not (tmp_path / ".modelkeep").exists()


def test_the_gateway_user_may_not_do_more_than_its_role(deployed: dict[str, str]) -> None:
    dep = RemoteConnection(deployed["url"], deployed["dep"])  # a deployer reads the versions a deployment pins
    assert dep.gateway().control.pinned_version("clf", deployed["candidate"]).ref == deployed["candidate"]
    with pytest.raises(PermissionDenied, match="not an approved version"):  # and approved ones, no others
        dep.registry.get(deployed["candidate"])
    dep.close()
    gw = RemoteConnection(deployed["url"], deployed["gw"])
    with pytest.raises(PermissionDenied, match="gw may not alias.set:production"):
        gw.registry.set_alias(deployed["stable"], "production")
    viewer = RemoteConnection(deployed["url"], deployed["vera"])
    with pytest.raises(PermissionDenied, match="vera may not deployment.write"):
        viewer.gateway().control.report("clf", "rogue", 1, {"verdict": "pass"})
    viewer.close()
    gw.close()


def test_replicas_pool_their_windows_through_the_server(deployed: dict[str, str]) -> None:
    from modelkeep.services.deploy.windows import WindowSummary

    gw = RemoteConnection(deployed["url"], deployed["gw"])
    control = gw.gateway().control
    revision = control.revision("clf")
    mine = WindowSummary("canary", deployed["candidate"], n=3, errors=1, latencies_ms=[1.5, 2.0, 9.0],
                         predictions=[0, 1, 1], rows=[[0.1, 0.2, 0.3]] * 3, labeled=2, correct=1,
                         business={"conversion": [1.0]})
    control.share_window("clf", revision, 900, "edge-1", {"canary": mine})
    control.share_window("clf", revision, 900, "edge-2", {"canary": WindowSummary("canary", deployed["candidate"], n=4)})
    pooled = control.pooled_window("clf", revision, 900)
    assert set(pooled) == {"edge-1", "edge-2"} and pooled["edge-1"]["canary"] == mine
    assert control.pooled_window("clf", revision, 899) == {}
    viewer = RemoteConnection(deployed["url"], deployed["vera"])
    with pytest.raises(PermissionDenied, match="vera may not deployment.write"):
        viewer.gateway().control.share_window("clf", revision, 900, "rogue", {"canary": mine})
    viewer.close()
    gw.close()


def test_mk_serve_runs_as_a_process_against_the_server(deployed: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, "MODELKEEP_URL": deployed["url"], "MODELKEEP_TOKEN": deployed["gw"],
           "MODELKEEP_CACHE": str(tmp_path / "cache")}
    env.pop("MODELKEEP_HOME", None)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "modelkeep.cli.main", "serve", "clf", "--port", str(port),
                                 "--gateway-id", "edge-2", "--trust", CLASS], cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until_up(f"{url}/v2/health/ready", proc), log.read_text()
        answer = httpx.post(f"{url}/predict", json={"inputs": [[0.1, 0.2, 0.3]]},
                            headers={"Authorization": f"Bearer {deployed['dep']}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        # stable, or the canary if this worker's fixture has not seen the rollback test (xdist splits modules)
        assert answer.headers["x-modelkeep-version"] in (deployed["stable"], deployed["candidate"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert not (tmp_path / ".modelkeep").exists()


def test_a_gateway_whose_token_may_not_read_model_files_stops_at_once_and_says_why(deployed: dict[str, str],
                                                                                  tmp_path: Path) -> None:
    env = {**os.environ, "MODELKEEP_URL": deployed["url"], "MODELKEEP_TOKEN": deployed["dep"],
           "MODELKEEP_CACHE": str(tmp_path / "cache")}
    env.pop("MODELKEEP_HOME", None)
    done = subprocess.run([sys.executable, "-m", "modelkeep.cli.main", "serve", "clf", "--port", str(free_port()),
                           "--trust", CLASS], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 4, done.stderr
    assert "dep may not model.read" in done.stderr and "HTTP Request" not in done.stderr  # no httpx chatter
