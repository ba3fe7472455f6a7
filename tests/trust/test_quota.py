"""Per-project storage quotas (issue 10: the server accepted uploads of any size with no quota).
``quota.project.NAME`` / ``quota.default`` cap a project's model artifacts and run artifacts; the
service refuses what would exceed it, locally and through the server alike."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from modelkeep.errors import InvalidInput, QuotaExceeded
from modelkeep.services.workspace import Workspace


def test_a_project_cannot_store_past_its_quota(workspace: Workspace, tmp_path: Path) -> None:
    workspace.config.set("quota.project.team", "2KB")
    workspace.config.set("quota.default", "1.5KB")
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(os.urandom(1200))
    second.write_bytes(os.urandom(900))
    with workspace.runs.start("train", project="team") as run:
        run.log_artifact(first)  # 1,200 of 2,000
        with pytest.raises(QuotaExceeded, match="'team' holds 1,200 bytes of its 2,000-byte quota"):
            run.log_artifact(second)
        with pytest.raises(QuotaExceeded, match="quota.project.team"):
            workspace.registry.register("clf", second, tags={"run": str(run.id)})  # a version of the run counts too
    assert workspace.registry.list_models() == []  # nothing half-recorded
    workspace.registry.register("solo", first)  # outside any run: the project default, 1,200 of 1,500
    with pytest.raises(QuotaExceeded, match="quota.default"):
        workspace.registry.register("solo", second)
    with workspace.runs.start("other", project="ads") as run:  # another project: its own (default) quota
        run.log_artifact(second)


def test_quota_settings_are_checked_when_set(workspace: Workspace) -> None:
    with pytest.raises(InvalidInput, match="is not a size"):
        workspace.config.set("quota.project.team", "lots")
    with pytest.raises(InvalidInput, match="unknown config key"):
        workspace.config.set("quota.project.a.b", "1GB")
    workspace.config.set("quota.project.team", "50GiB")
    assert workspace.registry.quotas is not None and workspace.registry.quotas.limit("team") == 50 << 30


def test_the_server_answers_413_with_the_kind_the_client_rebuilds(workspace: Workspace, tmp_path: Path) -> None:
    from modelkeep.api.app import create_app
    from modelkeep.client.registry import RemoteRegistry

    workspace.config.set("quota.default", "100B")
    workspace.access.create_user("admin", role="admin")
    token = workspace.as_user("admin").access.create_token("admin")["token"]
    client = TestClient(create_app(workspace, dispatch_webhooks=False), headers={"Authorization": f"Bearer {token}"})
    (tmp_path / "m.bin").write_bytes(os.urandom(500))
    stored = workspace.store.put_path(tmp_path / "m.bin")
    answer = client.post("/api/v1/models/clf/versions", json={"artifact": {"kind": stored.kind, "digest": stored.digest}})
    assert answer.status_code == 413 and answer.json()["error"] == "QuotaExceeded"
    remote = RemoteRegistry("http://testserver", token)
    remote.transport.http = client  # the same app, in-process
    with pytest.raises(QuotaExceeded, match="100-byte quota"):
        remote.register("clf", artifact={"kind": stored.kind, "digest": stored.digest})
