"""Gateway benchmark: routing, canary split, latency added by the gateway, throughput, and the
time from a fault in a canary to 0 % traffic on it.

    .venv/bin/python benchmarks/gateway.py [--seconds 10] [--rate 1000] [--fault fail|degrade|both]

A fresh repository with two versions of a trivial model (``modelkeep.examples.LinearClassifier``,
3 features) and a canary deployment; ``mk serve`` runs as its own process (uvloop + httptools)
and the load comes from a separate process on 127.0.0.1 (asyncio, raw HTTP/1.1 keep-alive,
open loop: latency is measured from each request's scheduled time, so a stall is not hidden).

Prints one table. Goals (issue 6): routing decision < 20 µs p99; added latency < 1 ms p50 and
< 2 ms p99 at 1,000 requests/s; split within ±0.5 points over 100k keys; rollback within 60 s
of the fault at 50 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MK = [sys.executable, "-m", "modelkeep.cli.main"]
CLASS = "modelkeep.examples:LinearClassifier"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the load process -------------------------------------------------------------------------

async def _connection(
    port: int, schedule: list[float], start: float, bodies: list[bytes], out: list[tuple[float, float, str, bool]]
) -> None:
    """``start`` is on the perf_counter clock (uvloop's loop.time() has only millisecond resolution)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for at, body in zip(schedule, bodies, strict=True):
        delay = start + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        writer.write(body)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        arm = ""
        for line in head.split(b"\r\n"):
            low = line.lower()
            if low.startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            elif low.startswith(b"x-modelkeep-arm:"):
                arm = line.split(b":")[1].strip().decode()
        await reader.readexactly(length)
        done = time.perf_counter()
        out.append((at, (done - (start + at)) * 1000, arm, head.startswith(b"HTTP/1.1 200")))
    writer.close()


def _request(key: str, row: list[float]) -> bytes:
    body = json.dumps({"inputs": [row]}).encode()
    return (
        b"POST /predict HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"x-request-key: " + key.encode() + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


async def _load(port: int, rate: float, seconds: float, connections: int, skew: float) -> list[tuple[float, float, str, bool]]:
    rng = random.Random(7)
    total = int(rate * seconds)
    schedule = [i / rate for i in range(total)]
    bodies = [
        _request(f"user-{rng.randrange(1_000_000)}", [rng.gauss(skew, 1), rng.gauss(0, 1), rng.gauss(0, 1)]) for _ in range(total)
    ]
    out: list[tuple[float, float, str, bool]] = []
    start = time.perf_counter() + 0.2
    await asyncio.gather(
        *(_connection(port, schedule[c::connections], start, bodies[c::connections], out) for c in range(connections))
    )
    return sorted(out)


def load_main(argv: list[str]) -> None:
    port, rate, seconds, connections, skew = int(argv[0]), float(argv[1]), float(argv[2]), int(argv[3]), float(argv[4])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(_load(port, rate, seconds, connections, skew))
    json.dump(results, sys.stdout)


def run_load(
    port: int, rate: float, seconds: float, connections: int = 8, skew: float = 0.0
) -> list[tuple[float, float, str, bool]]:
    proc = subprocess.run(
        [sys.executable, __file__, "--load-worker", str(port), str(rate), str(seconds), str(connections), str(skew)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    return [tuple(r) for r in json.loads(proc.stdout)]  # type: ignore[misc]


# --- set-up -----------------------------------------------------------------------------------


def setup(root: Path) -> tuple[Path, dict[str, str]]:
    from modelkeep.examples import LinearClassifier
    from modelkeep.services.workspace import init_workspace

    env = {**os.environ, "MODELKEEP_HOME": str(root), "MODELKEEP_USER": "bench"}
    os.environ.update({"MODELKEEP_HOME": str(root), "MODELKEEP_USER": "bench"})
    ws, _ = init_workspace(root)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 3))
    fault = root / "fault"
    # Intercept -1: about 80 % of answers are 0, so flipped answers are visible as prediction drift.
    for i, coef in enumerate(([1.0, 0.5, 0.0], [1.0, 0.45, 0.05])):
        model = LinearClassifier(coef, -1.0, str(fault) if i else None)
        with ws.runs.start("bench") as run:
            run.seed(0)
            run.log_model(model, "clf", flavor="python", sample_input=x[:5], baseline=x, metrics={"accuracy": 0.95})
    ws.close()
    return fault, env


def serve(env: dict[str, str], port: int, name: str, *extra: str) -> subprocess.Popen[bytes]:
    import httpx

    log = open(Path(env["MODELKEEP_HOME"]) / f"gateway-{name}.log", "wb")  # noqa: SIM115 - lives with the process
    proc = subprocess.Popen(
        [*MK, "serve", name, "--port", str(port), "--gateway-id", "bench", *extra], env=env, stdout=subprocess.DEVNULL, stderr=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"gateway did not start: {(Path(env['MODELKEEP_HOME']) / f'gateway-{name}.log').read_text()}")


def mk(env: dict[str, str], *args: str) -> None:
    subprocess.run([*MK, *args], env=env, check=True, stdout=subprocess.DEVNULL)


# --- measurements -----------------------------------------------------------------------------


def routing_figures() -> dict[str, str]:
    from modelkeep.services.deploy.routing import Router

    keys = [f"user-{i}" for i in range(100_000)]
    router = Router("clf", [("canary", 5.0), ("stable", 95.0)], fallback="stable")
    times = []
    for key in keys:
        t = time.perf_counter_ns()
        router.route(key)
        times.append((time.perf_counter_ns() - t) / 1000)
    errors, moved_back, previous = [], 0, None
    for weight in (1.0, 5.0, 25.0, 50.0, 75.0):
        r = Router("clf", [("canary", weight), ("stable", 100 - weight)], fallback="stable")
        arms = [r.route(k).arm for k in keys]
        errors.append(abs(arms.count("canary") / len(keys) * 100 - weight))
        if previous is not None:
            moved_back += sum(1 for a, b in zip(previous, arms, strict=True) if a == "canary" and b == "stable")
        previous = arms
    return {
        "routing decision p50 / p99": f"{pct(times, 50):.2f} / {pct(times, 99):.2f} µs",
        "canary split error, 100k keys (1/5/25/50/75 %)": f"max {max(errors):.3f} points",
        "keys moved back when raising the weight": str(moved_back),
    }


def in_process_latency() -> tuple[float, float]:
    from modelkeep.examples import LinearClassifier

    model = LinearClassifier([1.0, 0.5, 0.0], -1.0)
    x = np.array([[0.1, 0.2, 0.3]])
    times = []
    for _ in range(20_000):
        t = time.perf_counter_ns()
        model.predict(x).tolist()
        times.append((time.perf_counter_ns() - t) / 1e6)
    return pct(times, 50), pct(times, 99)


def latency_figures(env: dict[str, str], seconds: float, rate: float) -> dict[str, str]:
    mk(
        env,
        "deploy",
        "create",
        "lat",
        "--model",
        "clf@1.0.0.0.0",
        "--candidate",
        "clf@1.0.1.0.0",
        "--steps",
        "25,100",
        "--bake",
        "100000",
        "--trust",
        CLASS,
    )
    port = free_port()
    proc = serve(env, port, "lat")
    try:
        run_load(port, 500, 1.0)  # warm-up
        results = run_load(port, rate, seconds)
        lat = [r[1] for r in results]
        errors = sum(1 for r in results if not r[3])
        span = results[-1][0] + results[-1][1] / 1000 - results[0][0] if results else 1.0
        m50, m99 = in_process_latency()
        burst = run_load(port, 20_000, 3.0, connections=16)
        achieved = len(burst) / (max(r[0] + r[1] / 1000 for r in burst))
    finally:
        proc.terminate()
        proc.wait(10)
    port = free_port()
    proc = serve(env, port, "lat", "--workers", "2")
    try:
        time.sleep(1.0)  # both workers up
        burst2 = run_load(port, 20_000, 3.0, connections=16)
        achieved2 = len(burst2) / (max(r[0] + r[1] / 1000 for r in burst2))
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        f"latency at {rate:g} req/s (client, {len(lat):,} requests) p50 / p99": f"{pct(lat, 50):.3f} / {pct(lat, 99):.3f} ms",
        "model in-process p50 / p99": f"{m50 * 1000:.1f} / {m99 * 1000:.1f} µs",
        "added by the gateway p50 / p99": f"{pct(lat, 50) - m50:.3f} / {pct(lat, 99) - m99:.3f} ms",
        "errors / achieved rate": f"{errors} / {len(lat) / span:,.0f} req/s",
        "max throughput (16 connections, 1 gateway process)": f"{achieved:,.0f} req/s",
        "max throughput (16 connections, --workers 2, load on the same 2 cores)": f"{achieved2:,.0f} req/s",
    }


def shadow_figures(env: dict[str, str], seconds: float, rate: float) -> dict[str, str]:
    """The same load with every request copied to a shadow version: what the primary pays for it."""
    mk(env, "deploy", "create", "shadowed", "--model", "clf@1.0.0.0.0", "--shadow", "clf@1.0.1.0.0=1.0", "--trust", CLASS)
    port = free_port()
    proc = serve(env, port, "shadowed")
    try:
        run_load(port, 500, 1.0)
        lat = [r[1] for r in run_load(port, rate, seconds)]
        import httpx

        status = httpx.get(f"http://127.0.0.1:{port}/status", timeout=5).json()
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        f"latency at {rate:g} req/s with a 100 % shadow, p50 / p99": f"{pct(lat, 50):.3f} / {pct(lat, 99):.3f} ms",
        "shadow copies dropped (queue full)": str(status["analysis"].get("shadow_dropped", 0)),
    }


