"""Promotion workflow for protected aliases, rollback, and "who held the alias at time T".

A protected alias (``production`` by default once a registry is shared) moves only through a
promotion request. Automated gates run first: metric thresholds (``min_metrics``), comparison
with the version that holds the alias now on the same metric and evaluation slice
(``compare_with_current``: the new value may drop at most ``max_drop``), and required evidence
(``required_tags``: e.g. an attached evaluation). A request whose gates fail is ``blocked``.
Then ``required_approvals`` approvals from users with ``promotion.approve`` — never the author —
apply it: the alias moves in the same transaction that records the last approval. Every step is
audited; the request keeps its gate results, reviews and justification.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from modelkeep.meta.tables import Alias, AliasChange, Model, ModelVersion, PromotionRequest, ProtectedAlias
from modelkeep.services.clock import utcnow
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.governance.approval import is_approved
from modelkeep.services.models.inputs import split_ref
from modelkeep.services.models.registry import Registry
from modelkeep.services.models.views import VersionView
from modelkeep.version import validate_alias


class _CompareGate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    metric: str = Field(min_length=1, max_length=200)
    max_drop: float = Field(default=0.0, ge=0)


class GatePolicy(BaseModel):
    """The gates of a protected alias, checked when they are set (not when a promotion trips on them)."""

    model_config = ConfigDict(extra="forbid")
    min_metrics: dict[str, float] = Field(default_factory=dict)
    compare_with_current: _CompareGate | None = None
    required_tags: list[str] = Field(default_factory=list)


GATE_KEYS = set(GatePolicy.model_fields)
GATES_FORM = ("a mapping with min_metrics: {METRIC: NUMBER}, compare_with_current: {metric: METRIC, max_drop: NUMBER} "
              "and required_tags: [TAG, ...]")


def validate_gates(gates: Any) -> dict[str, Any]:
    """The gates in their canonical form, or :class:`InvalidInput` naming what is wrong and what is valid."""
    if gates is None:
        return {}
    if not isinstance(gates, dict):
        raise InvalidInput(f"gates must be {GATES_FORM}; got {type(gates).__name__}")
    unknown = set(gates) - GATE_KEYS
    if unknown:
        raise InvalidInput(f"unknown gates {sorted(unknown)}: valid gates are {sorted(GATE_KEYS)}")
    try:
        policy = GatePolicy.model_validate(gates)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'gates'}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"invalid gates ({problems}); gates are {GATES_FORM}") from None
    return policy.model_dump(exclude_defaults=True)


def _request_dict(request: PromotionRequest, model: str) -> dict[str, Any]:
    approvals = [r for r in request.reviews if r["decision"] == "approve"]
    return {
        "id": request.id, "model": model, "version": request.version, "alias": request.alias,
        "status": request.status, "justification": request.justification, "ticket": request.ticket,
        "requested_by": request.requested_by, "gates": request.gates, "reviews": request.reviews,
        "gates_at_approval": next((r["gates"] for r in reversed(request.reviews) if "gates" in r), None),
        "approvals": len(approvals), "created_at": request.created_at.isoformat() + "Z",
        "decided_at": request.decided_at.isoformat() + "Z" if request.decided_at else None,
    }


class Promotions:
    def __init__(self, registry: Registry, access: Access) -> None:
        self.registry = registry
        self.db = registry.db
        self.access = access
        self.user = registry.user

    # --- policies -----------------------------------------------------------------------

    def protect(self, model: str, alias: str, *, required_approvals: int = 1, gates: dict[str, Any] | None = None) -> None:
        """Protect ``alias`` of ``model`` (``*``: of every model) — admin only."""
        alias = validate_alias(alias)
        self.access.check("admin")
        if not 0 <= required_approvals <= 10:
            raise InvalidInput("required_approvals must be between 0 and 10")
        gates = validate_gates(gates)
        with self.db.writer() as session, session.begin():
            row = session.get(ProtectedAlias, (model, alias))
            if row is None:
                session.add(ProtectedAlias(model=model, alias=alias, required_approvals=required_approvals, gates=gates or {}))
            else:
                row.required_approvals, row.gates = required_approvals, gates or {}
            audit.append(session, self.user, "alias.protect", f"model:{model}", source=self.registry.source,
                         detail={"alias": alias, "required_approvals": required_approvals, "gates": gates or {}})

    def _policy(self, session: Session, model: str, alias: str) -> ProtectedAlias | None:
        return session.get(ProtectedAlias, (model, alias)) or session.get(ProtectedAlias, ("*", alias))

    # --- gates --------------------------------------------------------------------------

    def _gates(self, version: VersionView, current: VersionView | None, gates: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            gates = validate_gates(gates)
        except InvalidInput as exc:  # a policy stored before policies were checked: it blocks, it does not crash
            return [{"gate": "policy", "passed": False, "detail": f"the alias's policy is invalid: {exc}; "
                     "an admin must set it again with 'mk protect'"}]
        results = []
        for metric, threshold in sorted((gates.get("min_metrics") or {}).items()):
            value = version.metrics.get(metric)
            results.append({"gate": f"min_metrics.{metric}", "passed": value is not None and value >= threshold,
                            "detail": f"{metric} = {value} (needs >= {threshold})"})
        compare = gates.get("compare_with_current")
        if compare:
            metric, max_drop = compare["metric"], float(compare.get("max_drop", 0.0))
            new = version.metrics.get(metric)
            old = current.metrics.get(metric) if current else None
            if current is None:
                passed, detail = True, "no version holds the alias yet"
            elif old is None or new is None:
                passed, detail = False, f"{metric} is missing on {'the candidate' if new is None else current.ref}"
            else:
                passed = new >= old - max_drop
                detail = f"{metric}: {new} vs {old} on {current.ref} (may drop at most {max_drop})"
            results.append({"gate": f"compare_with_current.{metric}", "passed": passed, "detail": detail})
        for tag in gates.get("required_tags") or []:
            results.append({"gate": f"required_tags.{tag}", "passed": tag in version.tags,
                            "detail": f"tag {tag} {'present' if tag in version.tags else 'missing'}"})
        return results

    # --- requests -----------------------------------------------------------------------

    def request(self, ref: str, alias: str, justification: str, ticket: str = "") -> dict[str, Any]:
        alias = validate_alias(alias)
        if not justification or not justification.strip():
            raise InvalidInput("a promotion needs a justification (--justification TEXT)")
        version = self.registry.get(ref)
        self.access.check("promotion.request", model=version.name)
        try:
            current: VersionView | None = self.registry.get(f"{version.name}@{alias}")
        except NotFound:
            current = None
        with self.db.writer() as session, session.begin():
            policy = self._policy(session, version.name, alias)
            if policy is None:
                raise Conflict(f"alias {alias!r} of {version.name} is not protected; move it with 'mk model alias'")
            model = session.scalars(select(Model).where(Model.name == version.name)).one()
            gates = self._gates(version, current, policy.gates)
            status = "pending" if all(g["passed"] for g in gates) else "blocked"
            request = PromotionRequest(model_id=model.id, version=version.version, alias=alias, justification=justification,
                                       ticket=ticket, requested_by=self.user, status=status, gates=gates, reviews=[],
                                       created_at=utcnow())
            session.add(request)
            session.flush()
            audit.append(session, self.user, "promotion.request", f"model:{version.ref}", source=self.registry.source,
                         detail={"request": request.id, "alias": alias, "status": status, "gates": gates, "ticket": ticket})
            if status == "pending" and policy.required_approvals == 0:
                self._apply(session, request, model)
            return _request_dict(request, version.name)

    def _load(self, session: Session, request_id: int) -> tuple[PromotionRequest, Model]:
        request = session.get(PromotionRequest, request_id, with_for_update=True)
        if request is None:
            raise NotFound(f"promotion request {request_id} does not exist")
        model = session.get(Model, request.model_id)
        assert model is not None
        return request, model

    def review(self, request_id: int, decision: str, comment: str = "") -> dict[str, Any]:
        """approve, reject or comment. Approving your own request is refused (four-eyes)."""
        if decision not in ("approve", "reject", "comment"):
            raise InvalidInput(f"invalid decision {decision!r}: approve, reject or comment")
        needed = "model.read" if decision == "comment" else "promotion.approve"
        with self.db.writer() as session, session.begin():
            if session.get(PromotionRequest, request_id) is None:
                self.access.check(needed)  # who may not review learns nothing about which ids exist
            request, model = self._load(session, request_id)
            self.access.check(needed, model=model.name)
            if decision != "comment":
                if request.requested_by == self.user:
                    raise PermissionDenied(f"{self.user} requested promotion {request_id} and may not {decision} it",
                                           hint="another approver must review it (four-eyes rule)")
                if request.status != "pending":
                    raise Conflict(f"promotion {request_id} is {request.status}, not pending")
                if any(r["reviewer"] == self.user and r["decision"] == "approve" for r in request.reviews):
                    raise Conflict(f"{self.user} already approved promotion {request_id}")
            review: dict[str, Any] = {"reviewer": self.user, "decision": decision, "comment": comment,
                                      "at": utcnow().isoformat() + "Z"}
            gates: list[dict[str, Any]] | None = None
            if decision == "approve":
                # The policy and the alias holder of this moment decide, not those of when it was filed.
                policy = self._policy(session, model.name, request.alias)
                gates = self._gates_now(model.name, request.version, request.alias, policy)
                review["gates"] = gates
            request.reviews = [*request.reviews, review]
            audit.append(
                session,
                self.user,
                f"promotion.{decision}",
                f"model:{model.name}@{request.version}",
                source=self.registry.source,
                detail={"request": request_id, "comment": comment, **({"gates": gates} if gates is not None else {})},
            )
            if decision == "reject":
                request.status, request.decided_at = "rejected", utcnow()
            elif gates is not None and not all(g["passed"] for g in gates):
                request.status, request.decided_at = "blocked", utcnow()
                audit.append(
                    session,
                    self.user,
                    "promotion.block",
                    f"model:{model.name}@{request.version}",
                    source=self.registry.source,
                    outcome="blocked",
                    detail={"request": request_id, "gates": gates, "reason": "gates failed at approval"},
                )
            elif decision == "approve":
                approvals_needed = policy.required_approvals if policy else 1
                if sum(r["decision"] == "approve" for r in request.reviews) >= approvals_needed:
                    self._apply(session, request, model)
            return _request_dict(request, model.name)

    def _gates_now(self, model: str, version: str, alias: str, policy: ProtectedAlias | None) -> list[dict[str, Any]]:
        candidate = self.registry.get(f"{model}@{version}")
        try:
            current: VersionView | None = self.registry.get(f"{model}@{alias}")
        except NotFound:
            current = None
        return self._gates(candidate, current, policy.gates if policy else {})

    def withdraw(self, request_id: int) -> dict[str, Any]:
        with self.db.writer() as session, session.begin():
            if session.get(PromotionRequest, request_id) is None:
                self.access.check("promotion.request")
            request, model = self._load(session, request_id)
            if request.requested_by != self.user:
                raise PermissionDenied(f"only {request.requested_by} may withdraw promotion {request_id}")
            if request.status not in ("pending", "blocked"):
                raise Conflict(f"promotion {request_id} is {request.status}")
            request.status, request.decided_at = "withdrawn", utcnow()
            audit.append(
                session,
                self.user,
                "promotion.withdraw",
                f"model:{model.name}@{request.version}",
                source=self.registry.source,
                detail={"request": request_id},
            )
            return _request_dict(request, model.name)

    def _apply(self, session: Session, request: PromotionRequest, model: Model) -> None:
        row = session.scalars(
            select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == request.version)
        ).first()
        if row is None:
            raise NotFound(f"{model.name}@{request.version} no longer exists")
        self.registry.move_alias(session, model, row, request.alias, via="promotion")
        request.status, request.decided_at = "applied", utcnow()
        audit.append(
            session,
            self.user,
            "promotion.apply",
            f"model:{model.name}@{request.version}",
            source=self.registry.source,
            detail={"request": request.id, "alias": request.alias},
        )

    def get(self, request_id: int) -> dict[str, Any]:
        with self.db.reader() as session:
            request = session.get(PromotionRequest, request_id)
            if request is None:
                self.access.check("model.read")  # one who may not read learns nothing, not even what exists
                raise NotFound(f"promotion request {request_id} does not exist")
            model = session.get(Model, request.model_id)
            self.access.check("model.read", model=model.name if model else None)
            return _request_dict(request, model.name if model else "?")

    def approved(self, view: VersionView) -> bool:
        """Whether a version was promoted (an applied request) or holds a protected alias now."""
        return is_approved(self.db, view)

    # --- rollback and history -----------------------------------------------------------

    def rollback(self, name: str, alias: str) -> dict[str, Any]:
        """Return ``alias`` to the version that held it before its last move (audited)."""
        alias = validate_alias(alias)
        self.access.check("alias.rollback", model=name)
        with self.db.writer() as session, session.begin():
            model = session.scalars(select(Model).where(Model.name == name).with_for_update()).first()
            if model is None:
                raise NotFound(f"model {name!r} does not exist")
            current = session.get(Alias, (model.id, alias))
            last = session.scalars(
                select(AliasChange)
                .where(AliasChange.model_id == model.id, AliasChange.alias == alias)
                .order_by(AliasChange.id.desc())
                .limit(1)
            ).first()
            if current is None or last is None or last.previous is None:
                raise Conflict(f"{name}@{alias} has no previous holder to roll back to")
            target = session.scalars(
                select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == last.previous)
            ).first()
            if target is None:
                raise Conflict(f"the previous holder {name}@{last.previous} was deleted")
            self.registry.move_alias(session, model, target, alias, via="rollback")
            return {"model": name, "alias": alias, "from": last.version, "to": target.version}

    def holder_at(self, name: str, alias: str, when: datetime) -> str | None:
        """The version ``alias`` pointed at, at ``when`` (UTC), or None."""
        self.access.check("audit.read", model=name)
        alias = validate_alias(alias)
        _, _ = split_ref(name)
        with self.db.reader() as session:
            model = session.scalars(select(Model).where(Model.name == name)).first()
            if model is None:
                raise NotFound(f"model {name!r} does not exist")
            change = session.scalars(
                select(AliasChange)
                .where(AliasChange.model_id == model.id, AliasChange.alias == alias, AliasChange.at <= when)
                .order_by(AliasChange.at.desc(), AliasChange.id.desc())
                .limit(1)
            ).first()
            return change.version if change else None
