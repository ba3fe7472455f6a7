"""The audit log: append-only, hash-chained, keyed, and checkpointed outside the database.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own canonical
JSON (seq, time, actor, action, target, outcome, source, detail). Editing, removing or
reordering any entry breaks every hash after it, which :func:`verify_chain` reports as the
first bad sequence number. Appends are serialized: SQLite's write transactions are exclusive
(BEGIN IMMEDIATE); on PostgreSQL a transaction-scoped advisory lock orders them.

A hash chain alone stops no one who can write the database: they recompute it. So each entry
also carries ``mac`` = HMAC-SHA256(key, hash) with a key that does not live in the database
(``audit_keys``); rows written before a key existed are sealed by the first keyed append.
Truncating the newest entries leaves a valid chain too: signed checkpoints of the chain head,
kept outside the database (``audit_checkpoint``), catch that.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from modelkeep.meta.db import Database
from modelkeep.meta.tables import AuditEntry, Event, table_of
from modelkeep.services.clock import utcnow

GENESIS = "0" * 64
_LOCK_KEY = 7_311_027  # advisory lock id for audit appends (PostgreSQL)
# Built once: every registration and alias move appends, and building a statement (its clauses and
# cache key) cost more than running it on SQLite.
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_LAST = select(AuditEntry.seq, AuditEntry.hash, AuditEntry.mac).order_by(AuditEntry.seq.desc()).limit(1)
_INSERT_ENTRY = insert(table_of(AuditEntry))
_INSERT_EVENT = insert(table_of(Event))


def _digest(prev: str, seq: int, at: datetime, actor: str, action: str, target: str, outcome: str,
            source: str, detail: dict[str, Any]) -> str:
    body = json.dumps([seq, at.isoformat(), actor, action, target, outcome, source, detail],
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev + body).encode()).hexdigest()


def entry_mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def _seal_unkeyed(session: Session, key: bytes) -> None:
    """Give every entry written before the key existed its MAC (once: the first keyed append)."""
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.mac.is_(None)).order_by(AuditEntry.seq)):
        entry.mac = entry_mac(key, entry.hash)


def seal(db: Database) -> None:
    """MAC every entry that has none yet (entries from before the key existed)."""
    if db.audit_key is None:
        return
    with db.writer() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        _seal_unkeyed(session, db.audit_key)


def append(
    session: Session,
    actor: str,
    action: str,
    target: str,
    *,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    source: str = "local",
) -> None:
    """Add one entry inside the caller's transaction (it commits or rolls back with the change)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK, {"key": _LOCK_KEY})
    last = session.execute(_LAST).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    key: bytes | None = session.info.get("audit_key")
    if key is not None and last is not None and last[2] is None:
        _seal_unkeyed(session, key)
    at = utcnow()
    detail = json.loads(json.dumps(detail or {}, default=str))
    digest = _digest(prev, seq, at, actor, action, target, outcome, source, detail)
    # Core inserts, not the unit of work: every registration and alias move appends here
    session.execute(_INSERT_ENTRY, {
        "seq": seq, "at": at, "actor": actor, "action": action, "target": target, "outcome": outcome, "source": source,
        "detail": detail, "prev_hash": prev, "hash": digest, "mac": entry_mac(key, digest) if key is not None else None})
    event = event_type(action, detail, outcome)
    if event is not None:  # the outbox row commits (or not) with the change itself
        session.execute(_INSERT_EVENT, {"type": event, "created_at": at, "payload": {
            "event": event, "at": at.isoformat() + "Z", "actor": actor, "target": target, "detail": detail,
            "audit_seq": seq}})


EVENTS = {
    "model.create": "model.created",
    "model.register": "version.created",
    "model.update_version": "version.updated",
    "model.delete_version": "version.deleted",
    "alias.set": "alias.moved",
    "alias.delete": "alias.moved",
    "promotion.request": "promotion.requested",
    "promotion.approve": "promotion.approved",
    "promotion.reject": "promotion.rejected",
    "promotion.apply": "promotion.applied",
    "dataset.add": "dataset_version.created",
    "run.start": "run.started",
    "run.end": "run.ended",
    "deployment.create": "deployment.updated",
    "deployment.update": "deployment.updated",
    "deployment.advance": "deployment.updated",
    "deployment.promote": "deployment.updated",
    "deployment.switch": "deployment.updated",
    "deployment.rollback": "rollback",
    "deployment.alert": "alert",
    "gc.run": "gc.completed",
    "branch.merge": "branch.merged",
    "evaluation.record": "evaluation.recorded",
}
EVENT_TYPES = sorted({*EVENTS.values(), "rollback", "alert", "audit.checkpoint"})


def event_type(action: str, detail: dict[str, Any], outcome: str) -> str | None:
    if outcome != "ok":
        return None
    if action == "alias.set" and detail.get("via") == "rollback":
        return "rollback"
    return EVENTS.get(action)


def verify_chain(db: Database, key: bytes | None = None) -> dict[str, Any]:
    """``ok``, ``entries``, ``head`` (seq and hash of the last entry), ``keyed`` (whether MACs were
    checked) and ``first_bad`` (the first seq whose hash, link or MAC does not hold).

    With a key (``key`` or the database's), every entry must carry a valid MAC: an entry edited
    and re-hashed by someone without the key, or stripped of its MAC, fails here.
    """
    key = key if key is not None else db.audit_key
    prev, expected_seq, count, head = GENESIS, 1, 0, None
    with db.reader() as session:
        for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(1000):
            count += 1
            digest = _digest(prev, entry.seq, entry.at, entry.actor, entry.action, entry.target, entry.outcome,
                             entry.source, entry.detail)
            bad_mac = key is not None and not (entry.mac and hmac.compare_digest(entry.mac, entry_mac(key, entry.hash)))
            if entry.seq != expected_seq or entry.prev_hash != prev or entry.hash != digest or bad_mac:
                return {"ok": False, "entries": count, "first_bad": entry.seq, "keyed": key is not None, "head": head,
                        "reason": "missing entry before it" if entry.seq != expected_seq else
                        "its link to the previous entry is broken" if entry.prev_hash != prev else
                        "its content does not match its hash" if entry.hash != digest else
                        "its MAC is missing or wrong: it was written or rewritten without the audit key"}
            prev, expected_seq, head = entry.hash, entry.seq + 1, {"seq": entry.seq, "hash": entry.hash}
    return {"ok": True, "entries": count, "first_bad": None, "keyed": key is not None, "head": head}


def query(
    db: Database,
    *,
    model: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """The newest entries first (``before``: only those older than that seq, the next page)."""
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(AuditEntry.seq < before)
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
