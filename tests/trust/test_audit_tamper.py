"""The audit log resists someone who can write the database: a keyed chain (HMAC, key outside
the database) and Ed25519-signed checkpoints of the head kept elsewhere (issue 10)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from modelkeep.meta.tables import AuditEntry
from modelkeep.services.governance.audit import GENESIS, _digest, verify_chain
from modelkeep.services.governance.audit_checkpoint import make_checkpoint, read_checkpoints, verify_against
from modelkeep.services.governance.audit_keys import load_public_key, public_key_path, signing_key
from modelkeep.services.workspace import Workspace
from tests.test_governance import team  # noqa: F401  (fixture)


def _recompute_chain(workspace: Workspace, *, strip_macs: bool = False) -> None:
    """What an attacker with the project's own digest function but not the key can do."""
    with workspace.db.writer() as session, session.begin():
        prev = GENESIS
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            entry.prev_hash = prev
            entry.hash = _digest(prev, entry.seq, entry.at, entry.actor, entry.action, entry.target, entry.outcome,
                                 entry.source, entry.detail)
            if strip_macs:
                entry.mac = None
            prev = entry.hash


@pytest.mark.parametrize("strip_macs", [False, True])
def test_an_edit_with_recomputed_hashes_is_detected(team: Callable[[str], Workspace],  # noqa: F811
                                                    workspace: Workspace, strip_macs: bool) -> None:
    assert verify_chain(workspace.db)["ok"] and verify_chain(workspace.db)["keyed"]
    with workspace.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
    _recompute_chain(workspace, strip_macs=strip_macs)
    result = verify_chain(workspace.db)
    assert not result["ok"] and result["first_bad"] == (1 if strip_macs else 3) and "MAC" in result["reason"]


def test_truncation_and_rewrites_are_caught_by_a_signed_checkpoint(team: Callable[[str], Workspace],  # noqa: F811
                                                                   workspace: Workspace) -> None:
    checkpoint = make_checkpoint(workspace.db, signing_key(workspace.config))
    public = load_public_key(public_key_path(workspace.config))
    assert verify_against(workspace.db, [checkpoint], public)["ok"]
    head = checkpoint["seq"]
    with workspace.db.engine.begin() as conn:  # drop the two newest entries: the chain itself stays valid
        conn.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": head - 2})
    assert verify_chain(workspace.db)["ok"]
    result = verify_against(workspace.db, [checkpoint], public)
    assert not result["ok"] and "truncated" in result["checkpoints"][0]["reason"]
    forged = {**checkpoint, "seq": head - 2, "hash": "0" * 64}
    assert "signature" in verify_against(workspace.db, [forged], public)["checkpoints"][0]["reason"]


def test_rewritten_head_is_caught_by_a_signed_checkpoint(team: Callable[[str], Workspace],  # noqa: F811
                                                         workspace: Workspace) -> None:
    checkpoint = make_checkpoint(workspace.db, signing_key(workspace.config))
    with workspace.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET target = 'model:other' WHERE seq = :s"), {"s": checkpoint["seq"]})
    _recompute_chain(workspace)
    result = verify_against(workspace.db, [checkpoint], load_public_key(public_key_path(workspace.config)))
    assert "rewritten" in result["checkpoints"][0]["reason"]


def test_cli_checkpoint_then_verify(tmp_path: Path) -> None:
    from tests.test_cli_data import mk

    mk(tmp_path, "init")
    (tmp_path / "m.bin").write_text("x")
    mk(tmp_path, "model", "register", "fraud", "m.bin")
    mk(tmp_path, "model", "register", "fraud", "m.bin", "--param", "a=1")
    mk(tmp_path, "audit", "checkpoint", "--out", "heads.jsonl")
    mk(tmp_path, "audit", "checkpoint", "--out", "heads.jsonl")
    assert len(read_checkpoints(tmp_path / "heads.jsonl")) == 2
    doc = json.loads(mk(tmp_path, "audit", "verify", "--checkpoint", "heads.jsonl", "--json").stdout)
    assert doc["ok"] and doc["keyed"] and [c["ok"] for c in doc["checkpoints"]] == [True, True]
    import sqlite3

    with sqlite3.connect(tmp_path / ".modelkeep" / "registry.db") as conn:
        conn.execute("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
    failed = mk(tmp_path, "audit", "verify", "--checkpoint", "heads.jsonl", code=3)
    assert "truncated" in failed.stderr


def test_denied_attempts_are_audited(team: Callable[[str], Workspace], workspace: Workspace) -> None:  # noqa: F811
    from modelkeep.api.app import create_app

    admin = team("admin")
    token = admin.access.create_token("vera")["token"]
    client = TestClient(create_app(workspace, dispatch_webhooks=False))
    assert client.put("/api/v1/models/fraud/aliases/staging", json={"version": "1.0.0"},
                      headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert client.get("/api/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with workspace.db.reader() as session:
        denied = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).all()
    assert {(e.actor, e.action) for e in denied} == {("vera", "access.check"), ("anonymous", "access.login")}
    assert verify_chain(workspace.db)["ok"]


def test_the_server_checkpoints_every_n_entries(team: Callable[[str], Workspace], workspace: Workspace) -> None:  # noqa: F811
    from sqlalchemy import select as select_

    from modelkeep.errors import InvalidInput
    from modelkeep.meta.tables import Event
    from modelkeep.services.governance.audit_checkpoint import CheckpointSchedule

    workspace.config.set("audit.checkpoint_every", "nope")
    with pytest.raises(InvalidInput, match="audit.checkpoint_every"):
        CheckpointSchedule(workspace.db, workspace.config)
    workspace.config.set("audit.checkpoint_every", "5")
    schedule = CheckpointSchedule(workspace.db, workspace.config)
    first = schedule.tick()  # the team fixture wrote more than 5 entries
    assert first is not None and schedule.tick() is None  # nothing new since
    team("admin").access.create_user("newcomer")
    assert schedule.tick() is None  # 1 entry, fewer than 5
    logged = read_checkpoints(workspace.config.root / "keys" / "checkpoints.jsonl")
    assert [c["seq"] for c in logged] == [first["seq"]]
    assert CheckpointSchedule(workspace.db, workspace.config).last == first["seq"]  # read back after a restart
    public = load_public_key(public_key_path(workspace.config))
    assert verify_against(workspace.db, logged, public)["ok"]
    with workspace.db.reader() as session:
        events = session.scalars(select_(Event).where(Event.type == "audit.checkpoint")).all()
    assert [e.payload["detail"]["seq"] for e in events] == [first["seq"]]
