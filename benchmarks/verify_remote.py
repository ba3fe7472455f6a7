"""``mk verify`` against an S3 store (moto in server mode on loopback): requests and time.

    .venv/bin/python benchmarks/verify_remote.py [--files 2000] [--size 3000]

Adds one dataset version of ``files`` unique files to a repository whose store is an S3 bucket,
then verifies every reachable object twice in one process, interleaved (A B A B): the way verify
read before (one ranged GET per object) and the way it reads now (objects in pack order, each
pack read in a few windows). Prints GETs and wall/CPU seconds for each.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=3000)
    args = parser.parse_args()
    import boto3

    from modelkeep.services.data.integrity import verify
    from modelkeep.services.workspace import init_workspace, open_workspace

    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    proc, endpoint = moto()
    try:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            ws, _ = init_workspace(root / "repo")
            ws.config.set("store.url", f"s3://bench/store?endpoint={endpoint}")
            ws.close()
            ws = open_workspace(root / "repo" / ".modelkeep")
            data = root / "data"
            data.mkdir()
            for i in range(args.files):
                (data / f"f{i:05d}.bin").write_bytes(os.urandom(args.size))
            ws.datasets.add(data, "many")
            backend = ws.repo.backend
            calls = [0]
            real = backend.get_range

            def counted(key: str, offset: int, length: int) -> bytes:
                calls[0] += 1
                return real(key, offset, length)

            backend.get_range = counted  # type: ignore[method-assign]

            def one_by_one() -> int:
                ids = sorted(ws.repo.reachable("tree", ws.datasets.get("many@1").digest))
                for oid in ids:
                    ws.repo.get(oid)
                return len(ids)

            rows: dict[str, list[tuple[float, float, int]]] = {"before: one GET per object": [], "now: pack windows": []}
            for _ in range(2):  # A B A B
                for label, run in (("before: one GET per object", one_by_one),
                                   ("now: pack windows", lambda: verify(ws.db, ws.repo)["checked"])):
                    calls[0] = 0
                    started, cpu = time.perf_counter(), time.process_time()
                    checked = run()
                    rows[label].append((time.perf_counter() - started, time.process_time() - cpu, calls[0]))
            print(f"\n| mk verify, {checked:,} objects ({args.files:,} files of {args.size:,} B) on S3 (moto) "
                  "| GETs | wall s (min–max) | CPU-s (min–max) |")
            print("|---|---|---|---|")
            for label, runs in rows.items():
                walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
                print(f"| {label} | {runs[0][2]:,} | {min(walls):.2f}–{max(walls):.2f} | {min(cpus):.2f}–{max(cpus):.2f} |")
            ws.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
