"""A local command refused for lack of permission is audited with outcome `denied`, as the server
audits refused requests (issue 10: denied attempts are audited too)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.team.test_through_server import mk_cli


def test_a_refused_local_command_is_audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert mk_cli(monkeypatch, capsys, "init")[0] == 0
    assert mk_cli(monkeypatch, capsys, "user", "add", "admin", "--role", "admin")[0] == 0
    monkeypatch.setenv("MODELKEEP_USER", "admin")
    assert mk_cli(monkeypatch, capsys, "user", "add", "vera", "--role", "viewer")[0] == 0
    (tmp_path / "m.bin").write_text("a")
    monkeypatch.setenv("MODELKEEP_USER", "vera")
    code, _, err = mk_cli(monkeypatch, capsys, "model", "register", "clf", "m.bin")
    assert code == 4 and "vera may not model.write" in err
    monkeypatch.setenv("MODELKEEP_USER", "admin")
    code, out, err = mk_cli(monkeypatch, capsys, "audit", "log", "--json")
    assert code == 0, err
    refused = [e for e in json.loads(out) if e["outcome"] == "denied"]
    assert [(e["actor"], e["action"], e["target"]) for e in refused] == [("vera", "access.check", "cli:mk model register")]
    assert refused[0]["detail"]["permission"] == "model.write"
    code, out, _ = mk_cli(monkeypatch, capsys, "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"]
