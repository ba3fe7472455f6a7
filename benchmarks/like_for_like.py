"""The registry server like for like: one raw HTTP client against ``mk server`` and ``mlflow server``.

    .venv/bin/python benchmarks/like_for_like.py [--versions 1000] [--reads 200] [--reps 2]

Both servers start fresh as whole processes (SQLite each, as ``benchmarks/mlflow_compat.py`` starts
them; MLflow 3 from ``.venv-clients/mlflow3``), and both are driven through the same REST calls of
MLflow's API, which both serve, by the same client: ``http.client`` on one kept-alive connection per
server with TCP_NODELAY, so neither server pays for the client (MLflow's own client loses ~40 ms a
call to a delayed-ACK stall on some calls, and spends 1.5-3 ms per call itself). The servers take
turns call by call (A B A B), in an order that swaps every call. Per operation: p50 and p99 of each
server (the min-max over repetitions), the ratio, and each server's CPU-seconds and start-up to
/health. Goals (issue 17): create and alias reads >= 5x MLflow's server; a search returning 1,000
versions <= 0.3x its time; start-up under 1 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import mlflow_compat  # noqa: E402
from server import pct  # noqa: E402
from tests import client_venvs  # noqa: E402

API = "/api/2.0/mlflow"
OPERATIONS = ("create_model_version", "set_alias", "get_by_alias", "get_version", "search_versions")


class Client:
    """One kept-alive connection to one server; every call is one request, its answer read whole."""

    def __init__(self, url: str, token: str | None) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
        self.conn.connect()
        assert self.conn.sock is not None
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             query: dict[str, str] | None = None) -> dict[str, Any]:
        target = API + path + (f"?{urlencode(query)}" if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, target, body=payload, headers=self.headers)
        answer = self.conn.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{method} {target}: {answer.status} {data[:300]!r}")
        return json.loads(data) if data else {}

    def put_file(self, path: str, data: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k != "Content-Type"}
        self.conn.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{path}", body=data, headers=headers)
        answer = self.conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"PUT {path}: {answer.status}")


def prepare(client: Client, name: str) -> tuple[str, str]:
    """An experiment, a run with a model file, and a registered model: what each create registers."""
    experiment = client.call("POST", "/experiments/create", {"name": "bench"})["experiment_id"]
    info = client.call("POST", "/runs/create", {"experiment_id": experiment, "start_time": int(time.time() * 1000)})
    run_id, uri = info["run"]["info"]["run_id"], info["run"]["info"]["artifact_uri"]
    prefix = uri.split("mlflow-artifacts:", 1)[1].lstrip("/")
    client.put_file(f"{prefix}/model/weights.txt", b"tiny model\n")
    client.call("POST", "/registered-models/create", {"name": name})
    return run_id, f"runs:/{run_id}/model"


def workload(clients: dict[str, Client], versions: int, reads: int) -> dict[str, dict[str, list[float]]]:
    name = f"bench-{int(time.time() * 1000)}"
    sources = {kind: prepare(client, name) for kind, client in clients.items()}
    out: dict[str, dict[str, list[float]]] = {kind: {op: [] for op in OPERATIONS} for kind in clients}
    kinds = list(clients)

    def turn(op: str, index: int, call: Any) -> None:
        for kind in kinds if index % 2 == 0 else kinds[::-1]:  # A B, then B A: neither always goes first
            start = time.perf_counter()
            call(kind, clients[kind])
            out[kind][op].append(time.perf_counter() - start)

    for i in range(versions):
        turn("create_model_version", i, lambda kind, c: c.call("POST", "/model-versions/create", {
            "name": name, "source": sources[kind][1], "run_id": sources[kind][0]}))
    for i in range(reads):
        version = str(1 + i % versions)
        turn("set_alias", i, lambda kind, c, v=version: c.call("POST", "/registered-models/alias",
                                                         {"name": name, "alias": "champion", "version": v}))
        turn("get_by_alias", i, lambda kind, c: c.call("GET", "/registered-models/alias",
                                                       query={"name": name, "alias": "champion"}))
        turn("get_version", i, lambda kind, c, v=version: c.call("GET", "/model-versions/get",
                                                           query={"name": name, "version": v}))
    for i in range(max(1, reads // 10)):
        def search(kind: str, c: Client) -> None:
            found = c.call("GET", "/model-versions/search", query={"filter": f"name='{name}'",
                                                                    "max_results": str(versions)})
            assert len(found["model_versions"]) == versions, (kind, len(found["model_versions"]))
        turn("search_versions", i, search)
    return out


def span(values: list[float], digits: int = 1) -> str:
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}"


@contextmanager
def both_servers(rep: int, python: Path, versions: int) -> Iterator[tuple[dict[str, Client], dict[str, int]]]:
    """``mk server`` and ``mlflow server`` started fresh in scratch folders (which starts first alternates
    with ``rep``): a client of each by kind, in name order, and each server's process id; both stopped after."""
    with tempfile.TemporaryDirectory(prefix="bench-mk-") as a, tempfile.TemporaryDirectory(prefix="bench-mlflow-") as b:
        procs, clients = [], {}
        try:
            order = [("mk", Path(a)), ("mlflow", Path(b))]
            for kind, scratch in order if rep % 2 == 0 else order[::-1]:
                proc, url, token = mlflow_compat.start(kind, scratch, python, versions)
                procs.append((kind, proc))
                clients[kind] = Client(url, token)
            yield dict(sorted(clients.items())), {kind: proc.pid for kind, proc in procs}
        finally:
            for _, proc in procs:
                proc.terminate()
                proc.wait(timeout=30)


