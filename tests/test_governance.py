"""Roles, tokens, the four-eyes rule, gates, rollback, alias history and audit tamper detection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from modelkeep.errors import Conflict, PermissionDenied
from modelkeep.services.clock import utcnow
from modelkeep.services.governance.audit import verify_chain
from modelkeep.services.workspace import Workspace, open_workspace


def as_user(workspace: Workspace, name: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("MODELKEEP_USER", name)
    return open_workspace(workspace.config.root)


@pytest.fixture
def team(workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Workspace]:
    """A shared registry: two versions of fraud, production protected, one user per role."""
    art = tmp_path / "m.bin"
    art.write_text("a")
    workspace.registry.register("fraud", art, metrics={"auc": 0.90}, tags={"evaluated": "yes"})
    art.write_text("b")
    workspace.registry.register("fraud", art, metrics={"auc": 0.93}, params={"depth": 5}, tags={"evaluated": "yes"})
    workspace.registry.set_alias("fraud@1.0.0", "production")
    workspace.promotions.protect("*", "production", required_approvals=1,
                                 gates={"compare_with_current": {"metric": "auc", "max_drop": 0.0},
                                        "required_tags": ["evaluated"]})
    workspace.access.create_user("admin", role="admin")
    admin = as_user(workspace, "admin", monkeypatch)
    admin.access.create_user(workspace.access.actor, role="viewer")  # the fixture's own user reads, as a viewer
    for name, role in (("vera", "viewer"), ("carl", "contributor"), ("ada", "approver"), ("abe", "approver")):
        admin.access.create_user(name, role=role)
    opened: dict[str, Workspace] = {}

    def login(name: str) -> Workspace:
        opened[name] = as_user(workspace, name, monkeypatch)
        return opened[name]

    return login


OPERATIONS: dict[str, Callable[[Workspace], object]] = {
    "read": lambda ws: ws.registry.get("fraud@latest"),
    "register": lambda ws: ws.registry.register("fraud", params={"depth": 7}),
    "alias staging": lambda ws: ws.registry.set_alias("fraud@1.0.1", "staging"),
    "request promotion": lambda ws: ws.promotions.request("fraud@1.0.1", "production", "auc +0.03"),
    "rollback": lambda ws: ws.promotions.rollback("fraud", "production"),
    "protect": lambda ws: ws.promotions.protect("fraud", "staging"),
    "add user": lambda ws: ws.access.create_user("someone-new"),
}
EXPECTED = {
    "viewer": {"read"},
    "contributor": {"read", "register", "alias staging", "request promotion"},
    "approver": {"read", "rollback"},
    "admin": set(OPERATIONS),
}
USERS = {"viewer": "vera", "contributor": "carl", "approver": "ada", "admin": "admin"}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_matrix(team: Callable[[str], Workspace], role: str) -> None:
    ws = team(USERS[role])
    for operation, run in OPERATIONS.items():
        try:
            run(ws)
            allowed = True
        except PermissionDenied:
            allowed = False
        except Conflict:  # permitted, but the state did not allow it (e.g. nothing to roll back)
            allowed = True
        assert allowed == (operation in EXPECTED[role]), f"{role} {operation}"


def test_four_eyes_gates_and_rollback(team: Callable[[str], Workspace], workspace: Workspace) -> None:
    carl = team("carl")
    with pytest.raises(PermissionDenied, match="protected"):
        carl.registry.set_alias("fraud@1.0.1", "production")
    request = carl.promotions.request("fraud@1.0.1", "production", "auc 0.93 vs 0.90", ticket="CHG-7")
    assert request["status"] == "pending" and all(g["passed"] for g in request["gates"])
    admin = team("admin")
    admin.access.bind("carl", "approver")  # even an approver may not approve their own request
    with pytest.raises(PermissionDenied, match="may not approve it"):
        team("carl").promotions.review(request["id"], "approve")
    applied = team("ada").promotions.review(request["id"], "approve", "numbers check out")
    assert applied["status"] == "applied" and applied["approvals"] == 1
    assert workspace.registry.get("fraud@production").version == "1.0.1.0.0"
    moved_at = utcnow()
    back = team("abe").promotions.rollback("fraud", "production")
    assert (back["from"], back["to"]) == ("1.0.1.0.0", "1.0.0.0.0")
    assert workspace.registry.get("fraud@production").version == "1.0.0.0.0"
    promotions = workspace.promotions
    assert promotions.holder_at("fraud", "production", moved_at) == "1.0.1.0.0"
    assert promotions.holder_at("fraud", "production", utcnow()) == "1.0.0.0.0"
    assert promotions.holder_at("fraud", "production", moved_at - timedelta(days=1)) is None
    # A candidate worse than the holder is blocked by the comparison gate.
    worse = team("carl").registry.register("fraud", metrics={"auc": 0.5}, tags={"evaluated": "yes"}, params={"d": 1})
    gate = team("carl").promotions.request(worse.ref, "production", "try")
    assert gate["status"] == "blocked" and not gate["gates"][0]["passed"]
    with pytest.raises(Conflict, match="blocked"):
        team("ada").promotions.review(gate["id"], "approve")
    assert verify_chain(workspace.db)["ok"]


def test_tokens_are_hashed_expire_and_revoke(team: Callable[[str], Workspace], workspace: Workspace) -> None:
    admin = team("admin")
    issued = admin.access.create_token("carl", name="ci")
    now = [1000.0]
    admin.access.clock = lambda: now[0]
    assert admin.access.known(issued["token"]) is None  # never asked: the server's loop hands it to a thread
    assert admin.access.authenticate(issued["token"]).name == "carl"
    known = admin.access.known(issued["token"])
    assert known is not None and known.name == "carl"  # answered without the database, for CACHE_S
    now[0] += admin.access.CACHE_S
    assert admin.access.known(issued["token"]) is None
    with workspace.db.reader() as session:
        stored = session.execute(text("SELECT hash FROM api_tokens")).scalars().all()
    assert issued["token"] not in stored and all(len(h) == 64 for h in stored)
    with pytest.raises(PermissionDenied, match="unknown"):
        admin.access.authenticate(issued["token"][:-2] + "xx")
    admin.access.revoke_token(issued["id"])
    with pytest.raises(PermissionDenied, match="revoked"):
        admin.access.authenticate(issued["token"])
    short = admin.access.create_token("carl", expires_days=-1)
    with pytest.raises(PermissionDenied, match="expired"):
        admin.access.authenticate(short["token"])


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder"])
def test_audit_chain_detects_tampering(team: Callable[[str], Workspace], workspace: Workspace, tamper: str) -> None:
    before = verify_chain(workspace.db)
    assert before["ok"] and before["entries"] >= 8
    with workspace.db.engine.begin() as conn:
        if tamper == "edit":
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
        elif tamper == "delete":
            conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
        else:
            conn.execute(text("UPDATE audit_log SET seq = 1000 WHERE seq = 3"))
            conn.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = 4"))
            conn.execute(text("UPDATE audit_log SET seq = 4 WHERE seq = 1000"))
    after = verify_chain(workspace.db)
    assert not after["ok"] and after["first_bad"] in (3, 4)


def test_whether_the_registry_has_users_is_asked_once_for_all_requests(workspace: Workspace) -> None:
    """The server makes an Access per request (for_actor): they share the answer (each asked again before)."""
    from sqlalchemy import event

    asked: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "FROM users" in statement and "count(" in statement:
            asked.append(statement)

    workspace.access.create_user("admin", role="admin")
    workspace.access.clock = lambda: 1_000.0  # however slow the machine, the answer is never 5 s old here
    event.listen(workspace.db.engine, "before_cursor_execute", count)
    try:
        assert [workspace.access.for_actor(f"user-{i}").personal() for i in range(5)] == [False] * 5
    finally:
        event.remove(workspace.db.engine, "before_cursor_execute", count)
    assert len(asked) == 1
