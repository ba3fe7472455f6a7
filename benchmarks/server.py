"""Server benchmark: the MLflow anchor's workload against ``mk server``, through our SDK client.

    .venv/bin/python benchmarks/server.py [--backends sqlite postgres]

Per backend, a fresh repository and server process: start-up to /health, idle RSS, then 1,000
sequential registers of one model (metadata), 200 calls each of get-by-alias, get, search
returning all 1,000 versions, set-alias; then 4 concurrent writer processes × 250 versions (one
model each). Prints p50/p99 beside MLflow 3.17's figures (shared/bench/README.md, SQLite).
MLflow's figures here are its own, from another day: ``benchmarks/like_for_like.py`` runs both
servers in one invocation through one raw HTTP client, call by call. Then (``--soak``) two server
processes on one PostgreSQL database and store take 32 concurrent clients for a minute: errors,
acknowledged vs stored writes, and whether both answer alike.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MK = [sys.executable, "-m", "modelkeep.cli.main"]
MLFLOW = {
    "start-up to /health": "12.6 s", "idle RSS": "3.0 GiB (15 processes)",
    "register (sequential)": "16.9 versions/s, p50 59.9 / p99 67.6 ms",
    "get by alias": "p50 52.0 / p99 56.1 ms", "get version": "p50 52.1 / p99 56.3 ms",
    "search 1,000 versions": "p50 125 / p99 375 ms", "set alias": "p50 135.9 / p99 348.2 ms",
    "4 concurrent writers": "62.2 versions/s, 0 errors",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def writer(url: str, token: str, index: int, count: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from modelkeep.client import RemoteRegistry

    client = RemoteRegistry(url, token)
    errors = 0
    for i in range(count):
        try:
            client.register(f"writer-{index}", params={"i": i}, metrics={"auc": 0.5})
        except Exception:
            errors += 1
    client.close()
    queue.put(errors)


def rss_of_tree(pid: int) -> int:
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True).stdout
    return sum(int(x) for x in out.split()) * 1024


def run_backend(backend: str) -> list[tuple[str, str]]:
    from modelkeep.client import RemoteRegistry

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        pg = None
        env = {**os.environ, "MODELKEEP_USER": "bench"}
        for name in ("MODELKEEP_URL", "MODELKEEP_TOKEN", "MODELKEEP_HOME"):
            env.pop(name, None)
        init = [*MK, "init"]
        if backend == "postgres":
            from tests.pgserver import PgServer

            pg = PgServer()
            pg.start()
            init += ["--db", pg.create_database("server_bench")]
        subprocess.run(init, cwd=tmp, env=env, check=True, capture_output=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        start = time.perf_counter()
        proc = subprocess.Popen([*MK, "server", "--port", str(port), "--bootstrap-token-file", "tok"], cwd=tmp, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.02)
            rows.append(("start-up to /health", f"{time.perf_counter() - start:.2f} s"))
            time.sleep(1.0)
            rows.append(("idle RSS", f"{rss_of_tree(proc.pid) / 2**20:.0f} MiB (1 process)"))
            token = (Path(tmp) / "tok").read_text().strip()
            client = RemoteRegistry(url, token)
            reg = timed(lambda i: client.register("fraud", params={"i": i}, metrics={"auc": 0.5 + i / 4000}), 1000)
            rows.append(
                (
                    "register (sequential)",
                    f"{1000 / (sum(reg) / 1000):.0f} versions/s, p50 {pct(reg, 50):.1f} / p99 {pct(reg, 99):.1f} ms",
                )
            )
            client.set_alias("fraud@1.0.5", "champion")
            for label, fn in (
                ("get by alias", lambda i: client.get("fraud@champion")),
                ("get version", lambda i: client.get(f"fraud@1.0.{i}")),
                ("search 1,000 versions", lambda i: client.search("name = 'fraud'", limit=1000)),
                ("set alias", lambda i: client.set_alias(f"fraud@1.0.{i}", "champion")),
            ):
                values = timed(fn, 200)
                rows.append((label, f"p50 {pct(values, 50):.1f} / p99 {pct(values, 99):.1f} ms"))
            client.close()
            queue: mp.Queue = mp.get_context("spawn").Queue()  # type: ignore[type-arg]
            procs = [mp.get_context("spawn").Process(target=writer, args=(url, token, n, 250, queue)) for n in range(4)]
            t = time.perf_counter()
            for p in procs:
                p.start()
            errors = sum(queue.get(timeout=600) for _ in procs)
            for p in procs:
                p.join()
            elapsed = time.perf_counter() - t
            rows.append(("4 concurrent writers", f"{1000 / elapsed:.0f} versions/s, {errors} errors"))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if pg is not None:
                pg.stop()
    return rows


def soak(seconds: float, clients: int) -> list[tuple[str, str]]:
    """Two server processes on one PostgreSQL database and store; ``clients`` threads register
    versions through both for ``seconds``; then every write is counted and both servers are
    asked the same questions."""
    import threading

    from tests.pgserver import PgServer

    from modelkeep.client import RemoteRegistry

    rows: list[tuple[str, str]] = []
    pg = PgServer()
    pg.start()
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MODELKEEP_USER": "bench"}
        for name in ("MODELKEEP_URL", "MODELKEEP_TOKEN", "MODELKEEP_HOME"):
            env.pop(name, None)
        subprocess.run([*MK, "init", "--db", pg.create_database("soak")], cwd=tmp, env=env, check=True, capture_output=True)
        urls = []
        try:
            for n in range(2):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", 0))
                    port = sock.getsockname()[1]
                procs.append(
                    subprocess.Popen(
                        [*MK, "server", "--port", str(port), "--bootstrap-token-file", f"tok{n}"],
                        cwd=tmp,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
                urls.append(f"http://127.0.0.1:{port}")
                while True:
                    try:
                        if httpx.get(f"{urls[-1]}/health", timeout=0.5).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.05)
            token = (Path(tmp) / "tok0").read_text().strip()
            done, errors, lock = [0], [0], threading.Lock()
            deadline = time.monotonic() + seconds

            def client(index: int) -> None:
                remote = RemoteRegistry(urls[index % 2], token, timeout=60)
                while time.monotonic() < deadline:
                    try:
                        remote.register(f"soak-{index % 8}", params={"client": index, "t": time.monotonic()})
                        with lock:
                            done[0] += 1
                    except Exception:
                        with lock:
                            errors[0] += 1
                remote.close()

            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            a, b = (RemoteRegistry(u, token) for u in urls)
            stored = sum(len(a.list_versions(f"soak-{m}")) for m in range(8))
            same = all(a.get(f"soak-{m}@latest").to_dict() == b.get(f"soak-{m}@latest").to_dict() for m in range(8))
            rows += [
                (
                    f"{clients} clients × {seconds:.0f} s, 2 servers",
                    f"{done[0]:,} writes ({done[0] / seconds:.0f}/s), {errors[0]} errors",
                ),
                (
                    "writes stored / acknowledged",
                    f"{stored:,} / {done[0]:,} ({'no lost write' if stored == done[0] else 'MISMATCH'})",
                ),
                ("both servers answer alike", "yes" if same else "NO"),
            ]
            a.close()
            b.close()
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
            pg.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--soak", type=float, default=60.0, help="seconds of the 32-client PostgreSQL soak (0: skip)")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    if args.soak:
        print("soak: 2 servers on one PostgreSQL ...", file=sys.stderr)
        for label, value in soak(args.soak, args.clients):
            print(f"{label:<36}{value}")
    results = {backend: run_backend(backend) for backend in args.backends}
    print(f"\n{'measurement':<24}" + "".join(f"{'modelkeep ' + b:<46}" for b in args.backends) + "MLflow 3.17 (SQLite)")
    print("-" * (24 + 46 * len(args.backends) + 40))
    for i, (label, _) in enumerate(results[args.backends[0]]):
        print(f"{label:<24}" + "".join(f"{results[b][i][1]:<46}" for b in args.backends) + MLFLOW.get(label, ""))


if __name__ == "__main__":
    main()
