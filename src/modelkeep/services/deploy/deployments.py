"""The deployments service: create, change, advance, roll back and read deployments.

Every change writes a new revision in one transaction with its audit entry and outbox event, as
a compare-and-set on the revision number: two gateways that both decide to roll back produce one
rollback, and a gateway acting on a stale revision gets :class:`Conflict` and re-reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from modelkeep.meta.db import Database
from modelkeep.meta.tables import Deployment, DeploymentRevision, GatewayReport, GatewayWindow
from modelkeep.services.clock import utcnow
from modelkeep.services.deploy.spec import (
    Arm,
    DeploymentSpec,
    Monitoring,
    Policy,
    Rollout,
    Sticky,
    parse_section,
    parse_spec,
)
from modelkeep.services.deploy.views import deployment_view, revision_view, status_view
from modelkeep.services.deploy.windows import WindowSummary
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.models.inputs import check_name
from modelkeep.services.models.registry import Registry
from modelkeep.services.models.views import VersionView

Build = Callable[[Deployment | None, DeploymentSpec | None], tuple[DeploymentSpec, str]]


def contract_problems(contract: dict[str, Any] | None, signature: dict[str, Any] | None) -> list[str]:
    """How a version's inputs differ from what clients send (empty: compatible)."""
    if not contract or not signature or not signature.get("inputs"):
        return []
    sent = {c.get("name"): c.get("type") for c in contract.get("inputs", [])}
    wanted = {c.get("name"): c.get("type") for c in signature.get("inputs", [])}
    problems = [f"it needs input {n!r} ({t}), which clients do not send" for n, t in wanted.items() if n not in sent]
    problems += [f"clients send {n!r}, which it does not take" for n in sent if n not in wanted]
    problems += [f"input {n!r} is {wanted[n]} there, clients send {t}" for n, t in sent.items()
                 if n in wanted and wanted[n] != t]
    if not problems and list(sent) != list(wanted):
        problems.append(f"its inputs are in another order ({', '.join(map(str, wanted))})")
    return problems


