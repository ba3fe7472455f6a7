"""Low traffic still decides (issue 11): a canary failing every request at 5 requests/s used to
stay live forever, every window under min_samples. Evidence now adds up across windows
(services/deploy/sequential.py); an A/A pair at the same traffic never rolls back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelkeep.services.deploy.sequential import SequentialErrors
from tests.deploy_helpers import CLASS, gateway, register, rows, send


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.04])
def test_an_aa_pair_at_low_traffic_never_fails_in_1000_windows(rate: float) -> None:
    rng = np.random.default_rng(int(rate * 1000) + 1)
    for alone in (False, True):
        evidence = SequentialErrors()
        for _ in range(1000):  # 10 s windows: 5 requests/s to the candidate, 20/s to the stable version
            n_c, n_s = int(rng.poisson(50)), 0 if alone else int(rng.poisson(200))
            evidence.update(n_c, int(rng.binomial(n_c, rate)), n_s, int(rng.binomial(n_s, rate)), 0.05)
            assert not evidence.failing(0.05), (rate, alone, evidence.summary())


def test_a_candidate_failing_every_request_is_decided_within_60_s_at_5_per_second() -> None:
    for stable_n in (40, 0):  # beside a stable version, or alone at 100 %
        evidence = SequentialErrors()
        windows = 0
        while not evidence.failing(0.05):  # 2 s windows: 10 failing requests each
            evidence.update(10, 10, stable_n, 0, 0.05)
            windows += 1
        assert windows * 2 <= 60, windows


def test_the_gateway_rolls_back_a_failing_canary_that_never_fills_a_window(workspace, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.examples import LinearClassifier

    monkeypatch.setattr(LinearClassifier, "CHECK_S", 0.0)
    fault = tmp_path / "fault"
    register(workspace, [1.0, 0.5, 0.0])
    register(workspace, [1.0, 0.45, 0.05], fault=fault)
    d = workspace.deployments
    d.create("clf", d.plan("canary", "clf@1.0.0.0.0", candidate="clf@1.0.1.0.0", trusted=[CLASS],
                           rollout={"steps": [20, 100], "bake_s": 1e6},
                           policy={"window_s": 10, "min_samples": 100, "failing_windows": 2}))
    gw = gateway(workspace, "clf", tmp_path)
    fault.write_text("fail")
    decisions = []
    for window in range(6):  # 60 s of 10 s windows at 5 requests/s: 50 requests each, ~10 to the canary
        send(gw, rows(50, seed=window), prefix=f"w{window}-")
        report = gw.tick(force_window=True)
        decisions.append(report["decision"])
        if report["decision"] == "rollback":
            assert [c["check"] for c in report["checks"]][-1] == "error_rate_sequential"
            break
    assert decisions[-1] == "rollback", decisions
    assert gw.readiness()["traffic"] == {"canary": 0.0, "stable": 100.0}
