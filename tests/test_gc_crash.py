"""A gc killed at every point of its sweep (issue 16): after each crash every live version still
reads back byte for byte, ``mk verify`` is clean, and the next gc finishes the work.

The crash points are the sweep's own steps (``MODELKEEP_GC_CRASH_AT=N`` ends the process with
``os._exit``, as ``kill -9`` would, at the Nth one), so every point is hit, in order, every run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from modelkeep.services.clock import utcnow
from modelkeep.services.connection import LocalConnection
from modelkeep.services.retention.gc import collect
from modelkeep.services.workspace import init_workspace, open_workspace
from modelkeep.store.format import BLOB

MK = [sys.executable, "-m", "modelkeep.cli.main"]


def _prepare(root: Path) -> dict[str, bytes]:
    ws, _ = init_workspace(root)
    live: dict[str, bytes] = {}
    for i in range(3):  # m@1 and m@2 are dropped (keep-last 1), m@3 stays
        art = root / f"m{i}.bin"
        art.write_bytes(os.urandom(300_000))
        ref = ws.registry.register("m", art, params={"i": i}).ref
        if i == 2:
            live[ref] = art.read_bytes()
    keep = os.urandom(100_000)
    oid, _ = ws.repo.put(keep, BLOB)
    ws.repo.put(os.urandom(400_000), BLOB)  # garbage in the same pack: it is repacked
    ws.repo.flush()
    live[ws.registry.register("mixed", artifact={"kind": "file", "digest": oid}).ref] = keep
    LocalConnection(ws).retention.set_policy("model", "m", {"keep_last": 1})
    ws.close()
    return live


def _check(root: Path, live: dict[str, bytes]) -> None:
    ws = open_workspace(root / ".modelkeep")
    try:
        for ref, data in live.items():
            view = ws.registry.get(ref)
            assert b"".join(bytes(p) for p in ws.repo.iter_file(ws.repo.kind_of(view.digest), view.digest)) == data, ref
        assert LocalConnection(ws).admin.verify()["ok"]
    finally:
        ws.close()


def test_a_crash_at_any_point_of_the_sweep_loses_nothing_live(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    live = _prepare(base)
    env = {**os.environ, "MODELKEEP_HOME": "", "COLUMNS": "200"}
    env.pop("MODELKEEP_HOME")
    crashes = 0
    for point in range(1, 60):
        work = tmp_path / f"crash-{point}"
        shutil.copytree(base, work)
        done = subprocess.run([*MK, "gc", "--grace", "0"], cwd=work, capture_output=True, text=True, timeout=120,
                              env={**env, "MODELKEEP_GC_CRASH_AT": str(point)})
        _check(work, live)  # right after the crash
        ws = open_workspace(work / ".modelkeep")
        try:
            collect(ws.db, ws.repo, ws.access, utcnow(), grace_s=0)  # the next gc finishes the work
        finally:
            ws.close()
        _check(work, live)
        shutil.rmtree(work)
        if done.returncode == 0:
            break  # past the last crash point: the run finished
        assert done.returncode == 137, done.stderr
        crashes += 1
    assert crashes >= 5  # condemn, each pack, between a pack's index and the pack, the list
