"""reproduce: code at the recorded commit (+ diff), exact data, lock, command; --verify compares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MK = [sys.executable, "-m", "modelkeep.cli.main"]

TRAIN = """
import sys
import numpy as np
import modelkeep as mk
from sklearn.linear_model import LogisticRegression

SEEDED = {seeded}
with mk.start_run(name="train") as run:
    if SEEDED:
        run.seed(11)
    folder = run.dataset_path("points@1")
    table = np.loadtxt(folder / "points.csv", delimiter=",", skiprows=1)
    x, y = table[:, :-1], table[:, -1].astype(int)
    rng = np.random.default_rng(11 if SEEDED else None)
    c = float(rng.uniform(0.1, 10.0))
    model = LogisticRegression(C=c).fit(x, y)
    run.log_params({{"C": round(c, 6)}})
    run.log_model(model, "{name}", sample_input=x[:3], metrics={{"score": float(model.score(x, y)), "C": c}})
"""


def _run(cwd: Path, *args: str, env: dict[str, str], code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == code, done.stdout + done.stderr
    return done


def trained_project(tmp_path: Path, env: dict[str, str], *, local: bool = True) -> Path:
    """A git project whose seeded train.py (with an uncommitted edit) ran once under ``mk run`` on
    dataset points@1: in a repository of its own (``local``), or wherever ``env`` points."""
    project = tmp_path / "project"
    project.mkdir()
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    _run(project, "git", "init", "-q", env=env)
    (project / ".gitignore").write_text(".modelkeep/\ndata/\nrepro*/\n")
    (project / "train.py").write_text(TRAIN.format(seeded=True, name="clf"))
    (project / "noisy.py").write_text(TRAIN.format(seeded=False, name="noisy"))
    _run(project, *git, "add", ".", env=env)
    _run(project, *git, "commit", "-q", "-m", "training code", env=env)
    # An uncommitted edit: reproduce must apply it on top of the commit.
    (project / "train.py").write_text((project / "train.py").read_text() + "# tuned locally\n")
    if local:
        _run(project, *MK, "init", env=env)
    (project / "data").mkdir()
    rows = "".join(f"{i / 10},{(i * 7) % 11 / 10},{int(i % 3 == 0)}\n" for i in range(300))
    (project / "data" / "points.csv").write_text("a,b,label\n" + rows)
    _run(project, *MK, "data", "add", "data", "--name", "points", env=env)
    _run(project, *MK, "run", "--", sys.executable, "train.py", env=env)
    return project


@pytest.mark.long
def test_reproduce_verify_matches_and_detects_differences(tmp_path: Path) -> None:
    env = {**os.environ, "MODELKEEP_USER": "t"}
    env.pop("MODELKEEP_HOME", None)
    project = trained_project(tmp_path, env)

    done = _run(project, *MK, "reproduce", "clf@latest", "--to", str(tmp_path / "repro"), "--verify", "--json", env=env)
    result = json.loads(done.stdout)
    assert result["code"]["status"] == "checked out" and result["code"]["diff_applied"]
    assert (tmp_path / "repro" / "code" / "train.py").read_text().endswith("# tuned locally\n")
    assert (tmp_path / "repro" / "data" / "points@1" / "points.csv").read_text().startswith("a,b,label")
    assert "numpy==" in (tmp_path / "repro" / "requirements.lock").read_text()
    assert result["command"][-1] == "train.py" and (tmp_path / "repro" / "reproduce.sh").exists()
    check = result["verify"]
    assert check["match"] and check["artifact"]["same"], check
    assert all(m["within"] for m in check["metrics"])

    # A training script without a seed does not reproduce: detected, and explained.
    _run(project, *MK, "run", "--", sys.executable, "noisy.py", env=env)
    differs = _run(project, *MK, "reproduce", "noisy@latest", "--to", str(tmp_path / "repro2"), "--verify", "--json",
                   env=env, code=1)
    report = json.loads(differs.stdout)["verify"]
    assert not report["match"] and not report["artifact"]["same"]
    assert any(not m["within"] for m in report["metrics"] if m["key"] == "C")
    human = _run(project, *MK, "reproduce", "noisy@1.0.0", "--to", str(tmp_path / "repro3"), "--verify",
                 env=env, code=1)
    assert "DIFFERS" in human.stdout and "OUTSIDE" in human.stdout
