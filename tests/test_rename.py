"""Renaming a model (issue 13: MLflow's registered-models/rename): versions, aliases, lineage and
runs hold the model's id and follow it; what names it by name follows in the same transaction;
the audit log records the rename; a deployment pinning a version refuses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from modelkeep.errors import Conflict, InvalidInput, NotFound
from modelkeep.services.connection import LocalConnection
from modelkeep.services.evaluation.records import NoteRequest
from modelkeep.services.governance import audit
from modelkeep.services.workspace import Workspace
from tests.deploy_helpers import register


def test_a_rename_carries_everything_that_names_the_model(workspace: Workspace, tmp_path: Path) -> None:
    art = tmp_path / "m.bin"
    art.write_text("a")
    first = workspace.registry.register("fraud_v", art, metrics={"auc": 0.9})
    art.write_text("b")
    workspace.registry.register("fraud_v", art, metrics={"auc": 0.93})
    workspace.registry.register("fraudXv", art)  # "_" is not a wildcard: this one keeps its name
    workspace.registry.set_alias(f"fraud_v@{first.version}", "production")
    conn = LocalConnection(workspace)
    conn.branches.create("fraud_v~wide")
    art.write_text("c")
    workspace.registry.register("fraud_v~wide", art)
    workspace.promotions.protect("fraud_v", "production", required_approvals=1)
    workspace.access.create_user(workspace.access.actor, role="admin")
    workspace.access.create_user("mo", role="viewer")
    workspace.access.bind("mo", "contributor", "model", "fraud_v")
    conn.evaluations.note(NoteRequest(ref="fraud_v~wide@latest", text="why wide", kind="decision"))
    conn.retention.set_policy("model", "fraud_v", {"keep_last": 5})
    conn.retention.hold(f"fraud_v@{first.version}", "case 7")
    workspace.webhooks.add("http://127.0.0.1:9/hook", ["version.created"], format="words", subject="model:fraud_v")

    assert workspace.registry.rename_model("fraud_v", "fraud-risk") == ["fraud-risk~wide"]

    with pytest.raises(NotFound):
        workspace.registry.get("fraud_v@latest")
    moved = workspace.registry.get("fraud-risk@production")
    assert moved.version == first.version and moved.digest == first.digest
    assert workspace.registry.get("fraudXv@latest").name == "fraudXv"
    assert [b.line for b in conn.branches.list("fraud-risk")] == ["fraud-risk", "fraud-risk~wide"]
    assert [n.text for n in conn.evaluations.notes("fraud-risk~wide@latest")] == ["why wide"]
    assert workspace.access.allowed("mo", "model.write", model="fraud-risk")  # the binding followed
    assert not workspace.access.allowed("mo", "model.write", model="fraud_v")
    with pytest.raises(Exception, match="protected|approval|promot"):  # production is still protected
        workspace.registry.set_alias("fraud-risk@latest", "production")
    assert [h["target"] for h in conn.retention.holds()] == [f"model:fraud-risk@{first.version}"]
    assert [(p["kind"], p["scope"]) for p in conn.retention.policies()] == [("model", "fraud-risk")]
    entry = audit.query(workspace.db, action="model.rename")[0]
    assert entry["target"] == "model:fraud-risk" and entry["detail"] == {"from": "fraud_v", "lines": ["fraud-risk~wide"]}
    assert audit.verify_chain(workspace.db)["ok"]

    with pytest.raises(Conflict, match="already exists"):
        workspace.registry.rename_model("fraud-risk", "fraudXv")
    with pytest.raises(InvalidInput, match="main name"):
        workspace.registry.rename_model("fraud-risk~wide", "x")


def test_a_deployed_model_is_not_renamed(any_workspace: Workspace) -> None:
    ws = any_workspace
    register(ws, [1.0, 0.5, 0.0])
    ws.deployments.create("clf", ws.deployments.plan("single", "clf@latest"))
    with pytest.raises(Conflict, match="deployment clf"):
        ws.registry.rename_model("clf", "clf2")
    assert ws.registry.get("clf@latest").name == "clf"  # nothing half-done


def test_rename_through_the_cli_the_api_and_mlflow(workspace: Workspace, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.api.app import create_app
    from modelkeep.cli.main import app as cli

    art = tmp_path / "m.bin"
    art.write_text("a")
    workspace.registry.register("a1", art)
    monkeypatch.chdir(workspace.config.root)
    done = CliRunner().invoke(cli, ["model", "rename", "a1", "a2", "--json"])
    assert done.exit_code == 0, done.output
    assert '"from": "a1"' in done.output and workspace.registry.get("a2@latest")
    workspace.access.create_user(workspace.access.actor, role="admin")
    token = workspace.access.create_token(workspace.access.actor)["token"]
    http = TestClient(create_app(workspace, dispatch_webhooks=False))
    auth = {"Authorization": f"Bearer {token}"}
    assert http.post("/api/v1/models/a2/rename", json={"name": "a3"}, headers=auth).json()["name"] == "a3"
    bad = http.post("/api/v1/models/a3/rename", json={"name": "no way"}, headers=auth)
    assert bad.status_code == 422
    renamed = http.post("/api/2.0/mlflow/registered-models/rename", json={"name": "a3", "new_name": "a4"}, headers=auth)
    assert renamed.status_code == 200 and renamed.json()["registered_model"]["name"] == "a4"
    missing = http.post("/api/2.0/mlflow/registered-models/rename", json={"name": "a3", "new_name": "a5"}, headers=auth)
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
