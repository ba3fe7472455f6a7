"""Bad input gets a clear message and the right exit code (issue 10)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from modelkeep.errors import InvalidInput
from modelkeep.meta.search_language import MAX_DEPTH, MAX_TERMS
from modelkeep.services.models.search import search_versions
from modelkeep.services.workspace import Workspace
from tests.test_cli_data import mk
from tests.test_governance import team  # noqa: F401  (fixture)


def test_deep_and_long_filters_are_refused_clearly(workspace: Workspace) -> None:
    workspace.registry.register("m", params={"a": 1}, metrics={"auc": 0.9})
    deep = "(" * 5000 + "metrics.auc > 0.5" + ")" * 5000
    with pytest.raises(InvalidInput, match=f"deeper than {MAX_DEPTH}"):
        search_versions(workspace.db, deep)
    long = " or ".join(["metrics.auc > 0.5"] * 3000)
    with pytest.raises(InvalidInput, match=f"more than {MAX_TERMS} comparisons"):
        search_versions(workspace.db, long)
    ok = " or ".join(["metrics.auc > 0.5"] * MAX_TERMS)
    assert len(search_versions(workspace.db, "(" * 10 + ok + ")" * 10).results) == 1


def test_unknown_config_keys_are_refused(tmp_path: Path) -> None:
    mk(tmp_path, "init")
    refused = mk(tmp_path, "config", "set", "no.such.key", "1", code=1)
    assert "unknown config key 'no.such.key'" in refused.stderr and "store.url" in refused.stderr
    mk(tmp_path, "config", "set", "remote.backup", str(tmp_path / "b"))


def test_token_create_prints_the_id_revoke_needs(tmp_path: Path) -> None:
    mk(tmp_path, "init")
    mk(tmp_path, "user", "add", "cli-tester", "--role", "admin")
    mk(tmp_path, "user", "add", "carl", "--role", "contributor")
    created = mk(tmp_path, "token", "create", "carl")
    token_id = created.stderr.split("token id ", 1)[1].split()[0]
    assert mk(tmp_path, "token", "revoke", token_id).returncode == 0


def test_empty_alias_and_missing_object_exit_codes(tmp_path: Path) -> None:
    mk(tmp_path, "init")
    (tmp_path / "m.bin").write_text("x")
    mk(tmp_path, "model", "register", "m", "m.bin")
    assert "ends with '@'" in mk(tmp_path, "model", "show", "m@", code=1).stderr
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("a\n1\n")
    mk(tmp_path, "data", "add", "data", "--name", "ds")
    packs = tmp_path / ".modelkeep" / "objects" / "packs"
    for pack in packs.rglob("*"):
        if pack.is_file():
            os.chmod(pack, 0o644)
            pack.unlink()
    failed = mk(tmp_path, "data", "checkout", "ds@1", "--to", "out", code=3)
    assert "nothing in the folder was changed" in failed.stderr and not (tmp_path / "out").exists()


def test_uploads_refuse_dot_names_and_oversize(team: Callable[[str], Workspace], workspace: Workspace) -> None:  # noqa: F811
    from modelkeep.api.app import create_app

    token = team("admin").access.create_token("carl")["token"]
    workspace.config.set("server.max_upload_bytes", "1000")
    client = TestClient(create_app(workspace, dispatch_webhooks=False))
    headers = {"Authorization": f"Bearer {token}"}
    for name in (".", ".."):
        assert client.post(f"/api/v1/artifacts?filename={name}", content=b"x", headers=headers).status_code == 422
    assert client.post("/api/v1/artifacts?filename=big.bin", content=b"x" * 1001, headers=headers).status_code == 422
    assert client.post("/api/v1/artifacts?filename=ok.bin", content=b"x" * 1000, headers=headers).status_code == 201




def test_a_405_lists_every_method_the_path_takes(workspace: Workspace) -> None:
    from modelkeep.api.app import create_app

    client = TestClient(create_app(workspace, dispatch_webhooks=False))
    answer = client.delete("/api/v1/deployments/scorer")  # POST, PATCH and GET are three routes of one path
    assert answer.status_code == 405 and answer.json()["error"] == "ModelKeepError"
    assert answer.headers["allow"] == "GET, HEAD, PATCH, POST"
    answer = client.put("/api/v1/models")
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, HEAD"
