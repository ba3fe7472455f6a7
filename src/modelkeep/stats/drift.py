"""Drift of live values against a profile, and the significance tests used by rollout analysis.

Numeric columns: PSI over the profile's decile bins and the Kolmogorov-Smirnov distance against
the profile's quantiles (two-sample p-value at the effective size, scipy). Categorical columns:
chi-square against the profile's frequencies (scipy) and the Jensen-Shannon distance (base 2,
0..1). A column drifts when the test is significant *and* the effect is large (PSI or KS
distance, JS distance above its threshold). The significance tests are scipy's.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelkeep.stats.profile import OTHER

EPS = 1e-4


@dataclass(frozen=True)
class DriftThresholds:
    psi: float = 0.2
    ks_pvalue: float = 0.01
    ks_min_distance: float = 0.15  # large windows make tiny, harmless shifts "significant"
    chi2_pvalue: float = 0.01
    js: float = 0.1
    min_samples: int = 100


def psi(expected: list[float], observed: np.ndarray | list[float]) -> float:
    e = np.clip(np.asarray(expected, dtype=np.float64), EPS, None)
    o = np.clip(np.asarray(observed, dtype=np.float64), EPS, None)
    return float(np.sum((o - e) * np.log(o / e)))


def ks_pvalue(distance: float, n: int, m: int, grid: int) -> float:
    """P-value of a KS distance between ``n`` live values and a baseline of ``m`` values known
    through ``grid`` + 1 quantiles: the two-sample distribution at the effective size n·m/(n+m)
    (scipy's ``kstwo``), after taking off the half-step the quantile grid cannot resolve. The
    window's own size alone made A/A windows "significant" when they were large or the baseline
    small (10,000 rounded values: 20 % of A/A windows under 0.01, now none)."""
    from scipy.stats import kstwo

    effective = max(1, round(n * m / (n + m))) if m > 0 else n
    return float(kstwo.sf(max(0.0, distance - 0.5 / max(grid, 1)), effective))


def ks_distance(quantiles: list[float], values: np.ndarray) -> float:
    """sup |F_live - F_profile|, the profile's CDF interpolated between its percentiles."""
    q = np.asarray(quantiles, dtype=np.float64)
    x = np.sort(values)
    n = x.size
    points = np.concatenate([x, q])
    f_live = np.searchsorted(x, points, side="right") / n
    f_base = np.interp(points, q, np.linspace(0.0, 1.0, q.size), left=0.0, right=1.0)
    return float(np.max(np.abs(f_live - f_base)))


def chi2_sf(statistic: float, dof: int) -> float:
    from scipy.stats import chi2

    return float(chi2.sf(statistic, dof)) if dof > 0 else 1.0


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return math.sqrt(max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m)))


def column_drift(profile: dict[str, Any], values: list[Any], thresholds: DriftThresholds) -> dict[str, Any]:
    """Drift of one column: its statistics, and ``drifted`` (None when there are too few values)."""
    if profile["kind"] == "numeric":
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            return {"kind": "numeric", "n": len(values), "drifted": True, "reason": "values are not numbers"}
        array = array[np.isfinite(array)]
        if array.size < thresholds.min_samples or not profile["edges"]:
            return {"kind": "numeric", "n": int(array.size), "drifted": None}
        binned = np.bincount(np.searchsorted(np.asarray(profile["edges"]), array, side="right"),
                             minlength=len(profile["edges"]) + 1)
        score = psi(profile["proportions"], binned / array.size)
        distance = ks_distance(profile["quantiles"], array)
        baseline_n = int(profile.get("count", 0)) - int(profile.get("missing", 0))
        pvalue = ks_pvalue(distance, int(array.size), baseline_n, len(profile["quantiles"]) - 1)
        # Significant AND large: PSI alone is noisy on small windows, a p-value alone flags harmless
        # shifts on large ones.
        drifted = pvalue < thresholds.ks_pvalue and (score > thresholds.psi or distance > thresholds.ks_min_distance)
        return {"kind": "numeric", "n": int(array.size), "psi": round(score, 4), "ks": round(distance, 4),
                "ks_pvalue": pvalue, "mean": float(array.mean()), "baseline_mean": profile["mean"],
                "drifted": bool(drifted)}
    if len(values) < thresholds.min_samples:
        return {"kind": "categorical", "n": len(values), "drifted": None}
    expected = dict(profile["frequencies"])
    known = set(expected)
    counts = Counter(str(v) if str(v) in known else OTHER for v in values)
    keys = sorted(known | set(counts))
    exp = np.array([expected.get(k, 0.0) for k in keys]) * len(values)
    obs = np.array([counts.get(k, 0) for k in keys], dtype=np.float64)
    statistic = float(np.sum((obs - exp) ** 2 / np.clip(exp, EPS * len(values), None)))
    pvalue = chi2_sf(statistic, len(keys) - 1)
    distance = js_distance(np.clip(exp, EPS, None), np.clip(obs, EPS, None))
    drifted = pvalue < thresholds.chi2_pvalue and distance > thresholds.js
    return {"kind": "categorical", "n": len(values), "chi2": round(statistic, 3), "chi2_pvalue": pvalue,
            "js": round(distance, 4), "drifted": bool(drifted)}


def two_proportion_p(fail_a: int, n_a: int, fail_b: int, n_b: int) -> float:
    """One-sided p-value that B's failure rate exceeds A's: Fisher's exact test (scipy). Exact at
    the small counts a canary sees (0/50 vs 3/50: 0.12, where a pooled z-test said 0.039)."""
    if n_a == 0 or n_b == 0:
        return 1.0
    from scipy.stats import fisher_exact

    table = [[fail_b, n_b - fail_b], [fail_a, n_a - fail_a]]
    return float(fisher_exact(table, alternative="greater").pvalue)


def mean_drop_p(a: list[float], b: list[float]) -> float:
    """One-sided p-value that B's mean is below A's: Welch's t-test (scipy), t not z."""
    if len(a) < 2 or len(b) < 2:
        return 1.0
    if float(np.ptp(a)) == 0.0 and float(np.ptp(b)) == 0.0:  # both constant: the means alone decide
        return 0.0 if float(np.mean(b)) < float(np.mean(a)) else 1.0
    from scipy.stats import ttest_ind

    return float(ttest_ind(b, a, equal_var=False, alternative="less").pvalue)


def proportion_upper(successes: int, n: int, confidence: float = 0.99) -> float:
    """Upper end of the Wilson score interval (scipy): stays inside [0, 1] and honest near 0 and 1,
    where the Wald interval collapses to a point."""
    from scipy.stats import binomtest

    return float(binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson").high)
