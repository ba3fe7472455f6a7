"""Retention policies and legal holds: set, show, release (admin only; audited)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.tables import LegalHold, RetentionPolicy
from modelkeep.services.clock import utcnow
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.models.inputs import check_name
from modelkeep.services.retention.rules import RetentionRules

KINDS = ("model", "dataset")


def check_target(target: str) -> str:
    """``model:NAME@VERSION`` or ``dataset:NAME@N`` (a bare ``NAME@VERSION`` is a model)."""
    kind, sep, ref = target.partition(":")
    if not sep:
        kind, ref = "model", target
    name, at, version = ref.partition("@")
    if kind not in KINDS or not at or not version:
        raise InvalidInput(f"hold target {target!r}: model:NAME@VERSION or dataset:NAME@N")
    check_name(name)
    return f"{kind}:{ref}"


class Retention:
    def __init__(self, db: Database, access: Access) -> None:
        self.db, self.access = db, access

    def set_policy(self, kind: str, scope: str, rules: dict[str, Any]) -> dict[str, Any]:
        self.access.check("admin")
        if kind not in KINDS:
            raise InvalidInput(f"policy kind {kind!r}: model or dataset")
        if scope != "*":
            check_name(scope)
        try:
            parsed = RetentionRules.model_validate(rules)
        except ValidationError as exc:
            said = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"retention rules: {said}") from None
        with self.db.writer() as session, session.begin():
            session.execute(delete(RetentionPolicy).where(RetentionPolicy.kind == kind, RetentionPolicy.scope == scope))
            session.add(RetentionPolicy(kind=kind, scope=scope, rules=parsed.model_dump(exclude_none=True),
                                        updated_by=self.access.actor, updated_at=utcnow()))
            audit.append(session, self.access.actor, "retention.set", f"{kind}:{scope}",
                         detail={"rules": parsed.model_dump(exclude_none=True)})
        return {"kind": kind, "scope": scope, "rules": parsed.model_dump(exclude_none=True), "says": parsed.describe()}

    def unset_policy(self, kind: str, scope: str) -> None:
        self.access.check("admin")
        with self.db.writer() as session, session.begin():
            gone = session.execute(select(RetentionPolicy.id).where(RetentionPolicy.kind == kind,
                                                                    RetentionPolicy.scope == scope)).first()
            if gone is None:
                raise NotFound(f"no retention policy for {kind} {scope}")
            session.execute(delete(RetentionPolicy).where(RetentionPolicy.kind == kind, RetentionPolicy.scope == scope))
            audit.append(session, self.access.actor, "retention.unset", f"{kind}:{scope}")

    def policies(self) -> list[dict[str, Any]]:
        self.access.check("model.read")
        with self.db.reader() as session:
            rows = session.scalars(select(RetentionPolicy).order_by(RetentionPolicy.kind, RetentionPolicy.scope))
            return [{"kind": r.kind, "scope": r.scope, "rules": dict(r.rules),
                     "says": RetentionRules.model_validate(r.rules).describe(), "updated_by": r.updated_by,
                     "updated_at": r.updated_at.isoformat() + "Z"} for r in rows]

    def hold(self, target: str, reason: str) -> dict[str, Any]:
        self.access.check("admin")
        target = check_target(target)
        if not reason.strip():
            raise InvalidInput("a legal hold needs a reason (--reason)")
        with self.db.writer() as session, session.begin():
            session.execute(delete(LegalHold).where(LegalHold.target == target))
            session.add(LegalHold(target=target, reason=reason, created_by=self.access.actor, created_at=utcnow()))
            audit.append(session, self.access.actor, "hold.add", target, detail={"reason": reason})
        return {"target": target, "reason": reason}

    def release(self, target: str) -> None:
        self.access.check("admin")
        target = check_target(target)
        with self.db.writer() as session, session.begin():
            if session.get(LegalHold, target) is None:
                raise NotFound(f"no legal hold on {target}")
            session.execute(delete(LegalHold).where(LegalHold.target == target))
            audit.append(session, self.access.actor, "hold.release", target)

    def holds(self) -> list[dict[str, Any]]:
        self.access.check("model.read")
        with self.db.reader() as session:
            return [{"target": h.target, "reason": h.reason, "by": h.created_by, "at": h.created_at.isoformat() + "Z"}
                    for h in session.scalars(select(LegalHold).order_by(LegalHold.target))]