class Deployments:
    def __init__(self, db: Database, registry: Registry, access: Access, *, source: str = "local") -> None:
        self.db = db
        self.registry = registry
        self.access = access
        self.source = source

    @property
    def actor(self) -> str:
        return self.access.actor

    # --- building specs -------------------------------------------------------------------

    def _deployable(self, ref: str) -> VersionView:
        """The version ``ref`` names, if the actor may deploy it: readers any version, deployment
        systems (``model.read_approved``) only versions that passed a promotion."""
        return self.registry.get(ref)  # the registry's read check: approved versions only for deployers

    def pin(self, arm_name: str, ref: str, preprocess: str | None = None) -> dict[str, Any]:
        version = self._deployable(ref)
        pinned: dict[str, Any] = {"name": arm_name, "model": f"{version.name}@{version.version}",
                                  "version_id": version.id, "digest": version.digest, "signature": version.signature}
        if preprocess:
            pre = self._deployable(preprocess)
            pinned.update(preprocess=f"{pre.name}@{pre.version}", preprocess_id=pre.id)
        return pinned

    def plan(
        self,
        strategy: str,
        model: str | Arm,
        *,
        candidate: str | None = None,
        preprocess: str | None = None,
        candidate_preprocess: str | None = None,
        arms: list[tuple[str, float | None]] | None = None,
        shadows: list[tuple[str, float]] | None = None,
        rollout: dict[str, Any] | None = None,
        sticky: dict[str, Any] | None = None,
        policy: dict[str, Any] | None = None,
        monitoring: dict[str, Any] | None = None,
        smoke: list[Any] | None = None,
        trusted: list[str] | None = None,
        mirror: float | None = None,
        contract: dict[str, Any] | None = None,
        allow_contract_change: bool = False,
    ) -> DeploymentSpec:
        """A new spec: ``model`` is the stable version (a ref, or the current stable arm kept as it is)."""
        stable = model.model_dump() if isinstance(model, Arm) else self.pin("stable", model, preprocess)
        stable["name"] = {"bluegreen": "blue", "ab": "a"}.get(strategy, "stable")
        needs_candidate = strategy in ("canary", "bluegreen")
        if needs_candidate and not candidate:
            raise InvalidInput(f"strategy {strategy} needs --candidate REF (the version to roll out)")
        if candidate and strategy not in ("canary", "bluegreen"):
            raise InvalidInput(f"--candidate goes with --strategy canary or bluegreen, not {strategy}")
        data: dict[str, Any] = {"strategy": strategy, "stable": stable["name"], "shadows": []}
        if strategy in ("single", "shadow"):
            data["arms"] = [{**stable, "weight": 100.0}]
        elif strategy == "canary":
            steps = parse_section(Rollout, rollout, "rollout")
            first = steps.steps[steps.step]
            cand = self.pin("canary", str(candidate), candidate_preprocess or preprocess)
            data.update(arms=[{**cand, "weight": first}, {**stable, "weight": 100.0 - first}], candidate="canary",
                        rollout=steps.model_dump())
        elif strategy == "bluegreen":
            green = self.pin("green", str(candidate), candidate_preprocess or preprocess)
            data.update(arms=[{**green, "weight": 100.0}, {**stable, "weight": 0.0}], candidate="green")
        elif strategy == "ab":
            variants = [(model if isinstance(model, str) else stable["model"], None), *(arms or [])]
            if len(variants) < 2:
                raise InvalidInput("strategy ab needs at least two arms: --arm REF[=WEIGHT] for each one after the first")
            given = sum(w for _, w in variants if w is not None)
            free = [i for i, (_, w) in enumerate(variants) if w is None]
            share = (100.0 - given) / len(free) if free else 0.0
            if given > 100.0 + 1e-9 or (free and share < 0):
                raise InvalidInput(f"ab weights add up to {given:g} %, more than 100")
            data["arms"] = []
            for i, (ref, weight) in enumerate(variants):
                name = chr(ord("a") + i)
                pinned = stable if i == 0 else self.pin(name, ref, preprocess)
                data["arms"].append({**pinned, "weight": share if weight is None else weight})
        else:
            raise InvalidInput(f"unknown strategy {strategy!r}: valid strategies are single, canary, bluegreen, ab, shadow")
        for i, (ref, fraction) in enumerate(shadows or []):
            data["shadows"].append({**self.pin("shadow" if i == 0 else f"shadow-{i + 1}", ref, preprocess),
                                    "fraction": fraction})
        if strategy == "shadow" and not data["shadows"]:
            raise InvalidInput("strategy shadow needs at least one --shadow REF[=FRACTION]")
        data["sticky"] = parse_section(Sticky, sticky, "sticky").model_dump()
        data["policy"] = parse_section(Policy, policy, "policy").model_dump()
        data["monitoring"] = parse_section(Monitoring, monitoring, "monitoring").model_dump()
        if mirror is not None:
            data["mirror"] = mirror
        data["trusted"] = sorted(set(trusted or []))
        data["contract"] = contract if contract is not None else (
            {"inputs": stable["signature"]["inputs"]} if stable.get("signature") else None)
        if allow_contract_change and data.get("candidate"):  # clients move to what the candidate takes
            signature = next(a for a in data["arms"] if a["name"] == data["candidate"]).get("signature")
            new_contract = {"inputs": signature["inputs"]} if signature else None
            if new_contract != data["contract"]:  # the recorded smoke rows follow the new contract
                data["smoke"] = self._baseline_sample(
                    next(a for a in data["arms"] if a["name"] == data["candidate"])["version_id"])
            data["contract"] = new_contract
        if "smoke" not in data:
            data["smoke"] = smoke if smoke is not None else self._baseline_sample(stable["version_id"])
        spec = parse_spec(data)
        if not allow_contract_change:
            self.check_contract(spec)
        return spec

    def _baseline_sample(self, version_id: int) -> list[Any]:
        baseline = (self.registry.get_by_id(version_id).metadata or {}).get("baseline") or {}
        return list(baseline.get("sample", []))[:10]

    @staticmethod
    def check_contract(spec: DeploymentSpec, *, what: str = "") -> None:
        for pinned in spec.pinned():
            problems = contract_problems(spec.contract, pinned.signature)
            if problems:
                raise InvalidInput(
                    f"{what or pinned.name} {pinned.model} does not match what clients send: {'; '.join(problems)}",
                    hint="deploy a version with the same inputs, or pass --allow-contract-change if clients change too",
                )

    # --- writing --------------------------------------------------------------------------

    def _commit(self, name: str, action: str, build: Build, *, expected_revision: int | None = None,
                reason: str = "", evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        check_name(name, "deployment name")
        self.access.check("deployment.write", model=name)
        with self.db.writer() as session, session.begin():
            row = session.scalars(select(Deployment).where(Deployment.name == name).with_for_update()).first()
            if action == "create" and row is not None:
                raise Conflict(f"deployment {name!r} exists (revision {row.revision})", hint=f"mk deploy update {name} ...")
            if action != "create" and row is None:
                raise NotFound(f"deployment {name!r} does not exist", hint="mk deploy create NAME --model REF")
            if expected_revision is not None and row is not None and row.revision != expected_revision:
                raise Conflict(f"deployment {name!r} is at revision {row.revision}, not {expected_revision}")
            current = parse_spec(row.spec) if row is not None else None
            spec, status = build(row, current)
            if action == "advance" and status == "promoted":  # the last step: recorded as a promotion
                action = "promote"
            now = utcnow()
            stored = spec.model_dump(mode="json")
            if row is None:
                row = Deployment(name=name, revision=1, strategy=spec.strategy, status=status, spec=stored,
                                 created_at=now, updated_at=now)
                session.add(row)
            else:
                row.revision, row.strategy, row.status, row.spec, row.updated_at = (
                    row.revision + 1, spec.strategy, status, stored, now)
            session.flush()
            session.add(DeploymentRevision(deployment_id=row.id, revision=row.revision, status=status, spec=stored,
                                           action=action, reason=reason, evidence=evidence, actor=self.actor, at=now))
            detail = {"revision": row.revision, "strategy": spec.strategy, "status": status, "reason": reason,
                      "arms": {a.name: {"model": a.model, "weight": a.weight} for a in spec.arms}}
            if evidence:
                detail["evidence"] = evidence
            audit.append(session, self.actor, f"deployment.{action}", f"deployment:{name}", detail=detail,
                         source=self.source)
            return self._view(row, spec)

    @staticmethod
    def _view(row: Deployment, spec: DeploymentSpec) -> dict[str, Any]:
        return deployment_view(row.name, row.revision, row.status, spec.model_dump(mode="json"), row.updated_at)

    def create(self, name: str, spec: DeploymentSpec, *, reason: str = "") -> dict[str, Any]:
        return self._commit(name, "create", lambda _row, _cur: (spec, _initial_status(spec)), reason=reason)

    def update(self, name: str, change: Callable[[DeploymentSpec], DeploymentSpec], *, reason: str = "",
               allow_contract_change: bool = False) -> dict[str, Any]:
        """A new revision from the current spec (``change`` returns the new one)."""
        def build(_row: Deployment | None, current: DeploymentSpec | None) -> tuple[DeploymentSpec, str]:
            spec = change(current)  # type: ignore[arg-type]
            if not allow_contract_change:
                self.check_contract(spec)
            return spec, _initial_status(spec)

        return self._commit(name, "update", build, reason=reason)

    def advance(self, name: str, *, expected_revision: int, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        """Canary: the next weight step, or, after the last one, promotion (the candidate becomes stable)."""
        def build(_row: Deployment | None, spec: DeploymentSpec | None) -> tuple[DeploymentSpec, str]:
            assert spec is not None
            if spec.strategy != "canary" or spec.rollout is None or spec.candidate is None:
                raise InvalidInput(f"deployment {name!r} is not a canary rollout")
            nxt = spec.rollout.step + 1
            if nxt >= len(spec.rollout.steps):  # baked at 100 %: the candidate is the new stable
                arm = spec.arm(spec.candidate).model_copy(update={"name": "stable", "weight": 100.0})
                return spec.model_copy(update={"strategy": "single", "arms": [arm], "stable": "stable",
                                               "candidate": None, "rollout": None}), "promoted"
            weight = spec.rollout.steps[nxt]
            arms = [a.model_copy(update={"weight": weight if a.name == spec.candidate else 100.0 - weight})
                    for a in spec.arms]
            return spec.model_copy(update={"arms": arms, "rollout": spec.rollout.model_copy(update={"step": nxt})}), \
                "progressing"

        return self._commit(name, "advance", build, expected_revision=expected_revision, evidence=evidence,
                            reason="the candidate passed its analysis at this step")

    def rollback(self, name: str, *, reason: str, evidence: dict[str, Any] | None = None,
                 expected_revision: int | None = None, to_revision: int | None = None,
                 force: bool = False) -> dict[str, Any]:
        """Take traffic off the candidate (canary → 0 %, blue-green → back to blue), or restore
        revision ``to_revision`` whole (model, preprocessing, contract, policy, monitoring)."""
        def build(row: Deployment | None, spec: DeploymentSpec | None) -> tuple[DeploymentSpec, str]:
            assert row is not None and spec is not None
            if to_revision is not None:
                return self._restore(row, spec, to_revision, force)
            if spec.candidate is None:
                raise InvalidInput(f"deployment {name!r} has no candidate to roll back from; "
                                   "name a revision to restore (--to-revision N, see mk deploy history)")
            if spec.strategy == "canary" and spec.rollout is not None:
                arms = [a.model_copy(update={"weight": 0.0 if a.name == spec.candidate else 100.0}) for a in spec.arms]
            else:
                arms = [a.model_copy(update={"weight": 100.0 if a.name == spec.stable else 0.0}) for a in spec.arms]
            return spec.model_copy(update={"arms": arms}), "rolled_back"

        return self._commit(name, "rollback", build, expected_revision=expected_revision, reason=reason,
                            evidence=evidence)

    def _restore(self, row: Deployment, current: DeploymentSpec, revision: int, force: bool) -> tuple[DeploymentSpec, str]:
        with self.db.reader() as session:
            old = session.scalar(select(DeploymentRevision).where(
                DeploymentRevision.deployment_id == row.id, DeploymentRevision.revision == revision))
        if old is None:
            raise NotFound(f"deployment {row.name!r} has no revision {revision} (it is at {row.revision})")
        target = parse_spec(old.spec)
        if not force:
            for pinned in target.pinned():
                if isinstance(pinned, Arm) and pinned.weight == 0:
                    continue
                problems = contract_problems(current.contract, pinned.signature)
                if problems:
                    raise InvalidInput(
                        f"refusing to roll back {row.name} to revision {revision}: {pinned.model} does not match what "
                        f"clients send now (revision {row.revision}'s contract): {'; '.join(problems)}",
                        hint="clients would get errors; pass --force if they have been changed back too")
        return target, old.status  # the restored revision carries on as it was (a canary keeps rolling out)

    def switch(self, name: str) -> dict[str, Any]:
        """Blue-green: send all traffic to the other arm (the standby stays loaded and warm)."""
        def build(_row: Deployment | None, spec: DeploymentSpec | None) -> tuple[DeploymentSpec, str]:
            assert spec is not None
            if spec.strategy != "bluegreen":
                raise InvalidInput(f"deployment {name!r} is {spec.strategy}; only bluegreen deployments switch")
            active = max(spec.arms, key=lambda a: a.weight).name
            arms = [a.model_copy(update={"weight": 0.0 if a.name == active else 100.0}) for a in spec.arms]
            return spec.model_copy(update={"arms": arms}), "active"

        return self._commit(name, "switch", build, reason="manual switch")

    def alert(self, name: str, evidence: dict[str, Any]) -> None:
        """Record an alert (audit + outbox event ``alert``: webhooks deliver it with its evidence)."""
        self.access.check("deployment.write", model=name)
        with self.db.writer() as session, session.begin():
            audit.append(session, self.actor, "deployment.alert", f"deployment:{name}", detail=evidence,
                         source=self.source)

    def record_validation(self, name: str, revision: int, result: dict[str, Any]) -> None:
        self.access.check("deployment.write", model=name)
        with self.db.writer() as session, session.begin():
            row = self._row(session, name)
            entry = session.scalar(select(DeploymentRevision).where(
                DeploymentRevision.deployment_id == row.id, DeploymentRevision.revision == revision))
            if entry is None:
                raise NotFound(f"deployment {name!r} has no revision {revision}")
            entry.validation = result
            audit.append(session, self.actor, "deployment.validate", f"deployment:{name}",
                         detail={"revision": revision, **result}, source=self.source,
                         outcome="ok" if result.get("ok") else "failed")

    def report(self, name: str, gateway: str, revision: int, report: dict[str, Any]) -> None:
        """Store one gateway's latest report (telemetry, not audited)."""
        self.access.check("deployment.write", model=name)
        with self.db.writer() as session, session.begin():
            row = self._row(session, name)
            session.execute(delete(GatewayReport).where(GatewayReport.deployment_id == row.id,
                                                        GatewayReport.gateway == gateway))
            session.add(GatewayReport(deployment_id=row.id, gateway=gateway, revision=revision, at=utcnow(),
                                      report=report))

    def share_window(self, name: str, revision: int, window_no: int, gateway: str,
                     summaries: dict[str, WindowSummary]) -> None:
        """Store one replica's closed window (each arm's counts and thinned samples) for the others
        to pool (``Policy.pooled``); windows more than ``WINDOWS_KEPT`` older are dropped."""
        self.access.check("deployment.write", model=name)
        with self.db.writer() as session, session.begin():
            row = self._row(session, name)
            session.execute(delete(GatewayWindow).where(
                GatewayWindow.deployment_id == row.id,
                (GatewayWindow.window_no < window_no - WINDOWS_KEPT)
                | ((GatewayWindow.revision == revision) & (GatewayWindow.window_no == window_no)
                   & (GatewayWindow.gateway == gateway))))  # a retried write replaces the first
            session.add(GatewayWindow(deployment_id=row.id, revision=revision, window_no=window_no, gateway=gateway,
                                      at=utcnow(), summaries={arm: w.shared() for arm, w in summaries.items()}))

    def pooled_window(self, name: str, revision: int, window_no: int) -> dict[str, dict[str, WindowSummary]]:
        """Every replica's summaries of one window: ``gateway -> arm -> WindowSummary``."""
        self.access.check("deployment.read", model=name)
        with self.db.reader() as session:
            row = self._row(session, name)
            rows = session.scalars(select(GatewayWindow).where(
                GatewayWindow.deployment_id == row.id, GatewayWindow.revision == revision,
                GatewayWindow.window_no == window_no).order_by(GatewayWindow.gateway))
            return {r.gateway: {arm: WindowSummary.from_shared(doc) for arm, doc in r.summaries.items()} for r in rows}

    # --- reading --------------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, name: str) -> Deployment:
        row = session.scalars(select(Deployment).where(Deployment.name == name)).first()
        if row is None:
            raise NotFound(f"deployment {name!r} does not exist", hint="see mk deploy list")
        return row

    def revision(self, name: str) -> int:
        """The current revision number (one indexed read: gateways poll it)."""
        self.access.check("deployment.read", model=name)
        with self.db.reader() as session:
            revision = session.scalar(select(Deployment.revision).where(Deployment.name == name))
        if revision is None:
            raise NotFound(f"deployment {name!r} does not exist")
        return int(revision)

    def pinned_version(self, name: str, ref: str) -> VersionView:
        """A version the current revision pins (model or preprocessing of any arm or shadow)."""
        _revision, spec, _status = self.spec(name)  # checks deployment.read
        pins = {p.model for p in spec.pinned()} | {p.preprocess for p in spec.pinned() if p.preprocess}
        if ref not in pins:
            raise PermissionDenied(f"deployment {name!r} does not pin {ref} (it pins {', '.join(sorted(pins))})")
        return self.registry.resolve(ref)

    def spec(self, name: str) -> tuple[int, DeploymentSpec, str]:
        self.access.check("deployment.read", model=name)
        with self.db.reader() as session:
            row = self._row(session, name)
            return row.revision, parse_spec(row.spec), row.status

    def status(self, name: str) -> dict[str, Any]:
        self.access.check("deployment.read", model=name)
        with self.db.reader() as session:
            row = self._row(session, name)
            gateways = [(g.gateway, g.revision, g.at, g.report) for g in session.scalars(
                select(GatewayReport).where(GatewayReport.deployment_id == row.id).order_by(GatewayReport.gateway))]
            return status_view(row.name, row.revision, row.status, parse_spec(row.spec).model_dump(mode="json"),
                               row.updated_at, gateways)

    def history(self, name: str) -> list[dict[str, Any]]:
        self.access.check("deployment.read", model=name)
        with self.db.reader() as session:
            row = self._row(session, name)
            revisions = session.scalars(select(DeploymentRevision).where(DeploymentRevision.deployment_id == row.id)
                                        .order_by(DeploymentRevision.revision.desc())).all()
            return [revision_view(r.revision, r.action, r.status, r.reason, r.actor, r.at, r.spec, r.evidence,
                                  r.validation) for r in revisions]

    def list(self) -> list[dict[str, Any]]:
        self.access.check("deployment.read")
        with self.db.reader() as session:
            rows = session.scalars(select(Deployment).order_by(Deployment.name))
            return [self._view(row, parse_spec(row.spec)) for row in rows]


WINDOWS_KEPT = 20  # closed windows kept per deployment: the pooled verdict reads the one before the last


def _initial_status(spec: DeploymentSpec) -> str:
    return "progressing" if spec.strategy == "canary" else "active"
