"""A version `mk reproduce --verify` registers re-makes the version it reproduces: it is named
exactly and never becomes `latest`, a range's pick or the parent of the next version (issue 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkeep.errors import InvalidInput
from modelkeep.services.workspace import Workspace


def test_a_reproduction_never_moves_latest(workspace: Workspace, tmp_path: Path) -> None:
    art = tmp_path / "m.bin"
    art.write_text("a")
    first = workspace.registry.register("clf", art, metrics={"auc": 0.9})
    again = workspace.registry.register("clf", art, metrics={"auc": 0.9}, tags={"reproduces": first.ref})
    assert again.status == "reproduction" and again.version != first.version
    assert workspace.registry.get("clf@latest").version == first.version
    assert workspace.registry.get("clf@^1").version == first.version  # nor a range's pick
    assert workspace.registry.get(again.ref).version == again.version  # named exactly, it is there
    assert [m.latest for m in workspace.registry.list_models()] == [first.version]

    art.write_text("b")
    successor = workspace.registry.register("clf", art, metrics={"auc": 0.95})
    assert successor.parent == first.version  # built on the original, past the reproduction's number
    assert workspace.registry.get("clf@latest").version == successor.version
    with pytest.raises(InvalidInput, match="names another model"):
        workspace.registry.register("other", art, tags={"reproduces": first.ref})
