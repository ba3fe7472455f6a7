"""Virtualenvs for the real clients users bring (tritonclient, mlflow, ...), apart from ours where
their dependencies would clash. Made once under ``.venv-clients/NAME`` (``make test`` makes them
first; a test that finds one missing makes it, under a lock, so parallel workers wait for one
install). Each is keyed by its requirements: a changed requirement makes a fresh one."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / ".venv-clients"
CLIENTS = {
    "triton": ["tritonclient[http]>=2.40", "numpy"],
    "mlflow3": ["mlflow>=3.1,<4", "scikit-learn"],  # the latest installable 3.x
    "mlflow2": ["mlflow>=2.20,<3", "scikit-learn"],  # the newest 2.x
}


def ensure(name: str) -> Path:
    """The Python of client venv ``name`` (created and installed if it is not yet)."""
    requirements = CLIENTS[name]
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]
    venv = ROOT / name
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == key and python.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
                       check=True)
        stamp.write_text(key)
    return python


if __name__ == "__main__":  # make test: python tests/client_venvs.py triton
    for arg in sys.argv[1:] or list(CLIENTS):
        print(ensure(arg))
