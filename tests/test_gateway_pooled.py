"""Replicas that pool their analysis windows (``policy.pooled``) judge the canary on all traffic:
each shares its closed window through the database, and every one judges the window before,
summed over all of them. Three gateways whose own shares are each too small to decide on make
one decision together; the clock and the wall clock are injected, so no verdict reads time."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkeep.gateway.runtime import Gateway
from modelkeep.services.deploy.predictor import ModelLoader
from modelkeep.services.deploy.windows import SHARED_SAMPLE, WindowSummary
from tests.deploy_helpers import CLASS, FakeTime, register, rows, send

STABLE, CANDIDATE = "clf@1.0.0.0.0", "clf@1.0.1.0.0"
POLICY = {"window_s": 10, "min_samples": 40, "failing_windows": 1, "pooled": True, "drift": False}


@pytest.fixture(autouse=True)
def _faults_take_effect_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.examples import LinearClassifier

    monkeypatch.setattr(LinearClassifier, "CHECK_S", 0.0)


def _replicas(ws, tmp_path: Path, clock: FakeTime, count: int = 3) -> list[Gateway]:
    out = []
    for i in range(count):
        loader = ModelLoader(ws.registry, ws.store, tmp_path / f"cache-{i}")
        gw = Gateway(ws.deployments, loader, "clf", gateway_id=f"gw-{i}", clock=clock.now, wall=clock.now,
                     timer=FakeTime().now)
        gw.start(control=False)
        out.append(gw)
    return out


def test_three_replicas_roll_back_once_on_their_pooled_windows(any_workspace, tmp_path: Path) -> None:
    workspace = any_workspace  # SQLite and PostgreSQL
    fault = tmp_path / "fault"
    register(workspace, [1.0, 0.5, 0.0])
    register(workspace, [1.0, 0.45, 0.05], fault=fault)
    d = workspace.deployments
    d.create("clf", d.plan("canary", STABLE, candidate=CANDIDATE, trusted=[CLASS],
                           rollout={"steps": [50, 100], "bake_s": 1e6}, policy=POLICY))
    clock = FakeTime()  # 1000.0: window 100 of 10 s
    replicas = _replicas(workspace, tmp_path, clock)
    assert all(gw.tick() is None for gw in replicas)  # each starts measuring window 100
    fault.write_text("fail")
    for i, gw in enumerate(replicas):  # one key space, split three ways
        send(gw, rows(45, seed=i), prefix=f"r{i}-")
    clock.advance(10)
    first = [gw.tick() for gw in replicas]  # window 100 closed and shared; window 99 had nothing
    assert [r["decision"] for r in first if r] == ["none"] * 3
    local = [r for r in first if r]
    clock.advance(10)
    reports = [gw.tick() for gw in replicas]
    decisions = [r["decision"] for r in reports if r]
    assert decisions.count("rollback") == 1  # the first to judge acts; the others find the new revision
    judged = next(r for r in reports if r and r["decision"] == "rollback")
    assert set(judged["pooled"]["gateways"]) == {"gw-0", "gw-1", "gw-2"} and judged["pooled"]["window"] == 100
    canary_counts = [arms["canary"] for arms in judged["pooled"]["gateways"].values()]
    assert judged["windows"]["canary"]["requests"] == sum(canary_counts) >= POLICY["min_samples"]
    assert all(n < POLICY["min_samples"] for n in canary_counts)  # no replica alone had enough
    assert judged["windows"]["canary"]["errors"] == sum(canary_counts)
    assert all(r["verdict"] == "inconclusive" for r in local)
    history = d.history("clf")
    assert [h["action"] for h in history] == ["rollback", "create"]
    assert set(history[0]["evidence"]["pooled"]["gateways"]) == {"gw-0", "gw-1", "gw-2"}
    for gw in replicas:
        gw.stop()


def test_a_window_is_shared_thinned_and_pools_back_exactly() -> None:
    window = WindowSummary("canary", CANDIDATE, n=5_000, errors=7, latencies_ms=[float(i) for i in range(5_000)],
                           predictions=list(range(2_500)), rows=[[i, i] for i in range(900)], labeled=30, correct=25,
                           tp=10, fp=2, fn=3, business={"conversion": [0.5] * 3_000})
    shared = WindowSummary.from_shared(window.shared())
    assert (shared.n, shared.errors, shared.labeled, shared.correct, shared.tp) == (5_000, 7, 30, 25, 10)
    assert len(shared.latencies_ms) == SHARED_SAMPLE and shared.latencies_ms[:2] == [0.0, 5.0]  # every 5th
    assert len(shared.predictions) <= SHARED_SAMPLE and len(shared.rows) == 900
    assert len(shared.business["conversion"]) == SHARED_SAMPLE
    both = WindowSummary.pooled([shared, shared])
    assert (both.n, both.errors, both.fn) == (10_000, 14, 6) and len(both.latencies_ms) == 2 * SHARED_SAMPLE
