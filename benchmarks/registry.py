"""Registry benchmark: register / show-by-alias / search latency at 1k and 100k versions.

    .venv/bin/python benchmarks/registry.py [--sizes 1000 100000] [--backends sqlite postgres]

For each database and size: the registry is filled to SIZE versions (the first 1,000 through
``Registry.register``; beyond that by bulk inserts of the same shape of rows, so that filling
100k takes seconds, not minutes), then it measures, in-process:

* register, metadata only (params, metrics, tags) — N=300
* register with a small (4 KiB) artifact file — N=300
* show by alias (``fraud@production``) — N=500
* search with a filter (``metrics.auc > 0.9 and tags.team = 'risk'``, limit 50) — N=200
* search ordered by a metric (``metrics.auc desc``, limit 50) — N=100

and prints versions/s and p50/p99 beside MLflow's figures from ``shared/bench/README.md``.
Also times ``mk --help`` and a no-op command as whole processes. PostgreSQL runs on a private
cluster started for the run (tests/pgserver.py).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from modelkeep.meta.tables import (  # noqa: E402
    Model,
    ModelVersion,
    VersionMetric,
    VersionParam,
    VersionTag,
)
from modelkeep.services.models.search import search_versions  # noqa: E402
from modelkeep.services.workspace import Workspace, init_workspace  # noqa: E402
from modelkeep.version import MLVersion  # noqa: E402

MLFLOW = {
    "register": "16.9 versions/s, p50 59.9 ms (HTTP)",
    "show by alias": "p50 52.0 / p99 56.1 ms",
    "search": "1,000 rows: p50 125 / p99 375 ms",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def timed(fn: Callable[[int], object], n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def bulk_fill(ws: Workspace, target: int) -> None:
    """Insert versions of 100 models directly until the registry holds ``target`` versions."""
    with ws.db.writer() as session, session.begin():
        have = session.scalar(select(ModelVersion.id).order_by(ModelVersion.id.desc()).limit(1)) or 0
        count = len(session.scalars(select(ModelVersion.id)).all())
    if count >= target:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    rng = random.Random(1)
    batch = 5000
    next_id = have + 1
    remaining = target - count
    with ws.db.writer() as session, session.begin():
        models = []
        for m in range(100):
            models.append({"name": f"bulk-{m}", "description": "", "created_at": now, "created_by": "bench"})
        session.execute(insert(Model), models)
        model_ids = session.scalars(select(Model.id).where(Model.name.like("bulk-%"))).all()
    per_model = {mid: 0 for mid in model_ids}
    while remaining > 0:
        n = min(batch, remaining)
        versions, params, metrics, tags = [], [], [], []
        for _ in range(n):
            mid = model_ids[next_id % len(model_ids)]
            per_model[mid] += 1
            v = MLVersion(1, 0, per_model[mid], 0, 0)
            versions.append({
                "id": next_id, "model_id": mid, "version": str(v), "sort_key": v.sort_key, "status": "ready",
                "description": "", "artifact_size": 0, "bump": "patch", "reasons": ["bulk"],
                "created_at": now, "created_by": "bench",
            })
            params.append({"version_id": next_id, "key": "depth", "value": str(next_id % 12), "value_num": next_id % 12})
            metrics.append({"version_id": next_id, "model_id": mid, "key": "auc", "dataset": "", "split": "",
                            "value": rng.uniform(0.5, 0.99)})
            tags.append({"version_id": next_id, "key": "team", "value": rng.choice(["risk", "growth", "ops", "ads"])})
            next_id += 1
        with ws.db.writer() as session, session.begin():
            session.execute(insert(ModelVersion), versions)
            session.execute(insert(VersionParam), params)
            session.execute(insert(VersionMetric), metrics)
            session.execute(insert(VersionTag), tags)
        remaining -= n
    with ws.db.engine.begin() as conn:
        if ws.db.dialect == "postgresql":  # explicit ids above do not advance the sequence
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('model_versions', 'id'), (SELECT max(id) FROM model_versions))"
            )
        conn.exec_driver_sql("ANALYZE")


def run_size(ws: Workspace, size: int, tmp: Path) -> list[tuple[str, str, str]]:
    reg = ws.registry
    rng = random.Random(size)
    have = len(reg.list_versions("fraud")) if any(m.name == "fraud" for m in reg.list_models()) else 0
    while have < min(size, 1000):
        reg.register("fraud", params={"depth": have % 12}, metrics={"auc": rng.uniform(0.5, 0.99)},
                     tags={"team": rng.choice(["risk", "growth"])})
        have += 1
    bulk_fill(ws, size)
    reg.set_alias("fraud@latest", "production")
    artifact = tmp / "small.bin"
    rows = []
    meta = timed(lambda i: reg.register("fraud", params={"depth": i % 12, "lr": i}, metrics={"auc": 0.9},
                                        tags={"team": "risk"}), 300)
    rows.append(("register, metadata only", meta))
    def with_artifact(i: int) -> None:
        artifact.write_bytes(os.urandom(4096))
        reg.register("fraud", artifact, params={"depth": i % 12, "lr": i}, metrics={"auc": 0.9})
    rows.append(("register, 4 KiB artifact", timed(with_artifact, 300)))
    rows.append(("show by alias", timed(lambda i: reg.get("fraud@production"), 500)))
    flt = "metrics.auc > 0.9 and tags.team = 'risk'"
    rows.append(("search filter, limit 50", timed(lambda i: search_versions(ws.db, flt, limit=50), 200)))
    rows.append(("search order metrics.auc desc", timed(
        lambda i: search_versions(ws.db, "name = 'fraud'", order_by="metrics.auc desc", limit=50), 100)))
    out = []
    for label, values in rows:
        rate = f"{1000 / statistics.mean(values):,.0f}/s" if label.startswith("register") else ""
        out.append((label, f"{pct(values, 50):.2f} / {pct(values, 99):.2f}", rate))
    return out


def process_times() -> list[tuple[str, float]]:
    mk = str(Path(sys.executable).with_name("mk"))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([mk, "init", tmp], capture_output=True, check=True)
        for label, args in (("mk --help", ["--help"]), ("mk config get (no-op)", ["config", "get", "user.name", "--json"])):
            values = []
            for _ in range(10):
                start = time.perf_counter()
                subprocess.run([mk, *args], cwd=tmp, capture_output=True)
                values.append(time.perf_counter() - start)
            out.append((label, statistics.median(values)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    os.environ.setdefault("MODELKEEP_USER", "bench")
    results: list[tuple[str, int, str, str, str]] = []
    pg = None
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            url = None
            if backend == "postgres":
                from tests.pgserver import PgServer

                pg = PgServer()
                pg.start()
                url = pg.create_database("bench")
            ws, _ = init_workspace(tmp, url)
            try:
                for size in sorted(args.sizes):
                    print(f"[{backend}] filling to {size:,} versions and measuring...", file=sys.stderr, flush=True)
                    for label, p, rate in run_size(ws, size, tmp):
                        results.append((backend, size, label, p, rate))
            finally:
                ws.close()
                if pg is not None:
                    pg.stop()
                    pg = None
    print(f"\n{'db':<9}{'versions':>9}  {'operation':<32}{'p50 / p99 ms':>18}  {'rate':>8}")
    print("-" * 80)
    for backend, size, label, p, rate in results:
        print(f"{backend:<9}{size:>9,}  {label:<32}{p:>18}  {rate:>8}")
    print("\nprocess start-up (median of 10):")
    for label, seconds in process_times():
        print(f"  {label:<28}{seconds * 1000:7.0f} ms")
    print("\nMLflow 3.17 anchor (shared/bench/README.md, over HTTP, SQLite):")
    for label, text in MLFLOW.items():
        print(f"  {label:<16}{text}")


if __name__ == "__main__":
    main()
