"""Garbage collection on a large store: plan (dry-run) and sweep times, peak memory, bytes freed.

    .venv/bin/python benchmarks/gc.py [--versions 100] [--files 2000] [--size 1024]

Builds a fresh repository of ``versions`` model versions, each a folder of ``files`` unique files
of ``size`` bytes (one chunk each) in packs of 512 KiB (200k chunks in ~400 packs by default), keeps
the newest half (``keep-last``), then runs ``mk gc --dry-run`` and ``mk gc --grace 0`` as whole
processes, the way a user does. Prints one table: wall and CPU seconds, peak RSS, and the bytes
freed against the dead bytes the plan counted. Goals (issue 16): sweep under 30 s and 300 MB here,
freed ≥ 95 % of dead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MK = [sys.executable, "-m", "modelkeep.cli.main"]


def build(root: Path, versions: int, files: int, size: int) -> None:
    from modelkeep.services.connection import LocalConnection
    from modelkeep.services.workspace import init_workspace
    from modelkeep.store.format import BLOB, TreeEntry
    from modelkeep.store.ingest import Ingestor

    ws, _ = init_workspace(root)
    ws.repo.writer.target_size = 512 << 10
    for v in range(versions):
        entries = {}
        with Ingestor(ws.repo, None) as ingest:
            for f in range(files):
                oid, _ = ws.repo.put(os.urandom(size), BLOB)
                entries[f"part-{f:05d}.bin"] = TreeEntry(f"part-{f:05d}.bin", "blob", oid, size, 0o644)
            tree = ingest.build_tree(entries)
            ws.repo.flush()
        ws.registry.register("big", artifact={"kind": "tree", "digest": tree.id}, params={"v": v})
    LocalConnection(ws).retention.set_policy("model", "big", {"keep_last": versions // 2})
    ws.close()


def timed(args: list[str], cwd: Path) -> tuple[float, float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "MODELKEEP_HOME"}
    done = subprocess.run([*MK, *args], cwd=cwd, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024, done.stdout


def disk(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / ".modelkeep").rglob("*") if p.is_file() and "/packs/" in p.as_posix())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gc-") as folder:
        root = Path(folder)
        began = time.perf_counter()
        build(root, args.versions, args.files, args.size)
        built = time.perf_counter() - began
        packs = sum(1 for _ in (root / ".modelkeep").rglob("packs/*/*"))
        size_before = disk(root)
        wall_plan, cpu_plan, rss_plan, out = timed(["gc", "--dry-run", "--json"], root)
        plan = json.loads(out)
        wall_gc, cpu_gc, rss_gc, out = timed(["gc", "--grace", "0", "--json"], root)
        swept = json.loads(out)["sweep"]
        freed_disk = size_before - disk(root)
        dead = plan["bytes"]["would_free"]
        print(f"{args.versions * args.files:,} chunks in {packs} packs ({size_before / 1e6:.0f} MB), half the versions "
              f"dropped; built in {built:.0f} s")
        print("| step | wall s | CPU s | peak RSS MB | result |")
        print("|---|---|---|---|---|")
        print(f"| mk gc --dry-run | {wall_plan:.1f} | {cpu_plan:.1f} | {rss_plan:.0f} | {len(plan['drop'])} versions to drop, "
              f"{dead / 1e6:.1f} MB dead |")
        print(f"| mk gc --grace 0 | {wall_gc:.1f} | {cpu_gc:.1f} | {rss_gc:.0f} | {swept['objects_deleted']:,} objects, "
              f"{swept['deleted_packs']} packs deleted, {swept['repacked_packs']} repacked |")
        print(f"| freed / dead | | | | {freed_disk / 1e6:.1f} MB of {dead / 1e6:.1f} MB on disk = "
              f"{freed_disk / dead:.1%} (goal ≥ 95 %) |")


if __name__ == "__main__":
    main()
