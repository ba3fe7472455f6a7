"""``mk reproduce --verify`` and ``mk export`` through a server (issue 12), as users run them: the
training run, its data and its uncommitted diff went to the server; a folder with no repository
gets them all back, re-runs the command through the server and finds the same model."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.test_reproduce import MK, _run, trained_project


def test_reproduce_and_export_work_through_the_server(server: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, "MODELKEEP_URL": server["url"], "MODELKEEP_TOKEN": server["carl"],
           "MODELKEEP_CACHE": str(tmp_path / "cache"), "MODELKEEP_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("MODELKEEP_HOME", None)
    project = trained_project(tmp_path, env, local=False)

    elsewhere = tmp_path / "elsewhere"  # another folder: everything comes from the server
    elsewhere.mkdir()
    done = _run(elsewhere, *MK, "reproduce", "clf@latest", "--to", "repro", "--verify", "--json", env=env)
    result = json.loads(done.stdout)
    assert result["code"]["diff_applied"]  # the recorded diff came back through the store
    assert (elsewhere / "repro" / "code" / "train.py").read_text().endswith("# tuned locally\n")
    assert (elsewhere / "repro" / "data" / "points@1" / "points.csv").read_text().startswith("a,b,label")
    check = result["verify"]
    assert check["match"] and check["artifact"]["same"], check
    assert check["produced"].startswith("clf@") and check["produced"] != result["version"]  # registered there

    bom = json.loads(_run(elsewhere, *MK, "export", "cyclonedx", result["version"], env=env).stdout)
    assert bom["bomFormat"] == "CycloneDX" and any(c["name"] == "points" for c in bom["components"])
    events = json.loads(_run(elsewhere, *MK, "export", "openlineage", result["version"], env=env).stdout)
    assert events and events[0]["eventType"]
    assert not (project / ".modelkeep").exists() and not (elsewhere / ".modelkeep").exists()
