"""Registering without --data after a parent that recorded its training data says so, and how to
keep it (issue 10: the lineage was dropped without a word)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.team.test_through_server import mk_cli


def test_registering_without_data_says_the_parents_data_is_not_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert mk_cli(monkeypatch, capsys, "init")[0] == 0
    (tmp_path / "table").mkdir()
    (tmp_path / "table" / "rows.csv").write_text("a,b\n1,2\n")
    assert mk_cli(monkeypatch, capsys, "data", "add", "table", "--name", "train")[0] == 0
    (tmp_path / "m.bin").write_text("a")
    code, _, err = mk_cli(monkeypatch, capsys, "model", "register", "clf", "m.bin", "--data", "train@1")
    assert code == 0 and "note:" not in err
    (tmp_path / "m.bin").write_text("b")
    code, _, err = mk_cli(monkeypatch, capsys, "model", "register", "clf", "m.bin", "--json")
    assert code == 0
    assert "was trained on train" in err and "records no training data" in err and "--data NAME@N" in err
    code, _, err = mk_cli(monkeypatch, capsys, "model", "register", "clf", "m.bin", "--data", "train@1")
    assert code == 0 and "note:" not in err
