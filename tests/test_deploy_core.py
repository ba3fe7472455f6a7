"""Routing, drift statistics, deployment records: plans, revisions, contract checks, rollback."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelkeep.errors import Conflict, InvalidInput, NotFound
from modelkeep.services.deploy.routing import Router
from modelkeep.services.governance import audit
from modelkeep.stats.drift import DriftThresholds, chi2_sf, column_drift, ks_pvalue, two_proportion_p
from modelkeep.stats.profile import profile
from tests.deploy_helpers import CLASS, register

KEYS = [f"user-{i}" for i in range(100_000)]


def test_split_is_within_half_a_point_and_raising_a_canary_never_moves_keys_back() -> None:
    previous = None
    for weight in (1.0, 5.0, 25.0, 50.0, 100.0):
        router = Router("fraud", [("canary", weight), ("stable", 100.0 - weight)], fallback="stable")
        arms = [router.route(k).arm for k in KEYS]
        assert abs(arms.count("canary") / len(KEYS) * 100 - weight) < 0.5
        if previous is not None:
            assert not any(a == "canary" and b == "stable" for a, b in zip(previous, arms, strict=True))
        previous = arms


@settings(max_examples=50, deadline=None)
@given(key=st.text(min_size=1, max_size=40), w1=st.floats(0, 100), w2=st.floats(0, 100))
def test_routing_is_a_pure_function_of_deployment_and_key(key: str, w1: float, w2: float) -> None:
    low, high = sorted((w1, w2))
    a = Router("d", [("canary", low), ("stable", 100 - low)], fallback="stable")
    b = Router("d", [("canary", low), ("stable", 100 - low)], fallback="stable")
    c = Router("d", [("canary", high), ("stable", 100 - high)], fallback="stable")
    assert a.route(key) == b.route(key)  # another replica, no shared state
    if a.route(key).arm == "canary":
        assert c.route(key).arm == "canary"


def test_unavailable_arm_traffic_goes_to_the_fallback() -> None:
    router = Router("d", [("canary", 50.0), ("stable", 50.0)], fallback="stable", unavailable={"canary"})
    assert {router.route(k).arm for k in KEYS[:1000]} == {"stable"}
    assert router.share() == {"stable": 100.0}


def test_drift_statistics_detect_shifts_and_agree_with_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(3)
    base = profile(rng.normal(size=(5000, 1)), predictions=(rng.random(5000) < 0.2).astype(int))
    limits = DriftThresholds()
    same = column_drift(base["features"]["f0"], rng.normal(size=1000).tolist(), limits)
    moved = column_drift(base["features"]["f0"], (rng.normal(size=1000) + 0.8).tolist(), limits)
    assert same["drifted"] is False and moved["drifted"] is True and moved["psi"] > 0.2
    assert column_drift(base["features"]["f0"], [0.0] * 10, limits)["drifted"] is None  # too few values
    flipped = column_drift(base["predictions"], [1] * 800 + [0] * 200, limits)
    assert flipped["drifted"] is True and flipped["js"] > 0.3
    assert column_drift(base["predictions"], [1] * 200 + [0] * 800, limits)["drifted"] is False
    assert chi2_sf(7.3, 4) == pytest.approx(stats.chi2.sf(7.3, 4), rel=1e-6)
    assert ks_pvalue(0.05, 1000, 20_000, 100) == pytest.approx(stats.kstwo.sf(0.045, 952), rel=1e-9)
    assert two_proportion_p(5, 1000, 60, 1000) < 1e-6 and two_proportion_p(30, 1000, 30, 1000) > 0.5  # Fisher: exact, discrete


def test_plan_pins_exact_versions_signature_and_baseline_smoke(workspace) -> None:
    v1 = register(workspace, [1.0, 0.5, 0.0])
    v2 = register(workspace, [1.0, 0.4, 0.1])
    workspace.registry.set_alias(f"clf@{v1.version}", "production")
    spec = workspace.deployments.plan("canary", "clf@production", candidate="clf@latest", trusted=[CLASS])
    stable, canary = spec.arm("stable"), spec.arm("canary")
    assert (stable.model, canary.model) == (f"clf@{v1.version}", f"clf@{v2.version}")
    assert (stable.weight, canary.weight) == (95.0, 5.0) and spec.arms[0].name == "canary"  # candidate first
    assert spec.contract == {"inputs": v1.signature["inputs"]} and len(spec.smoke) == 10


@pytest.mark.parametrize("strategy,kwargs,message", [
    ("canary", {}, "needs --candidate"),
    ("rainbow", {}, "unknown strategy"),
    ("ab", {"arms": [("clf@latest", 70.0), ("clf@latest", 50.0)]}, "more than 100"),
    ("shadow", {}, "needs at least one --shadow"),
    ("canary", {"candidate": "clf@latest", "rollout": {"steps": [50, 10]}}, "steps must be increasing"),
    ("single", {"policy": {"max_error_rate": 2}}, "invalid policy: max_error_rate"),
    ("single", {"monitoring": {"psi": "high"}}, "invalid monitoring: psi"),
    ("single", {"candidate": "clf@latest"}, "--candidate goes with"),
])
def test_bad_plans_name_what_is_wrong(workspace, strategy: str, kwargs: dict, message: str) -> None:
    register(workspace, [1.0, 0.5, 0.0])
    with pytest.raises(InvalidInput, match=message):
        workspace.deployments.plan(strategy, "clf@latest", **kwargs)


def test_a_candidate_with_other_inputs_is_refused_unless_the_contract_may_change(workspace) -> None:
    register(workspace, [1.0, 0.5, 0.0])
    register(workspace, [1.0, 0.5], inputs=2)
    with pytest.raises(InvalidInput, match="does not match what clients send.*'f2'"):
        workspace.deployments.plan("canary", "clf@1.0.0.0.0", candidate="clf@latest")
    spec = workspace.deployments.plan("canary", "clf@1.0.0.0.0", candidate="clf@latest", allow_contract_change=True)
    assert spec.candidate == "canary"


def test_revisions_are_compare_and_set_audited_and_evented(any_workspace) -> None:
    ws = any_workspace
    register(ws, [1.0, 0.5, 0.0])
    register(ws, [1.0, 0.4, 0.1])
    d = ws.deployments
    created = d.create("clf", d.plan("canary", "clf@1.0.0.0.0", candidate="clf@latest",
                                     rollout={"steps": [10, 50, 100]}))
    assert created["revision"] == 1 and created["status"] == "progressing"
    with pytest.raises(Conflict, match="exists"):
        d.create("clf", d.plan("single", "clf@latest"))
    assert d.advance("clf", expected_revision=1)["arms"][0]["weight"] == 50.0
    with pytest.raises(Conflict, match="revision 2, not 1"):  # a replica acting on a stale revision
        d.rollback("clf", reason="stale", expected_revision=1)
    d.advance("clf", expected_revision=2)
    promoted = d.advance("clf", expected_revision=3)
    assert promoted["status"] == "promoted" and promoted["strategy"] == "single"
    assert promoted["arms"] == [{"name": "stable", "model": "clf@1.0.1.0.0", "weight": 100.0, "preprocess": None}]
    history = d.history("clf")
    assert [h["action"] for h in history] == ["promote", "advance", "advance", "create"]
    with pytest.raises(NotFound):
        d.status("nope")
    entries = audit.query(ws.db, action="deployment.*")
    assert len(entries) == 4 and audit.verify_chain(ws.db)["ok"]


def test_rollback_to_a_revision_restores_model_pipeline_and_policy_together(workspace) -> None:
    from tests.deploy_helpers import register_scaler

    register(workspace, [1.0, 0.5, 0.0])
    register_scaler(workspace)
    register(workspace, [1.0, 0.4, 0.1])
    d = workspace.deployments
    d.create("clf", d.plan("single", "clf@1.0.0.0.0", preprocess="features@latest", policy={"max_error_rate": 0.01}))
    d.update("clf", lambda spec: d.plan("single", "clf@1.0.1.0.0", policy={"max_error_rate": 0.2}))
    now = d.status("clf")
    assert now["arms"][0]["preprocess"] is None and now["policy"]["max_error_rate"] == 0.2
    d.rollback("clf", reason="back to the known good one", to_revision=1)
    back = d.status("clf")
    assert back["arms"][0]["model"] == "clf@1.0.0.0.0" and back["arms"][0]["preprocess"] == "features@1.0.0.0.0"
    assert back["policy"]["max_error_rate"] == 0.01 and back["revision"] == 3


def test_rollback_to_a_version_clients_can_no_longer_call_is_refused(workspace) -> None:
    register(workspace, [1.0, 0.5], inputs=2)
    register(workspace, [1.0, 0.5, 0.0])
    d = workspace.deployments
    d.create("clf", d.plan("single", "clf@1.0.0.0.0"))
    d.update("clf", lambda spec: d.plan("single", "clf@latest"))  # clients moved to three inputs
    with pytest.raises(InvalidInput, match="refusing to roll back clf to revision 1.*'f2'"):
        d.rollback("clf", reason="oops", to_revision=1)
    assert d.status("clf")["revision"] == 2  # nothing half-done
    assert d.rollback("clf", reason="clients too", to_revision=1, force=True)["revision"] == 3


def _h(model: str, performance: list[str], drift: list[str]) -> dict:
    reasons = performance + ([f"inputs drifted: {', '.join(drift)}"] if drift else [])
    return {"model": model, "enough": True, "degraded": bool(reasons), "reasons": reasons,
            "performance": performance, "input_drift": drift}


@pytest.mark.parametrize("healths,scope,blamed", [
    ({"stable": _h("m@1", [], []), "canary": _h("m@2", ["error rate 40%"], [])}, "version", ["canary"]),
    # the inputs drift for everyone, but only the candidate fails on them: still the candidate's fault
    ({"stable": _h("m@1", [], ["f0"]), "canary": _h("m@2", ["error rate 40%"], ["f0"])}, "version", ["canary"]),
    ({"stable": _h("m@1", [], ["f0"]), "canary": _h("m@2", [], ["f0", "f1"])}, "upstream", []),
    ({"stable": _h("m@1", ["accuracy 0.7"], ["f0"]), "canary": _h("m@2", ["accuracy 0.7"], ["f0"])}, "upstream", []),
    ({"stable": _h("m@1", ["accuracy 0.7"], []), "canary": _h("m@2", ["accuracy 0.6"], [])}, "upstream", []),
    ({"stable": _h("m@1", ["error rate 9%"], [])}, "version", ["stable"]),
    ({"stable": _h("m@1", ["predictions drifted"], ["f3"])}, "upstream", []),
    ({"stable": _h("m@1", [], []), "canary": _h("m@2", [], [])}, "none", []),
])
def test_attribution_tells_a_version_fault_from_an_upstream_one(healths: dict, scope: str, blamed: list) -> None:
    from modelkeep.services.deploy.analysis import attribute

    result = attribute(healths)
    assert (result["scope"], result["blamed"]) == (scope, blamed)


def test_baseline_columns_are_matched_to_request_inputs_by_name() -> None:
    from modelkeep.services.deploy.analysis import Baseline, WindowSummary, health
    from modelkeep.services.deploy.spec import parse_spec

    rng = np.random.default_rng(5)
    train = np.column_stack([rng.integers(0, 2, 3000), rng.normal(size=3000), rng.normal(5, 1, 3000)])
    base = Baseline(profile(train, names=["label", "f0", "f1"]), {})
    spec = parse_spec({"arms": [{"name": "stable", "model": "m@1", "version_id": 1, "weight": 100}],
                       "stable": "stable", "policy": {"min_samples": 10}})
    live = np.column_stack([rng.normal(size=500), rng.normal(5, 1, 500)]).tolist()  # requests: f0, f1
    window = WindowSummary("stable", "m@1", n=500, rows=live)
    result = health(window, base, spec, ["f0", "f1"])
    assert set(result["feature_drift"]) == {"f0", "f1"} and result["input_drift"] == []
    shifted = WindowSummary("stable", "m@1", n=500, rows=[[a, b + 2] for a, b in live])
    assert health(shifted, base, spec, ["f0", "f1"])["input_drift"] == ["f1"]


def test_cli_register_records_a_csv_baseline(tmp_path) -> None:
    import json
    import subprocess
    import sys

    (tmp_path / "train.csv").write_text("f0,f1,label\n" + "".join(f"{i * 0.1},{i % 3},{i % 2}\n" for i in range(200)))
    (tmp_path / "m.bin").write_text("weights")
    run = [sys.executable, "-m", "modelkeep.cli.main"]
    subprocess.run([*run, "init"], cwd=tmp_path, check=True, capture_output=True)
    out = subprocess.run([*run, "model", "register", "m", "m.bin", "--baseline", "train.csv", "--json"], cwd=tmp_path,
                         check=True, capture_output=True, text=True).stdout
    features = json.loads(out)["metadata"]["baseline"]["features"]
    assert features["f0"]["kind"] == "numeric" and features["f1"]["kind"] == "categorical"


def test_a_version_a_deployment_pins_cannot_be_deleted(workspace) -> None:
    from tests.deploy_helpers import register_scaler

    register(workspace, [1.0, 0.5, 0.0])
    register_scaler(workspace)
    register(workspace, [1.0, 0.4, 0.1])
    d = workspace.deployments
    d.create("svc", d.plan("canary", "clf@1.0.0.0.0", candidate="clf@1.0.1.0.0", preprocess="features@latest"))
    with pytest.raises(Conflict, match=r"pinned by deployment svc \(canary: clf@1.0.1.0.0\)"):
        workspace.registry.delete_version("clf@1.0.1.0.0")
    with pytest.raises(Conflict, match="pinned by deployment svc"):
        workspace.registry.delete_version("features@1.0.0.0.0")
    with pytest.raises(Conflict, match="versions of clf are pinned by deployment"):
        workspace.registry.delete_model("clf")
    d.update("svc", lambda spec: d.plan("single", "clf@1.0.0.0.0"))
    assert workspace.registry.delete_version("clf@1.0.1.0.0").version == "1.0.1.0.0"
