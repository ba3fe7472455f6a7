"""The audit log: append-only and hash-chained.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own canonical
JSON (seq, time, actor, action, target, outcome, source, detail). Editing, removing or
reordering any entry breaks every hash after it, which :func:`verify_chain` reports as the
first bad sequence number. Appends are serialized: SQLite's write transactions are exclusive
(BEGIN IMMEDIATE); on PostgreSQL a transaction-scoped advisory lock orders them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from modelkeep.meta.db import Database
from modelkeep.meta.tables import AuditEntry, Event
from modelkeep.services.clock import utcnow

GENESIS = "0" * 64
_LOCK_KEY = 7_311_027  # advisory lock id for audit appends (PostgreSQL)


def _digest(prev: str, seq: int, at: datetime, actor: str, action: str, target: str, outcome: str,
            source: str, detail: dict[str, Any]) -> str:
    body = json.dumps([seq, at.isoformat(), actor, action, target, outcome, source, detail],
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev + body).encode()).hexdigest()


def append(
    session: Session,
    actor: str,
    action: str,
    target: str,
    *,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    source: str = "local",
) -> AuditEntry:
    """Add one entry inside the caller's transaction (it commits or rolls back with the change)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = utcnow()
    detail = json.loads(json.dumps(detail or {}, default=str))
    entry = AuditEntry(seq=seq, at=at, actor=actor, action=action, target=target, outcome=outcome, source=source,
                       detail=detail, prev_hash=prev,
                       hash=_digest(prev, seq, at, actor, action, target, outcome, source, detail))
    session.add(entry)
    event = event_type(action, detail, outcome)
    if event is not None:  # the outbox row commits (or not) with the change itself
        session.add(Event(type=event, created_at=at, payload={
            "event": event, "at": at.isoformat() + "Z", "actor": actor, "target": target, "detail": detail,
            "audit_seq": seq}))
    session.flush()
    return entry


EVENTS = {
    "model.register": "version.created",
    "model.delete_version": "version.deleted",
    "alias.set": "alias.moved",
    "alias.delete": "alias.moved",
    "promotion.request": "promotion.requested",
    "promotion.approve": "promotion.approved",
    "promotion.reject": "promotion.rejected",
    "promotion.apply": "promotion.applied",
    "dataset.add": "dataset_version.created",
    "deployment.create": "deployment.updated",
    "deployment.update": "deployment.updated",
    "deployment.advance": "deployment.updated",
    "deployment.promote": "deployment.updated",
    "deployment.switch": "deployment.updated",
    "deployment.rollback": "rollback",
    "deployment.alert": "alert",
}
EVENT_TYPES = sorted({*EVENTS.values(), "rollback", "alert"})


def event_type(action: str, detail: dict[str, Any], outcome: str) -> str | None:
    if outcome != "ok":
        return None
    if action == "alias.set" and detail.get("via") == "rollback":
        return "rollback"
    return EVENTS.get(action)


def verify_chain(db: Database) -> dict[str, Any]:
    """``ok``, ``entries`` and ``first_bad`` (the first seq whose hash or link does not hold)."""
    prev, expected_seq, count = GENESIS, 1, 0
    with db.reader() as session:
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(1000):
            count += 1
            digest = _digest(prev, entry.seq, entry.at, entry.actor, entry.action, entry.target, entry.outcome,
                             entry.source, entry.detail)
            if entry.seq != expected_seq or entry.prev_hash != prev or entry.hash != digest:
                return {"ok": False, "entries": count, "first_bad": entry.seq,
                        "reason": "missing entry before it" if entry.seq != expected_seq else
                        "its link to the previous entry is broken" if entry.prev_hash != prev else
                        "its content does not match its hash"}
            prev, expected_seq = entry.hash, entry.seq + 1
    return {"ok": True, "entries": count, "first_bad": None}


def query(
    db: Database,
    *,
    model: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if model:
        stmt = stmt.where(AuditEntry.target.startswith(f"model:{model}@", autoescape=True)
                          | (AuditEntry.target == f"model:{model}"))
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action.like(action.replace("*", "%")))
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at <= until)
    with db.reader() as session:
        return [
            {"seq": e.seq, "at": e.at.isoformat() + "Z", "actor": e.actor, "action": e.action, "target": e.target,
             "outcome": e.outcome, "source": e.source, "detail": e.detail, "hash": e.hash}
            for e in session.scalars(stmt)
        ]
