"""An add or push killed at any moment leaves no visible partial version; the retry completes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MK = [sys.executable, "-m", "modelkeep.cli.main"]


def _mk(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MK, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _kill_after(cwd: Path, delay: float, *args: str) -> None:
    proc = subprocess.Popen([*MK, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.long
def test_killed_add_and_push_leave_no_partial_version(tmp_path: Path) -> None:
    rng = random.Random(7)
    assert _mk(tmp_path, "init").returncode == 0
    data = tmp_path / "data"
    data.mkdir()
    # ~24 MB across a large compressible file and many small incompressible ones.
    (data / "big.csv").write_bytes(b"".join(f"{i},{i * 31 % 977},{i % 7}\n".encode() for i in range(1_200_000)))
    for i in range(300):
        (data / f"blob{i}.bin").write_bytes(os.urandom(20_000))
    for _attempt in range(6):
        _kill_after(tmp_path, rng.uniform(0.25, 1.2), "data", "add", "data", "--name", "ds")
        log = _mk(tmp_path, "data", "log", "ds", "--json")
        versions = json.loads(log.stdout) if log.returncode == 0 else []
        assert len(versions) <= 1, versions
        check = _mk(tmp_path, "verify", "--json")
        assert check.returncode == 0 and json.loads(check.stdout)["ok"], check.stdout + check.stderr
        if versions:
            break
    done = _mk(tmp_path, "data", "add", "data", "--name", "ds", "--json")
    assert done.returncode == 0, done.stderr
    assert [v["version"] for v in json.loads(_mk(tmp_path, "data", "log", "ds", "--json").stdout)] == [1]
    out = _mk(tmp_path, "data", "checkout", "ds@1", "--to", "copy")
    assert out.returncode == 0 and (tmp_path / "copy" / "big.csv").read_bytes() == (data / "big.csv").read_bytes()

    remote = tmp_path / "remote"
    assert _mk(tmp_path, "config", "set", "remote.origin", str(remote)).returncode == 0
    for _ in range(3):
        _kill_after(tmp_path, rng.uniform(0.2, 0.6), "push")
    pushed = _mk(tmp_path, "push", "--json")
    assert pushed.returncode == 0, pushed.stderr
    # The remote now holds everything: a fresh clone of the store verifies and checks out.
    other = tmp_path / "other"
    other.mkdir()
    db = tmp_path / ".modelkeep" / "registry.db"
    assert _mk(other, "init", "--db", f"sqlite:///{db}").returncode == 0
    assert _mk(other, "config", "set", "remote.origin", str(remote)).returncode == 0
    pulled = _mk(other, "pull", "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(_mk(other, "verify", "--json").stdout)["ok"]
