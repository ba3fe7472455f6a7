"""`mk model diff` prints slice names such as auc[holdout] as they are (they were read as Rich
markup and vanished) and has a code section (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkeep.services.workspace import open_workspace
from tests.team.test_through_server import mk_cli


def test_diff_keeps_slice_names_and_shows_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    assert mk_cli(monkeypatch, capsys, "init")[0] == 0
    ws = open_workspace(tmp_path)
    art = tmp_path / "m.bin"
    art.write_text("a")
    ws.registry.register("clf", art, metrics={"auc[holdout]": 0.90, "auc[test]": 0.91},
                         code={"commit": "c0ffee1", "branch": "main", "dirty": False})
    art.write_text("b")
    ws.registry.register("clf", art, metrics={"auc[holdout]": 0.93, "auc[test]": 0.91},
                         code={"commit": "beef002", "branch": "main", "dirty": True})
    ws.close()
    code, out, err = mk_cli(monkeypatch, capsys, "model", "diff", "clf@1.0.0", "clf@latest")
    assert code == 0, err
    assert "auc[holdout]" in out and "+0.03" in out
    assert "c0ffee1" in out and "beef002" in out and "dirty" in out  # the code section
    assert "branch" not in out  # only what differs


def test_show_summarizes_the_baseline_and_json_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import numpy as np

    from modelkeep.stats.profile import profile

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    assert mk_cli(monkeypatch, capsys, "init")[0] == 0
    rows = np.random.default_rng(0).normal(size=(500, 8)).tolist()
    baseline = profile(rows, names=[f"f{i}" for i in range(8)])
    ws = open_workspace(tmp_path)
    art = tmp_path / "m.bin"
    art.write_text("a")
    ws.registry.register("clf", art, metadata={"task": "fraud scoring", "baseline": baseline})
    ws.close()
    code, out, err = mk_cli(monkeypatch, capsys, "model", "show", "clf@latest")
    assert code == 0, err
    assert "500 rows; 8 features (f0, f1, f2, f3, f4, f5, ...)" in out and "task=fraud scoring" in out
    assert len(out) < 2500 and "histogram" not in out and "quantiles" not in out
    code, out, err = mk_cli(monkeypatch, capsys, "model", "show", "clf@latest", "--json")
    assert json.loads(out)["metadata"]["baseline"]["features"].keys() == baseline["features"].keys()
