"""Merges decided by evaluation: how fast, and how often they decide right.

    .venv/bin/python benchmarks/merge.py [--rows 100000] [--resamples 1000] [--runs 200]   (--runs 0: speed only)

1. **Speed**: ``mk merge`` as a whole process on an evaluation set of ``rows`` rows (CSV, 4
   features) with ``resamples`` paired bootstrap resamples of AUC, accuracy and F1, two
   scikit-learn logistic regressions: wall and CPU seconds (3 runs; goal under 5 s).
2. **Decisions** (the statistics ``mk merge`` runs, on simulated scores, ``runs`` times each, 10,000
   rows, AUC rule with margin 0): the same model twice (goal: never accepted, inconclusive or
   rejected in ≥ 99 %), two different models of equal AUC, and a branch truly better by +0.02 AUC
   (goal: accepted in ≥ 90 %). Scores follow the binormal model (positives shifted by d, AUC =
   Φ(d/√2)) with the two models' errors correlated (ρ = 0.7), as two models on one dataset are.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MK = [sys.executable, "-m", "modelkeep.cli.main"]


def _mk(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*MK, *args], cwd=root, capture_output=True, text=True)
    if check and done.returncode not in (0, 1, 2):
        raise SystemExit(f"mk {' '.join(args)}: {done.stderr}")
    return done


def speed(rows: int, resamples: int) -> list[tuple[float, float]]:
    from sklearn.linear_model import LogisticRegression

    from modelkeep.flavors import save_model

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _mk(root, "init")
        rng = np.random.default_rng(0)
        x = rng.normal(size=(rows, 4))
        y = (x[:, 0] + 0.8 * x[:, 1] + 0.5 * rng.normal(size=rows) > 0).astype(int)
        np.savetxt(root / "holdout.csv", np.column_stack([x, y]), delimiter=",", header="f0,f1,f2,f3,label",
                   comments="", fmt=["%.6f"] * 4 + ["%d"])
        _mk(root, "data", "add", "--name", "holdout", str(root / "holdout.csv"))
        for name, cols in (("weak", [0]), ("strong", [0, 1, 2, 3])):
            model = LogisticRegression().fit(np.where(np.isin(np.arange(4), cols), x[:5000], 0.0), y[:5000])
            save_model(model, root / name, "sklearn")
        _mk(root, "model", "register", "fraud", str(root / "weak"))
        (root / "merge.yaml").write_text(f"data: holdout@1\nresamples: {resamples}\nrules:\n"
                                         "  - metric: auc\n  - metric: accuracy\n  - metric: f1\n")
        times = []
        for run in range(3):
            _mk(root, "branch", "create", f"fraud~b{run}")
            _mk(root, "model", "register", "fraud", str(root / "strong"), "--branch", f"b{run}")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = _mk(root, "merge", f"fraud~b{run}", "--policy", str(root / "merge.yaml"))
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            print(f"  merge run {run + 1}: exit {done.returncode}, {wall:.2f} s wall, {cpu:.2f} CPU-s", file=sys.stderr)
            times.append((wall, cpu))
        return times + in_process(root)


def in_process(root: Path) -> list[tuple[float, float]]:
    """The merge's own work (read the table, load and score both versions, bootstrap the rules),
    with the imports done: what a long-lived process (a server, a notebook) pays per merge."""
    from modelkeep.services.connection import LocalConnection
    from modelkeep.services.evaluation.compare import load_policy
    from modelkeep.services.evaluation.gate import gate
    from modelkeep.services.workspace import open_workspace

    workspace = open_workspace(root / ".modelkeep")
    conn = LocalConnection(workspace)
    policy = load_policy((root / "merge.yaml").read_text())
    out = []
    for _ in range(4):
        started, cpu0 = time.perf_counter(), time.process_time()
        gate(conn, "fraud~b0@latest", "fraud@latest", policy)
        out.append((time.perf_counter() - started, time.process_time() - cpu0))
    workspace.close()
    return out[1:]  # the first pays the imports


def _scores(rng: np.random.Generator, y: np.ndarray, d: float, shared: np.ndarray, rho: float) -> np.ndarray:
    return y * d + rho * shared + np.sqrt(1 - rho**2) * rng.normal(size=len(y))


def import_cost(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def decisions(runs: int, resamples: int, rows: int = 10_000) -> dict[str, dict[str, int]]:
    from scipy.stats import norm

    from modelkeep.services.evaluation.compare import ComparePolicy, MetricRule, compare
    from modelkeep.services.evaluation.metrics import CLASSIFICATION, Scored

    policy = ComparePolicy(data="sim@1", resamples=resamples, rules=[MetricRule(metric="auc", margin=0.0, min_samples=100)])
    d80, d82 = (np.sqrt(2) * norm.ppf(a) for a in (0.80, 0.82))
    out: dict[str, dict[str, int]] = {}
    for case in ("same model twice", "two models of equal AUC", "branch better by +0.02 AUC"):
        counts = {"pass": 0, "fail": 0, "inconclusive": 0}
        for i in range(runs):
            rng = np.random.default_rng(1000 + i)
            y = (rng.random(rows) < 0.3).astype(int)
            shared = rng.normal(size=rows)
            base = _scores(rng, y, d80, shared, 0.7)
            cand = base if case == "same model twice" else _scores(rng, y, d82 if "better" in case else d80, shared, 0.7)
            policy.seed = i
            verdict, _ = compare(policy, {"auc": CLASSIFICATION["auc"]}, Scored(y, (base > 0).astype(int), base),
                                 Scored(y, (cand > 0).astype(int), cand), None)
            counts[verdict] += 1
        out[case] = counts
        print(f"  {case}: {counts}", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    times = speed(args.rows, args.resamples)
    print(f"\n| mk merge, {args.rows:,} rows, {args.resamples:,} resamples, 3 metrics "
          "| wall s (min–max) | CPU-s (min–max) | goal |")
    print("|---|---|---|---|")
    for label, part in (("whole process (mk merge), 3 runs", times[:3]), ("in process, imports done, 3 runs", times[3:])):
        walls, cpus = [t[0] for t in part], [t[1] for t in part]
        print(f"| {label} | {min(walls):.2f}–{max(walls):.2f} | {min(cpus):.2f}–{max(cpus):.2f} | < 5 s |")
    plain, ours = import_cost("import skops.io"), import_cost("from modelkeep.flavors.skops_import import skops_io; skops_io()")
    print(f"\n(of each whole process: importing skops takes {ours:.2f} s as modelkeep imports it, from the names it "
          f"keeps in the user's cache; `python -c 'import skops.io'` takes {plain:.2f} s: it imports every scikit-learn "
          "estimator, and scikit-learn imports PyTorch where it is installed)")
    if args.runs <= 0:
        return
    found = decisions(args.runs, args.resamples)
    print(f"\n| {args.runs} simulated merges, 10,000 rows, AUC margin 0 | accepted | rejected | inconclusive | goal |")
    print("|---|---|---|---|---|")
    goals = {"same model twice": "never accepted", "two models of equal AUC": "(about 2.5 % by chance)",
             "branch better by +0.02 AUC": "accepted ≥ 90 %"}
    for case, c in found.items():
        print(f"| {case} | {c['pass']} | {c['fail']} | {c['inconclusive']} | {goals[case]} |")


if __name__ == "__main__":
    main()
