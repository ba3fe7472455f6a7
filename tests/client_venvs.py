"""Virtualenvs for the real clients users bring (tritonclient, mlflow, ...), apart from ours where
their dependencies would clash, and the npm packages tests check against (``NPM``). Made once
under ``.venv-clients/NAME`` (``make test`` makes them
first; a test that finds one missing makes it, under a lock, so parallel workers wait for one
install). Each is keyed by its requirements: a changed requirement makes a fresh one."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / ".venv-clients"
CLIENTS = {
    "triton": ["tritonclient[http]>=2.40", "numpy"],
    "mlflow3": ["mlflow>=3.1,<4", "scikit-learn", "onnx", "onnxruntime"],  # the latest 3.x (onnx*: mlflow.onnx.log_model)
    "mlflow2": ["mlflow>=2.20,<3", "scikit-learn"],  # the newest 2.x
    # a serving environment with MLflow in it: modelkeep (this checkout, editable) loads MLflow's pyfunc models
    "mlflow3-serve": ["mlflow>=3.1,<4", "pandas", "-e", str(REPO)],
    "kserve": ["kserve>=0.14"],  # its SDK's models, generated from the InferenceService CRD (mk deploy export)
}

# npm packages (each a folder under tests/clients with a package-lock.json): installed with npm ci.
NPM = {"k8s-schemas": Path(__file__).resolve().parent / "clients" / "k8s-schemas"}


def ensure(name: str) -> Path:
    """The Python of client venv ``name`` (created and installed if it is not yet)."""
    requirements = CLIENTS[name]
    keyed = "\n".join(requirements)
    if str(REPO) in requirements:  # this checkout installed: its own requirements key the venv too
        keyed += (REPO / "pyproject.toml").read_text()
    key = hashlib.sha256(keyed.encode()).hexdigest()[:12]
    venv = ROOT / name
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == key and python.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        _install(venv, python, requirements)
        stamp.write_text(key)
    return python


def _install(venv: Path, python: Path, requirements: list[str]) -> None:
    uv = Path(sys.executable).with_name("uv")  # the test extra installs it beside our Python
    if uv.exists():  # the four in about a minute, bytecode compiled; pip took 60-90 CPU-s for mlflow alone
        subprocess.run([str(uv), "venv", "-q", "--seed", "-p", sys.executable, str(venv)], check=True)
        subprocess.run([str(uv), "pip", "install", "-q", "--compile-bytecode", "-p", str(python), *requirements], check=True)
        return
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
                   check=True)


def ensure_npm(name: str) -> Path:
    """The node_modules of npm package folder ``name`` (``npm ci`` if its lock file changed)."""
    folder = NPM[name]
    modules = folder / "node_modules"
    stamp = modules / ".installed-lock"
    lock_file = (folder / "package-lock.json").read_bytes()
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_bytes() == lock_file:
            return modules
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True)
        stamp.write_bytes(lock_file)
    return modules


if __name__ == "__main__":  # make test: python tests/client_venvs.py [triton ...]
    for arg in sys.argv[1:] or [*CLIENTS, *NPM]:
        print(ensure_npm(arg) if arg in NPM else ensure(arg))
