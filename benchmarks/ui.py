"""Web UI benchmark (issue 15): server time and page size of the main pages on a large registry,
and time to first render in Chromium.

    .venv/bin/python benchmarks/ui.py [--backends sqlite postgres] [--versions 200000] [--models 2000] [-n 40]

The registry (bulk-inserted, seeded): MODELS models sharing VERSIONS versions, one of them
(``big``) with 5,000 versions, a ``production`` alias on every model and 60 alias moves on
``big``; a dataset ``train@1`` that 499 versions of ``big`` were trained on (a lineage of 500
nodes). ``mk server``'s app is served by uvicorn on a loopback port in this process; each page
is fetched N times over HTTP with a signed-in session (p50 / p95 / max of the wall time the
client sees: server time plus loopback), then Debian's chromium (Playwright) loads each page 5
times and reports first contentful paint and, for the chart and the graph, the time until they
are drawn. Goals: p95 < 150 ms, HTML < 200 KB, first render < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from modelkeep.meta.tables import (  # noqa: E402
    Alias,
    AliasChange,
    LineageEdge,
    Model,
    ModelVersion,
    VersionMetric,
    VersionParam,
    VersionTag,
)
from modelkeep.services.workspace import Workspace, init_workspace  # noqa: E402
from modelkeep.version import MLVersion  # noqa: E402

BIG = 5_000
LINEAGE = 499


def bulk_insert(ws: Workspace, table: Any, rows: list[dict[str, Any]]) -> None:
    """Rows into a table: by COPY on PostgreSQL (a million versions in a few minutes), else INSERT."""
    if ws.db.dialect != "postgresql":
        with ws.db.writer() as session, session.begin():
            session.execute(insert(table), rows)
        return
    columns = [c.name for c in table.__table__.columns if c.key in rows[0] or c.name in rows[0]]
    keys = {c.name: c.key for c in table.__table__.columns}
    raw = ws.db.engine.raw_connection()
    try:
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.__tablename__} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_copy_value(row[keys[c]]) for c in columns])
        raw.commit()
    finally:
        raw.close()


def _copy_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def fill(ws: Workspace, versions: int, models: int, tmp: Path) -> None:
    rng = random.Random(15)
    now = datetime.now(UTC).replace(tzinfo=None)
    with ws.db.writer() as session, session.begin():
        session.execute(insert(Model), [{"name": "big" if m == 0 else f"model-{m:05d}", "description": "",
                                         "created_at": now, "created_by": "bench", "tags": {"owner": f"team-{m % 9}"}}
                                        for m in range(models)])
        ids = list(session.scalars(select(Model.id).order_by(Model.id)))
    big_id, others = ids[0], ids[1:]
    plan = [big_id] * BIG + [others[i % len(others)] for i in range(versions - BIG)]
    counters = dict.fromkeys(ids, 0)
    next_id, latest = 1, {}
    for start in range(0, len(plan), 10_000):
        rows, params, metrics, tags = [], [], [], []
        for mid in plan[start:start + 10_000]:
            counters[mid] += 1
            v = MLVersion(1, 0, counters[mid] - 1, 0, 0)
            rows.append({"id": next_id, "model_id": mid, "version": str(v), "sort_key": v.sort_key, "seq": counters[mid],
                         "status": "ready", "description": "", "artifact_size": 0, "bump": "patch",
                         "reasons": ["hyperparameters changed: depth"], "created_at": now + timedelta(seconds=next_id),
                         "created_by": "bench"})
            params.append({"version_id": next_id, "key": "depth", "value": str(next_id % 12), "value_num": next_id % 12})
            metrics.append({"version_id": next_id, "model_id": mid, "key": "auc", "dataset": "", "split": "",
                            "value": rng.uniform(0.5, 0.99)})
            metrics.append({"version_id": next_id, "model_id": mid, "key": "auc", "dataset": "eval", "split": "test",
                            "value": rng.uniform(0.5, 0.99)})
            tags.append({"version_id": next_id, "key": "team", "value": rng.choice(["risk", "growth", "ops"])})
            latest[mid] = (next_id, str(v))
            next_id += 1
        for table, batch in ((ModelVersion, rows), (VersionParam, params), (VersionMetric, metrics), (VersionTag, tags)):
            bulk_insert(ws, table, batch)
        if (start // 10_000) % 10 == 9 or start + 10_000 >= len(plan):
            print(f"  {min(start + 10_000, len(plan)):,} versions", file=sys.stderr, flush=True)
    with ws.db.writer() as session, session.begin():
        session.execute(insert(Alias), [{"model_id": mid, "name": "production", "version_id": vid, "updated_at": now,
                                         "updated_by": "bench"} for mid, (vid, _v) in latest.items()])
        session.execute(insert(AliasChange), [{"model_id": big_id, "alias": "production", "version": f"1.0.{i * 80}.0.0",
                                               "previous": f"1.0.{(i - 1) * 80}.0.0" if i else None,
                                               "at": now + timedelta(minutes=i), "actor": "bench",
                                               "via": ("promotion", "rollback", "direct")[i % 3]} for i in range(60)])
    data = tmp / "train.csv"
    data.write_text("a,b\n1,2\n")
    ws.datasets.add(data, "train")
    with ws.db.writer() as session, session.begin():
        session.execute(insert(LineageEdge), [{"kind": "trained_on", "src": "dataset:train@1", "dst": f"model_version:{i}",
                                               "created_at": now} for i in range(1, LINEAGE + 1)])
    with ws.db.engine.begin() as conn:
        # each model's last version number, as registering keeps it (a later register takes the next)
        conn.exec_driver_sql("UPDATE models SET last_seq = (SELECT coalesce(max(seq), 0) FROM model_versions "
                             "WHERE model_versions.model_id = models.id)")
        if ws.db.dialect == "postgresql":
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('model_versions', 'id'), "
                                 "(SELECT max(id) FROM model_versions))")
        if ws.db.dialect != "postgresql":
            conn.exec_driver_sql("ANALYZE")
    if ws.db.dialect == "postgresql":
        # what autovacuum does to a live registry soon after a bulk load (visibility map, statistics):
        # measured without it, every index-only scan reads the heap as well
        with ws.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


PAGES = [
    ("models (page 1)", "/ui/models"),
    ("models, filtered", "/ui/models?filter=metrics.auc%20%3E%200.95%20and%20tags.team%20%3D%20%27risk%27"),
    ("model, 5,000 versions", "/ui/models/big"),
    ("  its chart data (JSON)", "/ui/models/big/timeline.json?metric=auc"),
    ("version", "/ui/models/big/versions/1.0.2500.0.0"),
    ("lineage, 500 nodes", "/ui/lineage?ref=dataset:train@1&direction=down"),
    ("  its graph data (JSON)", "/ui/lineage.json?ref=dataset:train@1&direction=down"),
    ("approvals", "/ui/approvals"),
    ("audit", "/ui/audit"),
]


def serve(ws: Workspace) -> tuple[str, Any]:
    import uvicorn

    from modelkeep.api.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ws, dispatch_webhooks=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    while not server.started:
        time.sleep(0.05)
    return url, server


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def measure(url: str, token: str, n: int) -> list[tuple[str, str, int]]:
    out = []
    with httpx.Client(base_url=url, cookies={"mk_session": token}, timeout=60) as client:
        for label, path in PAGES:
            client.get(path).raise_for_status()  # warm
            times = []
            for _ in range(n):
                start = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                response.raise_for_status()
            out.append((label, f"{statistics.median(times):6.1f} / {pct(times, 95):6.1f} / {max(times):6.1f}",
                        len(response.content)))
    return out


FIRST_PAINT = """() => new Promise(done => new PerformanceObserver((list, observer) => {
    const fcp = list.getEntriesByName('first-contentful-paint')[0];
    if (fcp) { observer.disconnect(); done(fcp.startTime); }
}).observe({type: 'paint', buffered: true}))"""


def render(url: str, token: str) -> list[tuple[str, str]]:
    chromium = shutil.which("chromium")
    if chromium is None:
        return [("(chromium not installed: scripts/ensure-chromium.sh)", "")]
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.add_cookies([{"name": "mk_session", "value": token, "url": url + "/ui/"}])
        page = context.new_page()
        for label, path, ready in (("models", "/ui/models", None), ("model + chart", "/ui/models/big", "#timeline[data-ready]"),
                                   ("version", "/ui/models/big/versions/1.0.2500.0.0", None),
                                   ("lineage + graph", "/ui/lineage?ref=dataset:train@1&direction=down", "#graph[data-ready]")):
            paints, drawn = [], []
            for _ in range(5):
                start = time.perf_counter()
                page.goto(url + path, wait_until="load")
                paints.append(page.evaluate(FIRST_PAINT))
                if ready:
                    page.wait_for_selector(ready, timeout=30_000)
                    drawn.append((time.perf_counter() - start) * 1000)
            text = f"first paint {statistics.median(paints):5.0f} ms (max {max(paints):5.0f})"
            if drawn:
                text += f", drawn {statistics.median(drawn):5.0f} ms (max {max(drawn):5.0f})"
            results.append((label, text))
        browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--versions", type=int, default=200_000)
    parser.add_argument("--models", type=int, default=2_000)
    parser.add_argument("-n", type=int, default=40, help="requests per page")
    args = parser.parse_args()
    os.environ.setdefault("MODELKEEP_USER", "bench")
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp, pg, url = Path(tmp_name), None, None
            if backend == "postgres":
                from tests.pgserver import PgServer

                pg = PgServer()
                pg.start()
                url = pg.create_database("bench")
            ws, _ = init_workspace(tmp / "repo", url)
            try:
                print(f"[{backend}] filling {args.versions:,} versions of {args.models:,} models...", file=sys.stderr)
                fill(ws, args.versions, args.models, tmp)
                from modelkeep.api.app import bootstrap

                token = bootstrap(ws)
                assert token
                base, server = serve(ws)
                pages = measure(base, token, args.n)
                paints = render(base, token)
                server.should_exit = True
            finally:
                ws.close()
                if pg is not None:
                    pg.stop()
            print(f"\n{backend}: {args.versions:,} versions, {args.models:,} models (N={args.n} per page, over loopback HTTP)")
            print(f"{'page':<28}{'p50 / p95 / max ms':>26}{'bytes':>10}  goal")
            print("-" * 78)
            for label, times, size in pages:
                goal = "p95 < 150 ms" + ("" if label.startswith("  ") else ", < 200 KB")
                print(f"{label:<28}{times:>26}{size:>10,}  {goal}")
            print("Chromium (median of 5 loads; goal < 1,000 ms):")
            for label, text in paints:
                print(f"  {label:<26}{text}")


if __name__ == "__main__":
    main()