Timings = dict[str, dict[str, list[float]]]  # server -> operation -> seconds of each call


def repeated(reps: int, versions: int,
             prepare: Callable[[dict[str, Client], int], Callable[[], Timings]]) -> tuple[list[Timings], dict[str, list[float]]]:
    """Each repetition on fresh servers (``both_servers``): ``prepare(clients, rep)`` fills them (untimed)
    and returns the workload, which is timed call by call and by the servers' CPU-seconds."""
    python = client_venvs.ensure("mlflow3")
    results: list[Timings] = []
    cpu: dict[str, list[float]] = {"mk": [], "mlflow": []}
    for rep in range(reps):
        with both_servers(rep, python, versions) as (clients, pids):
            work = prepare(clients, rep)
            before = {kind: mlflow_compat.cpu_seconds(pid) for kind, pid in pids.items()}
            results.append(work())
            for kind, pid in pids.items():
                cpu[kind].append(mlflow_compat.cpu_seconds(pid) - before[kind])
    return results, cpu


def p50_cells(results: list[Timings], op: str) -> str:
    """``| op | mk p50 | mlflow p50 | each repetition's ratio |`` cells (ms, min–max over repetitions)."""
    mine = [statistics.median(r["mk"][op]) * 1000 for r in results]
    theirs = [statistics.median(r["mlflow"][op]) * 1000 for r in results]
    ratios = [t / m for m, t in zip(mine, theirs, strict=True)]  # each repetition's own ratio
    return f"| {op} | {span(mine)} | {span(theirs)} | {min(ratios):.2f}–{max(ratios):.2f}x |"


def cpu_cells(label: str, cpu: dict[str, list[float]]) -> str:
    """``| label | mk CPU-s | mlflow CPU-s | ratio |`` cells (min–max over repetitions)."""
    ratios = [t / m for m, t in zip(cpu["mk"], cpu["mlflow"], strict=True)]
    return f"| {label} | {span(cpu['mk'], 2)} | {span(cpu['mlflow'], 2)} | {span(ratios)}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    results, cpu = repeated(args.reps, args.versions, lambda clients, rep: (
        lambda: workload(clients, args.versions, args.reads)))
    print(f"One raw HTTP client (http.client, kept alive, TCP_NODELAY), the servers taking turns call by call: "
          f"{args.versions} versions, {args.reads} reads, {args.reps} reps (ms, min–max over reps)")
    print("| operation | mk p50 | mlflow p50 | mlflow / mk (p50, each rep) | mk p99 | mlflow p99 |")
    print("|---|---|---|---|---|---|")
    for op in OPERATIONS:
        print(f"{p50_cells(results, op)} {span([pct(r['mk'][op], 99) * 1000 for r in results])} | "
              f"{span([pct(r['mlflow'][op], 99) * 1000 for r in results])} |")
    print(cpu_cells("server CPU-s, whole workload", cpu) + " | |")
    started = mlflow_compat.STARTED
    print(f"| start-up to /health, s | {span(started['mk'], 2)} | {span(started['mlflow'], 2)} | | | |")


if __name__ == "__main__":
    main()
