"""MLflow's run search like for like: one raw HTTP client against ``mk server`` and ``mlflow server``.

    .venv/bin/python benchmarks/runs_search.py [--runs 1000] [--searches 20] [--reps 2]

What ``mlflow.search_runs`` and the MLflow UI's experiment page ask for: an experiment of ``runs``
runs, each logged by one ``runs/log-batch`` (10 params, 3 tags, 5 metrics of 20 steps), then
``runs/search`` for the whole experiment (1,000 a page) and for a filtered, ordered page of 100
(``metrics.m0 > 0.5``, by ``metrics.m1 DESC``). Both servers start fresh as whole processes (as
``benchmarks/like_for_like.py`` starts them) and are driven by the same client (``like_for_like.Client``),
taking turns call by call in an order that swaps every call. Per operation: each server's p50 (the
min-max over repetitions) and each repetition's ratio; the servers' CPU-seconds for the searches.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from like_for_like import Client, Timings, cpu_cells, p50_cells, repeated  # noqa: E402

OPERATIONS = ("search_all", "search_filtered")


def fill(clients: dict[str, Client], runs: int, seed: int) -> dict[str, str]:
    """An experiment of ``runs`` runs on each server, each run logged in one batch, the servers taking
    turns run by run (a kept-alive connection left idle longer than the server's keep-alive is closed)."""
    experiments = {kind: str(c.call("POST", "/experiments/create", {"name": "search"})["experiment_id"])
                   for kind, c in clients.items()}
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    for i in range(runs):
        batch = {
            "params": [{"key": f"p{k}", "value": str(rng.randint(1, 100))} for k in range(10)],
            "tags": [{"key": f"t{k}", "value": f"v{rng.randint(1, 5)}"} for k in range(3)],
            "metrics": [{"key": f"m{k}", "value": rng.random(), "timestamp": now + step, "step": step}
                        for k in range(5) for step in range(20)],
        }
        for kind, c in clients.items():  # the same runs on both
            created = c.call("POST", "/runs/create", {"experiment_id": experiments[kind], "start_time": now + i})
            run_id = created["run"]["info"]["run_id"]
            c.call("POST", "/runs/log-batch", {"run_id": run_id, **batch})
            c.call("POST", "/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": now + i + 1})
    return experiments


def workload(clients: dict[str, Client], experiments: dict[str, str], runs: int,
             searches: int) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {kind: {op: [] for op in OPERATIONS} for kind in clients}
    kinds = list(clients)
    calls = {
        "search_all": lambda kind: {"experiment_ids": [experiments[kind]], "max_results": 1000},
        "search_filtered": lambda kind: {"experiment_ids": [experiments[kind]], "filter": "metrics.m0 > 0.5",
                                         "order_by": ["metrics.m1 DESC"], "max_results": 100},
    }
    for i in range(searches):
        for op, body in calls.items():
            for kind in kinds if i % 2 == 0 else kinds[::-1]:
                started = time.perf_counter()
                found: Any = clients[kind].call("POST", "/runs/search", body(kind))
                out[kind][op].append(time.perf_counter() - started)
                want = min(runs, 1000) if op == "search_all" else None
                assert want is None or len(found["runs"]) == want, (kind, op, len(found["runs"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=20)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()

    def prepare(clients: dict[str, Client], rep: int) -> Callable[[], Timings]:
        experiments = fill(clients, args.runs, seed=rep)
        return lambda: workload(clients, experiments, args.runs, args.searches)

    results, cpu = repeated(args.reps, 0, prepare)
    print(f"One raw HTTP client, the servers taking turns call by call: {args.runs} runs (10 params, 3 tags, "
          f"5 metrics x 20 steps), {args.searches} searches of each kind, {args.reps} reps (ms, min–max over reps)")
    print("| operation | mk p50 | mlflow p50 | mlflow / mk (p50, each rep) |")
    print("|---|---|---|---|")
    for op in OPERATIONS:
        print(p50_cells(results, op))
    print(cpu_cells("server CPU-s, the searches", cpu))


if __name__ == "__main__":
    main()
