"""The gateway in-process: every strategy, monitoring, the rollback policy, A/A, attribution,
bad input, feedback, Prometheus, and the HTTP interface (OIP v2 and JSON)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from modelkeep.errors import InvalidInput
from modelkeep.gateway.app import create_gateway_app
from modelkeep.meta.tables import Event
from modelkeep.services.connection import LocalTokens
from modelkeep.services.governance import audit
from tests.deploy_helpers import CLASS, SCALER, FakeTime, gateway, register, register_scaler, rows, send, truth

FAST = {"window_s": 1, "min_samples": 40, "failing_windows": 2}


@pytest.fixture(autouse=True)
def _faults_take_effect_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.examples import LinearClassifier

    monkeypatch.setattr(LinearClassifier, "CHECK_S", 0.0)


def events(ws, kind: str) -> list[dict]:
    with ws.db.reader() as session:
        return [e.payload for e in session.scalars(select(Event).where(Event.type == kind).order_by(Event.id))]


def _two_versions(ws, tmp_path: Path):
    """A stable version and a candidate whose faults are switched on through the returned file."""
    fault = tmp_path / "fault"
    register(ws, [1.0, 0.5, 0.0])
    register(ws, [1.0, 0.45, 0.05], fault=fault)
    return ws, fault


@pytest.fixture
def two_versions(workspace, tmp_path: Path):
    return _two_versions(workspace, tmp_path)


@pytest.fixture
def two_versions_any_db(any_workspace, tmp_path: Path):
    """The same, on SQLite and on PostgreSQL."""
    return _two_versions(any_workspace, tmp_path)


def canary(ws, tmp_path: Path, *, steps=(25, 100), bake: float = 1e6, policy=None, monitoring=None, **clocks):
    d = ws.deployments
    d.create("clf", d.plan("canary", "clf@1.0.0.0.0", candidate="clf@1.0.1.0.0", trusted=[CLASS],
                           rollout={"steps": list(steps), "bake_s": bake}, policy={**FAST, **(policy or {})},
                           monitoring=monitoring))
    return gateway(ws, "clf", tmp_path, **clocks)


def test_canary_rolls_back_a_failing_candidate_with_evidence_alert_and_validation(two_versions_any_db, tmp_path) -> None:
    ws, fault = two_versions_any_db
    gw = canary(ws, tmp_path)
    answers = send(gw, rows(400))
    assert {a["arm"] for a in answers} == {"canary", "stable"}
    assert gw.tick(force_window=True)["verdict"] == "pass"
    fault.write_text("fail")
    decisions = []
    for seed in (2, 3, 4):
        answers = send(gw, rows(400, seed=seed))
        decisions.append(gw.tick(force_window=True)["decision"])
    assert decisions[:2] == ["none", "rollback"]
    assert gw.readiness()["traffic"] == {"canary": 0.0, "stable": 100.0}
    assert {a["arm"] for a in send(gw, rows(200, seed=9))} == {"stable"}
    last = ws.deployments.history("clf")[0]
    assert last["action"] == "rollback" and last["status"] == "rolled_back"
    assert [c["check"] for c in last["evidence"]["checks"] if c["result"] == "fail"] == ["error_rate"]
    assert last["evidence"]["attribution"]["blamed"] == ["canary"]
    assert last["validation"]["ok"] and last["validation"]["smoke"]["requests"] == 10
    alert = events(ws, "alert")[0]["detail"]
    assert alert["scope"] == "version" and alert["blamed"] == [{"arm": "canary", "model": "clf@1.0.1.0.0"}]
    assert "error rate" in alert["message"] and alert["windows"]["canary"]["errors"] > 0
    assert events(ws, "rollback")[0]["target"] == "deployment:clf"
    assert audit.verify_chain(ws.db)["ok"]


def test_canary_advances_through_its_steps_and_promotes(two_versions, tmp_path) -> None:
    ws, _ = two_versions
    gw = canary(ws, tmp_path, steps=(10, 50, 100), bake=0)
    weights = []
    for seed in range(3):
        send(gw, rows(500, seed=seed))
        report = gw.tick(force_window=True)
        assert report["verdict"] == "pass", report["checks"]
        weights.append(gw.readiness()["traffic"])
    assert weights == [{"canary": 50.0, "stable": 50.0}, {"canary": 100.0, "stable": 0.0}, {"stable": 100.0}]
    status = ws.deployments.status("clf")
    assert status["status"] == "promoted" and status["arms"][0]["model"] == "clf@1.0.1.0.0"


def test_a_canary_without_enough_traffic_is_inconclusive_and_does_not_move(two_versions, tmp_path) -> None:
    ws, _ = two_versions
    gw = canary(ws, tmp_path, steps=(5, 100), bake=0)
    send(gw, rows(30))
    report = gw.tick(force_window=True)
    assert report["verdict"] == "inconclusive" and report["decision"] == "none"
    assert ws.deployments.status("clf")["revision"] == 1


def test_an_aa_run_never_rolls_back(workspace, tmp_path) -> None:
    register(workspace, [1.0, 0.5, 0.0])
    register(workspace, [1.0, 0.5, 0.0])  # the same model again: an A/A test
    d = workspace.deployments
    d.create("clf", d.plan("canary", "clf@1.0.0.0.0", candidate="clf@1.0.1.0.0", trusted=[CLASS],
                           rollout={"steps": [50, 100], "bake_s": 1e6},
                           policy={**FAST, "failing_windows": 1, "business": {"conversion": 0.05}, "min_labels": 30}))
    gw = gateway(workspace, "clf", tmp_path)
    verdicts = []
    for seed in range(8):
        data = rows(300, seed=100 + seed)
        answers = send(gw, data)
        noisy = [{"request_id": a["request_id"], "label": truth(r) if (i * 7919 + seed) % 20 else 1 - truth(r),
                  "metrics": {"conversion": float((i * 31 + seed) % 4 == 0)}}
                 for i, (a, r) in enumerate(zip(answers, data, strict=True))]
        assert gw.feedback(noisy)["accepted"] == 300
        report = gw.tick(force_window=True)
        verdicts.append(report["verdict"])
        assert report["attribution"]["scope"] == "none", report["attribution"]
    assert "fail" not in verdicts and verdicts.count("pass") >= 6
    assert workspace.deployments.status("clf")["revision"] == 1


def test_upstream_drift_on_every_version_alerts_upstream_and_keeps_the_candidate(two_versions, tmp_path) -> None:
    ws, _ = two_versions
    gw = canary(ws, tmp_path, steps=(50, 100))
    send(gw, rows(500))
    gw.tick(force_window=True)
    for seed in (5, 6, 7):
        send(gw, rows(500, shift=2.0, seed=seed))  # the feature pipeline upstream broke
        report = gw.tick(force_window=True)
        assert report["attribution"]["scope"] == "upstream" and report["decision"] == "none"
        assert report["verdict"] == "inconclusive"
    assert set(report["attribution"]["features"]) >= {"f0", "f1"}
    assert ws.deployments.status("clf")["status"] == "progressing"
    alert = events(ws, "alert")[-1]["detail"]
    assert alert["scope"] == "upstream" and alert["blamed"] == [] and alert["rollback"] is False
    assert "upstream data problem" in alert["message"]


def test_a_candidate_that_degrades_alone_is_blamed_and_rolled_back(two_versions, tmp_path) -> None:
    ws, fault = two_versions
    gw = canary(ws, tmp_path, steps=(50, 100))
    fault.write_text("degrade")  # answers flipped: its predictions drift from its own baseline
    decisions = []
    for seed in range(3):
        send(gw, rows(600, seed=seed))
        report = gw.tick(force_window=True)
        decisions.append(report["decision"])
        assert report["attribution"]["scope"] == "version" and report["attribution"]["blamed"] == ["canary"]
        if report["decision"] == "rollback":
            break
    assert decisions == ["none", "rollback"]
    failed = [c["check"] for c in ws.deployments.history("clf")[0]["evidence"]["checks"] if c["result"] == "fail"]
    assert "prediction_drift" in failed


def test_feedback_gives_accuracy_per_version_and_a_worse_candidate_rolls_back(two_versions, tmp_path) -> None:
    ws, fault = two_versions
    gw = canary(ws, tmp_path, steps=(50, 100), policy={"drift": False, "min_labels": 50})
    fault.write_text("degrade")
    decisions = []
    for seed in range(3):
        data = rows(400, seed=seed)
        answers = send(gw, data)
        result = gw.feedback([{"request_id": a["request_id"], "label": truth(r)} for a, r in zip(answers, data, strict=True)]
                             + [{"request_id": "unknown-id", "label": 1}])
        assert result["unknown"] == ["unknown-id"]
        report = gw.tick(force_window=True)
        decisions.append(report["decision"])
    windows = ws.deployments.history("clf")[0]["evidence"]["windows"]
    assert windows["stable"]["accuracy"] > 0.9 and windows["canary"]["accuracy"] < 0.2
    assert windows["stable"]["precision"] is not None and windows["stable"]["recall"] is not None
    assert decisions[-1] == "rollback" or "rollback" in decisions
    with pytest.raises(InvalidInput, match=r"feedback\[0\]"):
        gw.feedback([{"label": 1}])


def test_a_business_metric_drop_rolls_back(two_versions, tmp_path) -> None:
    ws, _ = two_versions
    gw = canary(ws, tmp_path, steps=(50, 100), policy={"business": {"conversion": 0.1}})
    decisions = []
    for seed in range(3):
        answers = send(gw, rows(400, seed=seed))
        gw.feedback([{"request_id": a["request_id"],
                      "metrics": {"conversion": float(i % 3 == 0) if a["arm"] == "stable" else float(i % 10 == 0)}}
                     for i, a in enumerate(answers)])
        decisions.append(gw.tick(force_window=True)["decision"])
    assert decisions[:2] == ["none", "rollback"]
    check = next(c for c in ws.deployments.history("clf")[0]["evidence"]["checks"] if c["check"] == "business:conversion")
    assert check["result"] == "fail" and check["stable"] > check["candidate"]


def test_bluegreen_switches_instantly_mirrors_the_standby_and_switches_back_on_failure(two_versions, tmp_path) -> None:
    ws, fault = two_versions
    d = ws.deployments
    d.create("clf", d.plan("bluegreen", "clf@1.0.0.0.0", candidate="clf@1.0.1.0.0", trusted=[CLASS], mirror=1.0,
                           policy=FAST))
    gw = gateway(ws, "clf", tmp_path)
    assert {a["model"] for a in send(gw, rows(100))} == {"clf@1.0.1.0.0"}  # green takes everything at once
    gw.shadow_pool.submit(lambda: None).result()
    d.switch("clf")
    gw.tick()
    gw._last_poll = 0
    gw.tick()
    assert {a["model"] for a in send(gw, rows(50))} == {"clf@1.0.0.0.0"}
    d.switch("clf")
    gw._last_poll = 0
    gw.tick()
    fault.write_text("fail")
    decisions = []
    for seed in range(3):
        send(gw, rows(200, seed=seed))
        import time

        deadline = time.monotonic() + 10
        while gw.shadow_pending and time.monotonic() < deadline:
            time.sleep(0.01)
        decisions.append(gw.tick(force_window=True)["decision"])
    assert "rollback" in decisions
    assert gw.readiness()["traffic"] == {"green": 0.0, "blue": 100.0}
    assert [h["action"] for h in d.history("clf")][:1] == ["rollback"]


def test_ab_records_the_arm_with_each_prediction_and_splits_by_weight(workspace, tmp_path) -> None:
    for coef in ([1.0, 0.5, 0.0], [1.0, 0.4, 0.1], [0.9, 0.5, 0.0]):
        register(workspace, coef)
    d = workspace.deployments
    d.create("clf", d.plan("ab", "clf@1.0.0.0.0", arms=[("clf@1.0.1.0.0", 30.0), ("clf@1.0.2.0.0", None)],
                           trusted=[CLASS], policy=FAST))
    gw = gateway(workspace, "clf", tmp_path)
    from modelkeep.gateway.predlog import PredictionLog

    gw.prediction_log = PredictionLog(tmp_path / "predictions.jsonl")
    assert gw.readiness()["traffic"] == pytest.approx({"a": 35.0, "b": 30.0, "c": 35.0})
    answers = send(gw, rows(3000))
    gw.prediction_log.close()
    logged = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(logged) == 3000 and logged[7]["key"] == "k7" and logged[7]["arm"] == answers[7]["arm"]
    assert logged[7]["version"] == answers[7]["model"] and logged[7]["request_id"] == answers[7]["request_id"]
    share = {arm: sum(1 for a in answers if a["arm"] == arm) / len(answers) for arm in "abc"}
    assert share == pytest.approx({"a": 0.35, "b": 0.30, "c": 0.35}, abs=0.04)
    assert all(a["model"] == {"a": "clf@1.0.0.0.0", "b": "clf@1.0.1.0.0", "c": "clf@1.0.2.0.0"}[a["arm"]] for a in answers)
    report = gw.tick(force_window=True)
    assert set(report["windows"]) == {"a", "b", "c"} and report["decision"] == "none"


def test_shadow_answers_are_recorded_and_compared_never_returned(two_versions, tmp_path) -> None:
    ws, fault = two_versions
    d = ws.deployments
    d.create("clf", d.plan("shadow", "clf@1.0.0.0.0", shadows=[("clf@1.0.1.0.0", 1.0)], trusted=[CLASS], policy=FAST))
    gw = gateway(ws, "clf", tmp_path)
    fault.write_text("fail")  # a broken shadow must not touch the primary
    answers = send(gw, rows(300))
    assert {a["arm"] for a in answers} == {"stable"} and all("error" not in a for a in answers)
    gw.shadow_pool.submit(lambda: None).result()
    while gw.shadow_pending:
        pass
    report = gw.tick(force_window=True)
    assert report["windows"]["shadow"]["requests"] == 300 and report["windows"]["shadow"]["errors"] == 300
    from prometheus_client import generate_latest

    text = generate_latest(gw.metrics.registry).decode()
    assert 'arm="shadow",deployment="clf",model="clf",outcome="shadow_error",version="1.0.1.0.0"} 300.0' in text
    fault.unlink()
    send(gw, rows(300, seed=5))
    gw.shadow_pool.submit(lambda: None).result()
    report = gw.tick(force_window=True)
    assert 0.8 < report["shadow_agreement"]["shadow"] <= 1.0


def test_a_version_that_fails_to_load_gets_no_traffic_and_is_reported(two_versions, tmp_path) -> None:
    ws, _ = two_versions
    d = ws.deployments
    d.create("clf", d.plan("canary", "clf@1.0.0.0.0", candidate="clf@1.0.1.0.0", rollout={"steps": [50, 100]}))
    loader_trust = [CLASS]
    gw = gateway(ws, "clf", tmp_path, trusted=loader_trust)
    assert gw.readiness()["failed"] == {}
    gw.loader.trusted = []  # an untrusted class: loading is refused
    d.update("clf", lambda spec: d.plan("canary", spec.arm("stable"), candidate="clf@1.0.1.0.0",
                                        rollout={"steps": [50, 100]}, policy=FAST))
    gw2 = gateway(ws, "clf", tmp_path / "other", trusted=[])
    state = gw2.readiness()
    assert "imports modelkeep.examples:LinearClassifier" in state["failed"]["canary"]
    assert state["ready"] is False


def test_preprocessing_is_pinned_and_applied(workspace, tmp_path) -> None:
    register(workspace, [1.0, 0.5, 0.0])
    register_scaler(workspace)
    d = workspace.deployments
    d.create("clf", d.plan("single", "clf@1.0.0.0.0", preprocess="features@latest", trusted=[CLASS, SCALER]))
    gw = gateway(workspace, "clf", tmp_path)
    assert gw.live.arms["stable"].preprocess is not None
    assert send(gw, [[3.0, 0.0, 0.0], [-3.0, 0.0, 0.0]])[0]["predictions"] == [1]


def test_http_interface_oip_json_errors_metrics(two_versions, tmp_path) -> None:
    ws, fault = two_versions
    gw = canary(ws, tmp_path, steps=(50, 100))
    client = TestClient(create_gateway_app(gw, LocalTokens(ws.access)))
    r = client.post("/predict", json={"inputs": [[2.0, 0.0, 0.0]]}, headers={"x-request-key": "alice"})
    assert r.status_code == 200 and r.json()["predictions"] == [1]
    arm = r.json()["arm"]
    assert r.headers["x-modelkeep-arm"] == arm and r.headers["x-modelkeep-version"] == r.json()["version"]
    for _ in range(5):  # sticky
        answer = client.post("/predict", json={"inputs": [[0.0, 0.0, 0.0]]}, headers={"x-request-key": "alice"})
        assert answer.json()["arm"] == arm
    r = client.post("/predict", json={"instances": [{"f0": 2.0, "f1": 0, "f2": 0}]})
    assert r.status_code == 200
    oip = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [2, 0, 0, -2, 0, 0]}]}
    r = client.post("/v2/models/clf/infer", json=oip)
    body = r.json()
    assert r.status_code == 200  # the output is named as the signature names it (and as /v2/models/clf says)
    assert body["outputs"][0] == {"name": "prediction", "shape": [2], "datatype": "INT64", "data": [1, 0]}
    assert body["model_version"] in ("clf@1.0.0.0.0", "clf@1.0.1.0.0") and body["model_name"] == "clf"
    r = client.post("/v2/models/clf/versions/1.0.0.0.0/infer", json=oip)
    assert r.json()["model_version"] == "clf@1.0.0.0.0"
    columns = {
        "inputs": [{"name": n, "shape": [1], "datatype": "FP64", "data": [v]} for n, v in (("f0", 2), ("f1", 0), ("f2", 0))]
    }
    assert client.post("/v2/models/clf/infer", json=columns).json()["outputs"][0]["data"] == [1]
    bad = [
        ({"inputs": [[1.0, "x", 2.0]]}, "inputs[0].f1: expected a number"),
        ({"inputs": [[1.0, 2.0]]}, "inputs[0]: expected 3 values"),
        ({"instances": [{"f0": 1, "f1": 2}]}, "missing field 'f2'"),
        ({"nothing": 1}, "inputs: missing"),
    ]
    for payload, message in bad:
        r = client.post("/predict", json=payload)
        assert r.status_code == 422 and message in r.json()["error"], r.json()
    assert client.post("/predict", content=b"{oops").status_code == 422
    r = client.post("/v2/models/clf/infer", json={"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1]}]})
    assert r.status_code == 422 and "inputs[0].data: shape [2, 3] needs 6 values" in r.json()["error"]
    r = client.post(
        "/v2/models/clf/infer", json={"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FLOAT", "data": [1, 2, 3]}]}
    )
    assert r.status_code == 422 and "inputs[0].datatype" in r.json()["error"]
    assert client.post("/v2/models/other/infer", json=oip).status_code == 404
    fault.write_text("fail")
    codes = {}
    for i in range(40):
        r = client.post("/predict", json={"inputs": [[0.1, 0.2, 0.3]]}, headers={"x-request-key": f"u{i}"})
        codes.setdefault(r.json().get("arm"), set()).add(r.status_code)
    assert codes == {"canary": {500}, "stable": {200}}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    meta = client.get("/v2/models/clf").json()
    assert meta["inputs"][0] == {"name": "f0", "datatype": "FP64", "shape": [-1]} and len(meta["versions"]) == 2
    gw.tick(force_window=True)
    text = client.get("/metrics").text
    assert (
        'modelkeep_gateway_requests_total{arm="canary",deployment="clf",model="clf",outcome="error",version="1.0.1.0.0"}' in text
    )
    assert re.search(r'modelkeep_gateway_bad_requests_total\{deployment="clf"\} [1-9]', text)
    assert "modelkeep_gateway_latency_seconds_bucket" in text and "modelkeep_gateway_traffic_weight" in text
    assert client.get("/status").json()["analysis"]["windows"]["canary"]["errors"] > 0


def test_gateway_endpoints_need_a_token_once_the_registry_has_users(two_versions, tmp_path) -> None:
    ws, _ = two_versions
    gw = canary(ws, tmp_path)
    ws.access.create_user("admin", role="admin")
    admin = ws.as_user("admin").access
    admin.create_user("dep", role="deployer")
    admin.create_user("vera", role="viewer")
    tokens = {u: admin.create_token(u)["token"] for u in ("dep", "vera")}
    client = TestClient(create_gateway_app(gw, LocalTokens(ws.access)))
    body = {"inputs": [[0.0, 0.0, 0.0]]}
    assert client.post("/predict", json=body).status_code == 401
    assert client.post("/predict", json=body, headers={"authorization": "Bearer nope"}).status_code == 401
    assert client.post("/predict", json=body, headers={"authorization": f"Bearer {tokens['vera']}"}).status_code == 403
    assert client.get("/metrics", headers={"authorization": f"Bearer {tokens['vera']}"}).status_code == 200
    assert client.post("/predict", json=body, headers={"authorization": f"Bearer {tokens['dep']}"}).status_code == 200
    assert client.get("/v2/health/ready").status_code == 200  # probes stay open


def test_a_slow_candidate_fails_the_latency_check_and_rolls_back(two_versions, tmp_path, monkeypatch) -> None:
    """Deterministic (issue 11): latency comes from an injected timer the slow model advances by
    exactly 8 ms, so a busy machine cannot slow the stable version past the limit too."""
    from modelkeep.examples import LinearClassifier

    ws, fault = two_versions
    fake = FakeTime()
    monkeypatch.setattr(LinearClassifier, "SLEEP", fake.advance)
    gw = canary(ws, tmp_path, steps=(50, 100), policy={"max_p99_ms": 5.0}, timer=fake.now)
    fault.write_text("slow:8")
    decisions = []
    for seed in range(2):
        send(gw, rows(160, seed=seed))
        decisions.append(gw.tick(force_window=True)["decision"])
    assert decisions == ["none", "rollback"]
    evidence = ws.deployments.history("clf")[0]["evidence"]
    latency = next(c for c in evidence["checks"] if c["check"] == "p99_latency")
    assert latency["result"] == "fail" and latency["candidate"] == 8.0 and latency["stable"] == 0.0
    assert "p99 latency" in evidence["attribution"]["message"]
