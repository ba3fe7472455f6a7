"""MLflow's own client against ``mk server`` and against ``mlflow server``, same machine, same run.

    .venv/bin/python benchmarks/mlflow_compat.py [--versions 1000] [--reads 200] [--reps 2]

Both servers start fresh (SQLite each; mk server on a new repository, mlflow server with
``--artifacts-destination``) as whole processes, the way users run them; the workload of
``../shared/bench/mlflow_bench.py`` (create model versions one after another, set and get an alias,
get a version, search a model's versions) runs in a separate process with MLflow's own client
(``.venv-clients/mlflow3``, made by ``make test`` or ``python tests/client_venvs.py mlflow3``),
interleaved A B A B. Prints per operation the p50 latency and calls/s of each, min–max over the
repetitions, the ratio, and the servers' CPU-seconds. Goal (issue 13): ≥ 5x MLflow's server on
registration and alias reads through MLflow's client. A third "server" answers every call at once
with a fixed document: the client's own floor, and so the best ratio any server could reach.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import client_venvs  # noqa: E402
from tests.live_server import free_port  # noqa: E402

WORKLOAD = ROOT / "benchmarks" / "clients" / "mlflow_workload.py"
CANNED = ROOT / "benchmarks" / "clients" / "canned_mlflow_server.py"
MK = [sys.executable, "-m", "modelkeep.cli.main"]
STARTED: dict[str, list[float]] = {"mk": [], "mlflow": [], "floor": []}


def cpu_seconds(pid: int) -> float:
    """CPU-seconds of a process and every live descendant (mlflow server runs its workers as children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.02)
    raise RuntimeError(f"{url} did not come up")


def start(kind: str, scratch: Path, python: Path, versions: int) -> tuple[subprocess.Popen[bytes], str, str | None]:
    """Start one server ("mk", "mlflow" or "floor") in ``scratch``; its start-up to /health is left in
    ``STARTED[kind]`` (mk's repository is made before the clock starts)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HOME": str(scratch)}
    if kind == "mk":
        env.pop("MODELKEEP_HOME", None)
        subprocess.run([*MK, "init"], cwd=scratch, env=env, check=True, capture_output=True)
        began = time.perf_counter()
        proc = subprocess.Popen([*MK, "server", "--port", str(port), "--bootstrap-token-file", "admin.token"], cwd=scratch,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(url, proc)
        STARTED[kind].append(time.perf_counter() - began)
        return proc, url, (scratch / "admin.token").read_text().strip()
    if kind == "floor":  # answers instantly with fixed documents: what MLflow's client costs by itself
        proc = subprocess.Popen([sys.executable, str(CANNED), str(port), str(versions)], cwd=scratch, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_up(url, proc)
        return proc, url, None
    began = time.perf_counter()
    proc = subprocess.Popen([str(python.with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--backend-store-uri", f"sqlite:///{scratch / 'mlflow.db'}",
                             "--artifacts-destination", str(scratch / "artifacts")],
                            cwd=scratch, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(url, proc)
    STARTED[kind].append(time.perf_counter() - began)
    return proc, url, None


def one(kind: str, python: Path, versions: int, reads: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as folder:
        scratch = Path(folder)
        proc, url, token = start(kind, scratch, python, versions)
        try:
            cpu_before = cpu_seconds(proc.pid)
            env = {**os.environ, "MLFLOW_TRACKING_URI": url, "HOME": str(scratch)}
            if token:
                env["MLFLOW_TRACKING_TOKEN"] = token
            began = time.perf_counter()
            done = subprocess.run([str(python), str(WORKLOAD), str(versions), str(reads)], env=env, cwd=scratch,
                                  capture_output=True, text=True, timeout=3600)
            wall = time.perf_counter() - began
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-2000:])
            return {"latencies": json.loads(done.stdout.strip().splitlines()[-1]), "wall": wall,
                    "server_cpu": cpu_seconds(proc.pid) - cpu_before}
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description="MLflow's client against mk server and mlflow server")
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    python = client_venvs.ensure("mlflow3")
    runs: dict[str, list[dict[str, object]]] = {"mk": [], "mlflow": [], "floor": []}
    for _ in range(args.reps):
        for kind in ("mk", "mlflow", "floor"):  # interleaved: A B C A B C
            runs[kind].append(one(kind, python, args.versions, args.reads))
    print(f"MLflow client {args.versions} versions, {args.reads} reads, {args.reps} reps each (p50 ms, min–max over reps)")
    print("| operation | mk server p50 ms | mlflow server p50 ms | ratio (mlflow / mk) | client floor p50 ms | "
          "best ratio any server could reach |")
    print("|---|---|---|---|---|---|")
    for op in ("create_model_version", "set_alias", "get_by_alias", "get_version", "search_versions"):
        mine, theirs, floor = ([statistics.median(r["latencies"][op]) * 1000 for r in runs[kind]]  # type: ignore[index]
                               for kind in ("mk", "mlflow", "floor"))
        print(f"| {op} | {min(mine):.1f}–{max(mine):.1f} | {min(theirs):.1f}–{max(theirs):.1f} | "
              f"{min(theirs) / max(mine):.1f}–{max(theirs) / min(mine):.1f}x | {min(floor):.1f}–{max(floor):.1f} | "
              f"{min(theirs) / max(floor):.1f}–{max(theirs) / min(floor):.1f}x |")
    for kind in ("mk", "mlflow"):
        walls = [float(r["wall"]) for r in runs[kind]]  # type: ignore[arg-type]
        cpus = [float(r["server_cpu"]) for r in runs[kind]]  # type: ignore[arg-type]
        print(f"| whole workload, {kind} | wall {min(walls):.1f}–{max(walls):.1f} s | server CPU {min(cpus):.1f}–"
              f"{max(cpus):.1f} s | | | |")
    print("\nclient floor: the same client and workload against a server that answers every call at once with a "
          "fixed document (benchmarks/clients/canned_mlflow_server.py); no server can be faster through this client, "
          "so 'best ratio' bounds the ratio any server could show.")


if __name__ == "__main__":
    main()
