"""One writer of the gc stress test (tests/test_gc_stress.py), run as its own process.

Until the deadline it adds dataset versions, registers model versions and pushes, each as a real
``mk`` command, from files built of blocks shared with every other writer (so new versions keep
deduplicating against chunks a concurrent gc may be condemning), and a ``churn`` dataset whose
older versions a retention policy drops. Every command that exits 0 is written to the report:
what it committed and the SHA-256 of the bytes it was given.

    python stress_writer.py WORKDIR REPORT SEED SECONDS
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

MK = [sys.executable, "-m", "modelkeep.cli.main"]
BLOCK = 48 * 1024


def folder_digest(folder: Path) -> str:
    """SHA-256 over a folder's files (names and bytes, in name order): what the reader checks."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _write(folder: Path, rng: random.Random, pool: list[bytes], extra: bytes | None) -> bytes:
    """Files from the shared pool (stored once for every writer), one of this version's own, and
    ``extra``: a file only a version the retention policy drops held — garbage a concurrent gc is
    condemning as this version reuses it. Returns the version's own file."""
    folder.mkdir()
    for i in rng.sample(range(len(pool)), 4):
        (folder / f"pool-{i}.bin").write_bytes(pool[i])
    own = rng.randbytes(BLOCK)
    (folder / "own.bin").write_bytes(own)
    if extra is not None:
        (folder / "reused.bin").write_bytes(extra)
    return own


def _mk(workdir: Path, *args: str) -> dict | None:
    done = subprocess.run([*MK, *args, "--json"], cwd=workdir, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        sys.stderr.write(f"mk {' '.join(args)} -> {done.returncode}: {done.stderr[-400:]}\n")
        return None
    return json.loads(done.stdout)


def main() -> None:
    workdir, report, seed, seconds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    pool = [random.Random(f"pool-{i}").randbytes(BLOCK) for i in range(8)]  # the same pool in every writer
    rng = random.Random(seed)
    scratch = workdir / f"scratch-{seed}"
    scratch.mkdir(exist_ok=True)
    deadline = time.monotonic() + seconds
    step = 0
    churned: list[bytes] = []  # the own files of this writer's churn versions, newest last
    with report.open("a") as out:
        # at least 5 steps: a model, two churn versions (the policy drops the first), a dataset, a push,
        # and a model reusing the dropped churn version's file
        while time.monotonic() < deadline or step < 5:
            step += 1
            folder = scratch / str(step)
            churn = step % 2 == 0
            # a churn version's own file once a newer churn version exists: only a dropped version held it
            extra = None if churn or len(churned) < 2 else churned[-2]
            own = _write(folder, rng, pool, extra)
            digest = folder_digest(folder)
            if churn:
                result = _mk(workdir, "data", "add", "--name", f"churn{seed}", str(folder))
                kind = "churn"
            elif step % 4 == 1:
                result = _mk(workdir, "model", "register", f"m{seed}", str(folder))
                kind = "model"
            else:
                result = _mk(workdir, "data", "add", "--name", f"d{seed}", str(folder))
                kind = "dataset"
            if result is not None:
                out.write(json.dumps({"kind": kind, "ref": result["ref"], "sha256": digest}) + "\n")
                out.flush()
                if churn:
                    churned.append(own)
            if step % 5 == 4:
                _mk(workdir, "push", "backup")
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
