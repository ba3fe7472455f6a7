"""The SDK's public surface is what we meant (the layers are held by import-linter: pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import modelkeep as mk

PACKAGE = Path(mk.__file__).parent


def test_exported_members() -> None:
    assert mk.__all__ == sorted(mk.__all__)
    assert set(mk.__all__) == {
        "Conflict", "IntegrityError", "InvalidInput", "MLVersion", "ModelKeepError", "NotFound", "Part",
        "PermissionDenied", "VersionSpec", "__version__", "connection", "delete", "delete_alias", "diff", "download",
        "get", "init", "lineage", "list_models", "list_versions", "load_model", "open", "register", "search",
        "seed_everything", "set_alias",
        "start_run", "step",
    }
    for name in mk.__all__:
        assert getattr(mk, name) is not None


def test_sdk_end_to_end(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.chdir(tmp_path)
    mk.init(tmp_path)
    art = tmp_path / "m.bin"
    art.write_text("x")
    v1 = mk.register("fraud", art, params={"lr": 0.1}, metrics={"auc": 0.8})
    v2 = mk.register("fraud", art, params={"lr": 0.05}, metrics={"auc": 0.85})
    mk.set_alias(v2.ref, "production")
    assert mk.get("fraud@production").version == v2.version
    assert [v.ref for v in mk.search("metrics.auc >= 0.85").results] == [v2.ref]
    assert mk.diff(v1.ref, v2.ref)["params"][0]["status"] == "changed"
    assert [m.name for m in mk.list_models()] == ["fraud"]
    assert len(mk.list_versions("fraud")) == 2
