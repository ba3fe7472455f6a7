"""The registry at a million versions, on PostgreSQL (issue 17): every read p99 under 20 ms.

    .venv/bin/python benchmarks/registry_scale.py [--versions 1000000] [--models 10000] [-n 300]

A private PostgreSQL cluster (tests/pgserver.py) is filled by bulk inserts with VERSIONS
versions across MODELS models, the same rows ``benchmarks/ui.py`` makes (params, two metrics and a
tag per version, a ``production`` alias on every model, one model ``big`` of 5,000 versions, a
dataset that 499 of them were trained on), then VACUUM ANALYZE (what autovacuum does soon after).
Then, in process through the service interface (the layer both transports call), N times each,
p50 / p99 / max in milliseconds:

* register a version (metadata only), spread over the models
* get a version by alias (``model-NNNNN@production``, random models)
* search with a filter (``metrics.auc > 0.9 and tags.team = 'risk'``, limit 50)
* search ordered by a metric, within a model and across the registry (limit 50)
* lineage downstream of the dataset (500 nodes) and upstream of one version
* the web UI's list queries: the models page, one model's versions page (5,000 versions)

Filling a million versions takes a few minutes; ``--versions 100000`` checks the script quickly.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from registry import pct, timed  # noqa: E402
from ui import fill  # noqa: E402

from modelkeep.services.connection import LocalConnection  # noqa: E402
from modelkeep.services.models.browse import models_page, versions_page  # noqa: E402
from modelkeep.services.models.search import search_versions  # noqa: E402
from modelkeep.services.workspace import init_workspace  # noqa: E402

GOAL_MS = 20.0


def warm_timed(fn: Callable[[int], object], n: int) -> list[float]:
    fn(0)  # the first use of each statement is not counted
    return timed(fn, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("MODELKEEP_USER", "bench")
    from tests.pgserver import PgServer

    pg = PgServer()
    pg.start()
    rows: list[tuple[str, list[float], bool]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            ws, _ = init_workspace(tmp / "repo", pg.create_database("bench"))
            try:
                started = time.perf_counter()
                print(f"filling {args.versions:,} versions of {args.models:,} models ...", file=sys.stderr, flush=True)
                fill(ws, args.versions, args.models, tmp)
                print(f"filled in {time.perf_counter() - started:,.0f} s", file=sys.stderr, flush=True)
                conn = LocalConnection(ws)
                # as `mk server` does once it has started: long-lived objects out of the collector's
                # reach, so a full collection does not walk them in the middle of a request
                gc.collect()
                gc.freeze()
                rng = random.Random(17)
                names = [f"model-{m:05d}" for m in range(1, args.models)]
                n = args.n
                rows.append(("register (metadata only)", warm_timed(lambda i: conn.registry.register(
                    names[i % len(names)], params={"depth": i % 12}, metrics={"auc": 0.9}, tags={"team": "risk"}), n), False))
                rows.append(("get by alias", warm_timed(lambda i: conn.registry.get(f"{rng.choice(names)}@production"), n), True))
                rows.append(("search, filter, limit 50", warm_timed(lambda i: search_versions(
                    ws.db, "metrics.auc > 0.9 and tags.team = 'risk'", limit=50), n), True))
                rows.append(("search in a model by metric", warm_timed(lambda i: search_versions(
                    ws.db, "name = 'big'", order_by="metrics.auc desc", limit=50), n), True))
                rows.append(("search all by metric", warm_timed(lambda i: search_versions(
                    ws.db, "tags.team = 'risk'", order_by="metrics.auc desc", limit=50), n), True))
                rows.append(("lineage down, 500 nodes", warm_timed(lambda i: conn.lineage.lineage(
                    "dataset:train@1", downstream=True), n), True))
                rows.append(("lineage up, one version", warm_timed(lambda i: conn.lineage.lineage(
                    "big@1.0.7.0.0"), n), True))
                rows.append(("UI: models page", warm_timed(lambda i: models_page(ws.db), n), True))
                rows.append(("UI: models page, filtered", warm_timed(lambda i: models_page(
                    ws.db, "metrics.auc > 0.95 and tags.team = 'risk'"), n), True))
                rows.append(("UI: a model's versions page", warm_timed(lambda i: versions_page(ws.db, "big"), n), True))
            finally:
                ws.close()
    finally:
        pg.stop()
    print(f"\nPostgreSQL, {args.versions:,} versions across {args.models:,} models, N={args.n}, in process")
    print(f"{'operation':<32}{'p50':>9}{'p99':>9}{'max':>9}  goal")
    print("-" * 72)
    for label, values, read in rows:
        verdict = (f"p99 < {GOAL_MS:.0f} ms: " + ("met" if pct(values, 99) < GOAL_MS else "NOT met")) if read else ""
        print(f"{label:<32}{pct(values, 50):>9.2f}{pct(values, 99):>9.2f}{max(values):>9.2f}  {verdict}")


if __name__ == "__main__":
    main()
