"""`mk config` keeps a user's comments and has a --global level (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkeep.config import user_config_path
from modelkeep.services.workspace import init_workspace
from tests.team.test_through_server import mk_cli


def test_set_keeps_comments_and_global_values_sit_below_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    workspace, _ = init_workspace(tmp_path)
    workspace.close()
    config = tmp_path / ".modelkeep" / "config.toml"
    config.write_text("# our team's settings: ask #ml-platform before changing\n[user]\n"
                      "name = \"ana\"  # the name on every version\n\n[store]\ncompression = \"3\"\n")
    assert mk_cli(monkeypatch, capsys, "config", "set", "remote.origin", "/mnt/shared/models")[0] == 0
    assert mk_cli(monkeypatch, capsys, "config", "set", "user.name", "bea")[0] == 0
    text = config.read_text()
    assert "# our team's settings: ask #ml-platform" in text and "# the name on every version" in text
    assert 'name = "bea"' in text and 'compression = "3"' in text and 'origin = "/mnt/shared/models"' in text

    code, _, err = mk_cli(monkeypatch, capsys, "config", "set", "store.compresion", "5", "--global")
    assert code == 1 and "unknown config key 'store.compresion'" in err and not user_config_path().exists()
    assert mk_cli(monkeypatch, capsys, "config", "set", "audit.checkpoint_every", "50", "--global")[0] == 0
    assert mk_cli(monkeypatch, capsys, "config", "set", "user.name", "global-carl", "--global")[0] == 0
    assert mk_cli(monkeypatch, capsys, "config", "get", "audit.checkpoint_every")[1].strip() == "50"  # from the user's
    assert mk_cli(monkeypatch, capsys, "config", "get", "user.name")[1].strip() == "bea"  # the repository's wins
    assert mk_cli(monkeypatch, capsys, "config", "get", "user.name", "--global")[1].strip() == "global-carl"
    assert "global-carl" not in config.read_text()  # a global value never lands in the repository's file
