"""Lineage benchmark: upstream and downstream walks on a 100k-node graph.

    .venv/bin/python benchmarks/lineage.py [--backends sqlite postgres] [--queries 200]

The graph (bulk-inserted, seeded): 2,000 raw datasets → 20,000 derived datasets (each from 2
raw) → 40,000 runs (each reading 2 derived) → 38,000 model versions (each produced by a run and
trained on its 2 datasets; every 10th a composite of 2 earlier versions). 100,000 nodes,
about 240,000 edges. Prints p50/p99 of ``walk`` (the service behind ``mk lineage``) from random
model versions (upstream) and random raw datasets (downstream), in-process. Goal: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from modelkeep.meta.tables import LineageEdge, Model, ModelVersion  # noqa: E402
from modelkeep.services.runs.lineage import walk  # noqa: E402
from modelkeep.services.workspace import init_workspace  # noqa: E402
from modelkeep.version import MLVersion  # noqa: E402

RAW, DERIVED, RUNS, VERSIONS = 2_000, 20_000, 40_000, 38_000


def build(ws: object) -> None:
    db = ws.db  # type: ignore[attr-defined]
    rng = random.Random(5)
    now = datetime.now(UTC).replace(tzinfo=None)
    edges: list[dict[str, object]] = []

    def edge(kind: str, src: str, dst: str) -> None:
        edges.append({"kind": kind, "src": src, "dst": dst, "created_at": now})

    for d in range(DERIVED):
        for r in rng.sample(range(RAW), 2):
            edge("derived_from", f"dataset:raw-{r}@1", f"dataset:feat-{d}@1")
    run_inputs = []
    for run in range(1, RUNS + 1):
        inputs = rng.sample(range(DERIVED), 2)
        run_inputs.append(inputs)
        for d in inputs:
            edge("trained_on", f"dataset:feat-{d}@1", f"run:{run}")
    with db.writer() as session, session.begin():
        session.execute(insert(Model), [{"name": f"m{i}", "description": "", "created_at": now, "created_by": "b"}
                                        for i in range(100)])
    versions = []
    per_model = [0] * 100
    for v in range(1, VERSIONS + 1):
        model = v % 100
        per_model[model] += 1
        number = MLVersion(1, 0, per_model[model], 0, 0)
        versions.append({"id": v, "model_id": model + 1, "version": str(number), "sort_key": number.sort_key,
                         "status": "ready", "description": "", "artifact_size": 0, "bump": "patch", "reasons": [],
                         "created_at": now, "created_by": "b"})
        run = rng.randrange(1, RUNS + 1)
        edge("produced_by", f"run:{run}", f"model_version:{v}")
        for d in run_inputs[run - 1]:
            edge("trained_on", f"dataset:feat-{d}@1", f"model_version:{v}")
        if v % 10 == 0 and v > 2:
            for c in rng.sample(range(1, v), 2):
                edge("component_of", f"model_version:{c}", f"model_version:{v}")
    with db.writer() as session, session.begin():
        for i in range(0, len(versions), 5000):
            session.execute(insert(ModelVersion), versions[i : i + 5000])
        for i in range(0, len(edges), 20000):
            session.execute(insert(LineageEdge), edges[i : i + 20000])
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('model_versions', 'id'), (SELECT max(id) FROM model_versions))"
            )
        conn.exec_driver_sql("ANALYZE")
    print(f"  graph: {RAW + DERIVED + RUNS + VERSIONS:,} nodes, {len(edges):,} edges", file=sys.stderr)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("MODELKEEP_USER", "bench")
    rows = []
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as tmp:
            pg = None
            url = None
            if backend == "postgres":
                from tests.pgserver import PgServer

                pg = PgServer()
                pg.start()
                url = pg.create_database("lineage")
            ws, _ = init_workspace(Path(tmp), url)
            try:
                print(f"[{backend}] building the graph...", file=sys.stderr)
                build(ws)
                rng = random.Random(9)
                for label, starts, downstream in (
                    (
                        "upstream of a model version",
                        [f"model_version:{rng.randrange(1, VERSIONS)}" for _ in range(args.queries)],
                        False,
                    ),
                    ("downstream of a raw dataset", [f"dataset:raw-{rng.randrange(RAW)}@1" for _ in range(args.queries)], True),
                ):
                    times, sizes = [], []
                    for start in starts:
                        t = time.perf_counter()
                        graph = walk(ws.db, start, downstream=downstream)
                        times.append((time.perf_counter() - t) * 1000)
                        sizes.append(len(graph["nodes"]))
                    rows.append((backend, label, pct(times, 50), pct(times, 99), sum(sizes) / len(sizes)))
            finally:
                ws.close()
                if pg is not None:
                    pg.stop()
    print(f"\n{'db':<10}{'walk':<32}{'p50 ms':>9}{'p99 ms':>9}{'nodes/answer':>14}")
    print("-" * 74)
    for backend, label, p50, p99, size in rows:
        print(f"{backend:<10}{label:<32}{p50:>9.2f}{p99:>9.2f}{size:>14.0f}")
    print("\ngoal: p99 < 50 ms on a 100k-node graph (issue 4)")


if __name__ == "__main__":
    main()