def fault_figures(env: dict[str, str], fault: Path, kind: str) -> dict[str, str]:
    name = f"fault-{kind}"
    policy = Path(tempfile.mkstemp(suffix=".json")[1])
    policy.write_text(json.dumps({"window_s": 10, "min_samples": 20, "failing_windows": 2}))
    mk(
        env,
        "deploy",
        "create",
        name,
        "--model",
        "clf@1.0.0.0.0",
        "--candidate",
        "clf@1.0.1.0.0",
        "--steps",
        "25,100",
        "--bake",
        "100000",
        "--trust",
        CLASS,
        "--policy",
        str(policy),
    )
    fault.unlink(missing_ok=True)
    port = free_port()
    proc = serve(env, port, name)
    inject_at = 15.0
    try:
        import threading

        def inject() -> None:
            time.sleep(inject_at + 0.2)
            fault.write_text(kind)

        injector = threading.Thread(target=inject)
        injector.start()
        results = run_load(port, 50, 90.0, connections=2)
        injector.join()
    finally:
        proc.terminate()
        proc.wait(10)
        fault.unlink(missing_ok=True)
    if os.environ.get("BENCH_DEBUG"):
        print((Path(env["MODELKEEP_HOME"]) / f"gateway-{name}.log").read_text()[-3000:], file=sys.stderr)
    last_canary = max((r[0] for r in results if r[2] == "canary"), default=float("nan"))
    return {
        f"fault '{kind}' at 50 req/s: fault → 0 % canary traffic": f"{last_canary - inject_at:.1f} s",
        f"fault '{kind}': requests that failed": str(sum(1 for r in results if not r[3])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--fault", choices=["fail", "degrade", "both", "none"], default="both")
    args = parser.parse_args()
    rows: dict[str, str] = {}
    rows.update(routing_figures())
    with tempfile.TemporaryDirectory(prefix="mk-gw-bench-") as tmp:
        fault, env = setup(Path(tmp))
        rows.update(latency_figures(env, args.seconds, args.rate))
        rows.update(shadow_figures(env, args.seconds, args.rate))
        for kind in ["fail", "degrade"] if args.fault == "both" else [] if args.fault == "none" else [args.fault]:
            rows.update(fault_figures(env, fault, kind))
    width = max(map(len, rows))
    print(f"{'measurement':<{width}} | value")
    print(f"{'-' * width}-|------")
    for key, value in rows.items():
        print(f"{key:<{width}} | {value}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load-worker":
        load_main(sys.argv[2:])
    else:
        main()
