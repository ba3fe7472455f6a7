"""The data, push/pull and verify commands as scripts see them (JSON keys of shared/CLI.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MK = [sys.executable, "-m", "modelkeep.cli.main"]


def mk(cwd: Path, *args: str, code: int = 0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELKEEP_USER": "cli-tester", **(env or {})}
    env.pop("MODELKEEP_HOME", None)
    result = subprocess.run([*MK, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == code, (result.stdout, result.stderr)
    return result


@pytest.mark.long
def test_data_commands_json_contract(tmp_path: Path) -> None:
    mk(tmp_path, "init")
    data = tmp_path / "data"
    data.mkdir()
    (data / "t.csv").write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(1000)))
    added = json.loads(mk(tmp_path, "data", "add", "data", "--name", "t", "-m", "v1", "--json").stdout)
    for key in ("name", "version", "digest", "files", "bytes", "bytes_new", "bytes_stored"):
        assert key in added
    assert (added["name"], added["version"], added["files"]) == ("t", 1, 1)
    (data / "t.csv").write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(1001)))
    status = json.loads(mk(tmp_path, "data", "status", "t", "--json").stdout)
    assert [m["path"] for m in status["modified"]] == ["t.csv"] and status["added"] == status["removed"] == []
    mk(tmp_path, "data", "add", "data", "--name", "t", "-m", "v2")
    diff = json.loads(mk(tmp_path, "data", "diff", "t@1", "t@2", "--json").stdout)
    assert diff["rows"]["t.csv"]["added"] == 1 and diff["rows"]["t.csv"]["removed"] == 0
    log = json.loads(mk(tmp_path, "data", "log", "t", "--json").stdout)
    assert [v["version"] for v in log] == [2, 1] and log[0]["message"] == "v2"
    assert json.loads(mk(tmp_path, "data", "ls", "t@1", "--json").stdout)[0]["path"] == "t.csv"
    assert mk(tmp_path, "data", "cat", "t@1", "t.csv").stdout.count("\n") == 1001
    out = json.loads(mk(tmp_path, "data", "checkout", "t@1", "--to", "copy", "--json").stdout)
    assert out["files"] == 1 and (tmp_path / "copy" / "t.csv").read_text().count("\n") == 1001
    mk(tmp_path, "config", "set", "remote.origin", str(tmp_path / "remote"))
    pushed = json.loads(mk(tmp_path, "push", "--json").stdout)
    assert pushed["objects"] > 0 and pushed["bytes"] > 0
    assert json.loads(mk(tmp_path, "push", "--json").stdout)["objects"] == 0
    pulled = json.loads(mk(tmp_path, "pull", "--json").stdout)
    assert pulled["objects"] == 0  # everything is here already
    verified = json.loads(mk(tmp_path, "verify", "--json").stdout)
    assert verified["ok"] and verified["checked"] > 0 and verified["damaged"] == [] and verified["affected"] == []
    # A model version links to a dataset version; an unknown one is refused.
    (tmp_path / "m.bin").write_text("m")
    mk(tmp_path, "model", "register", "m", "m.bin", "--data", "t@1")
    shown = json.loads(mk(tmp_path, "model", "register", "m", "m.bin", "--data", "t@2", "--json").stdout)
    assert shown["bump"] == "data" and shown["data"] == ["t@2"]
    bad = mk(tmp_path, "model", "register", "m", "m.bin", "--data", "t@9", code=1)
    assert "no version 9" in bad.stderr


def test_data_errors(tmp_path: Path) -> None:
    mk(tmp_path, "init")
    missing = mk(tmp_path, "data", "add", "nope", "--name", "x", code=1)
    assert missing.stderr.startswith("error: nope does not exist") and "Traceback" not in missing.stderr
    (tmp_path / "f.txt").write_text("x")
    bad_name = mk(tmp_path, "data", "add", "f.txt", "--name", "no/slash", code=1)
    assert "invalid dataset name" in bad_name.stderr
    mk(tmp_path, "data", "log", "ghost", code=1)
    mk(tmp_path, "config", "set", "store.url", "nosuchproto://x")
    unsupported = mk(tmp_path, "data", "add", "f.txt", "--name", "x", code=1)
    assert "unsupported store URL" in unsupported.stderr
