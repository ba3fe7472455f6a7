"""The rollout analysis' significance tests are scipy's (issue 11: the hand-written ones were
anti-conservative at small counts and broke near 0 and 1). Each is checked against scipy and its
A/A false-positive rate by simulation (seeded)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from modelkeep.stats.drift import mean_drop_p, proportion_upper, two_proportion_p


def test_error_rates_use_fishers_exact_test() -> None:
    p = two_proportion_p(0, 50, 3, 50)  # the pooled z-test said 0.039: a false rollback at 0.05
    assert p == pytest.approx(stats.fisher_exact([[3, 47], [0, 50]], alternative="greater").pvalue)
    assert 0.11 < p < 0.13
    assert two_proportion_p(0, 50, 15, 50) < 1e-4  # a real failure is still decisive
    assert two_proportion_p(0, 0, 3, 50) == 1.0


def test_error_rate_aa_false_positives_stay_under_the_significance_level() -> None:
    rng = np.random.default_rng(11)
    windows, alpha, rate, n = 2000, 0.05, 0.04, 50
    fails = rng.binomial(n, rate, size=(windows, 2))
    rejected = sum(two_proportion_p(int(a), n, int(b), n) < alpha for a, b in fails)
    assert rejected / windows <= alpha  # Fisher is exact (conservative): never above alpha


def test_business_metric_drop_uses_welchs_t_test() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 1.0, 12).tolist(), rng.normal(0.6, 2.0, 9).tolist()
    expected = stats.ttest_ind(b, a, equal_var=False, alternative="less").pvalue
    assert mean_drop_p(a, b) == pytest.approx(expected)
    assert mean_drop_p([1.0, 1.0], [0.5, 0.5]) == 0.0 and mean_drop_p([1.0, 1.0], [2.0, 2.0]) == 1.0
    aa = [mean_drop_p(rng.normal(0, 1, 8).tolist(), rng.normal(0, 1, 8).tolist()) < 0.05 for _ in range(2000)]
    assert sum(aa) / len(aa) <= 0.06  # t, not z: honest at 8 samples


def test_accuracy_bound_is_wilsons() -> None:
    assert proportion_upper(50, 50) == 1.0  # Wald: 1.0 + 0 — fine; but at 0 correct Wald collapses to 0
    assert 0.0 < proportion_upper(0, 20) < 0.3
    expected = stats.binomtest(45, 50).proportion_ci(confidence_level=0.99, method="wilson").high
    assert proportion_upper(45, 50) == pytest.approx(expected) and proportion_upper(45, 50) <= 1.0


@pytest.mark.parametrize("name", ["normal", "rounded normal", "poisson"])
def test_ks_aa_false_positives_stay_at_the_level_on_large_windows(name: str) -> None:
    """The KS p-value used the window's size as n against a 101-quantile profile: on large windows
    (or rounded values) A/A windows came out significant far more often than 1 %."""
    import math

    from modelkeep.stats.drift import ks_distance
    from modelkeep.stats.profile import numeric_profile

    rng = np.random.default_rng(5)
    draw = {"normal": lambda k: rng.normal(size=k), "rounded normal": lambda k: np.round(rng.normal(size=k), 1),
            "poisson": lambda k: rng.poisson(3, size=k).astype(float)}[name]
    base = numeric_profile(draw(20_000))
    from modelkeep.stats.drift import ks_pvalue

    old = new = 0
    for _ in range(60):
        window = draw(10_000)
        distance = ks_distance(base["quantiles"], window)
        old += stats.kstwobign.sf(math.sqrt(window.size) * distance) < 0.01  # what the gateway computed
        new += ks_pvalue(distance, window.size, base["count"], 100) < 0.01
    assert new / 60 <= 0.02
    if name == "rounded normal":
        assert old / 60 > 0.05  # the defect, as it was
