"""The gateway's statistics, by simulation (issue 11): low-traffic rollback time, the A/A false
rollback rate of the sequential error test, and the KS A/A false-positive rate before and after.

    .venv/bin/python benchmarks/gateway_stats.py [--trials 200]

No clock and no server: the analysis the gateway runs each window is fed simulated counts, so
the figures are the analysis's own, the same on any machine. Prints one table.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy import stats

from modelkeep.services.deploy.sequential import SequentialErrors
from modelkeep.stats.drift import ks_distance, ks_pvalue
from modelkeep.stats.profile import numeric_profile

ALPHA = 0.05


def rollback_seconds(window_s: float, rate: float, stable_rate: float, fail: float, rng: np.random.Generator) -> float:
    """Seconds until a candidate that fails ``fail`` of its requests is decided failing."""
    evidence, elapsed = SequentialErrors(), 0.0
    while not evidence.failing(ALPHA):
        n_c, n_s = int(rng.poisson(rate * window_s)), int(rng.poisson(stable_rate * window_s))
        evidence.update(n_c, int(rng.binomial(n_c, fail)), n_s, int(rng.binomial(n_s, 0.0)), ALPHA)
        elapsed += window_s
        if elapsed > 3600:
            return math.inf
    return elapsed


def aa_false_rollbacks(trials: int, windows: int, rate: float, error: float, rng: np.random.Generator) -> int:
    """Of ``trials`` A/A pairs (same error rate), how many were ever decided failing in ``windows`` windows."""
    bad = 0
    for _ in range(trials):
        evidence = SequentialErrors()
        for _ in range(windows):
            n_c, n_s = int(rng.poisson(rate * 10)), int(rng.poisson(4 * rate * 10))
            evidence.update(n_c, int(rng.binomial(n_c, error)), n_s, int(rng.binomial(n_s, error)), ALPHA)
            if evidence.failing(ALPHA):
                bad += 1
                break
    return bad


def ks_rates(kind: str, windows: int, rng: np.random.Generator) -> tuple[float, float]:
    draw = {"normal": lambda k: rng.normal(size=k), "rounded normal": lambda k: np.round(rng.normal(size=k), 1),
            "poisson(3)": lambda k: rng.poisson(3, size=k).astype(float)}[kind]
    base = numeric_profile(draw(20_000))
    old = new = 0
    for _ in range(windows):
        window = draw(10_000)
        distance = ks_distance(base["quantiles"], window)
        old += stats.kstwobign.sf(math.sqrt(window.size) * distance) < 0.01  # the one-sample n the gateway used
        new += ks_pvalue(distance, window.size, base["count"], 100) < 0.01
    return old / windows, new / windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    print("| measure | setting | result |")
    print("|---|---|---|")
    for window_s in (2.0, 10.0):
        for stable in (20.0, 0.0):
            times = [rollback_seconds(window_s, 5.0, stable, 1.0, rng) for _ in range(args.trials)]
            print(f"| rollback of a canary failing every request | 5 req/s, {window_s:g} s windows, stable at "
                  f"{stable:g} req/s | {min(times):g}–{max(times):g} s (goal ≤ 60 s) |")
    times = [rollback_seconds(10.0, 5.0, 20.0, 0.3, rng) for _ in range(args.trials)]
    print(f"| rollback of a canary failing 30 % | 5 req/s, 10 s windows | median {np.median(times):g} s, "
          f"max {max(times):g} s |")
    for error in (0.0, 0.01, 0.05):
        bad = aa_false_rollbacks(args.trials // 4, 1000, 5.0, error, rng)
        print(f"| A/A pairs ever rolled back in 1,000 windows | 5 req/s, error rate {error:g} | "
              f"{bad} of {args.trials // 4} |")
    for kind in ("normal", "rounded normal", "poisson(3)"):
        old, new = ks_rates(kind, 100, rng)
        print(f"| KS A/A windows with p < 0.01 | {kind}, 10,000 values vs 20,000 baseline | "
              f"before {old:.0%}, after {new:.0%} |")


if __name__ == "__main__":
    main()
