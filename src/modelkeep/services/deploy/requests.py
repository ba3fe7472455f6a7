"""What a caller asks of deployments (the CLI locally, or the server's REST API): create, update,
roll back. Each request is validated here and turned into a new revision by the service, so the
command line and the API behave identically."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelkeep.errors import InvalidInput
from modelkeep.services.deploy.deployments import Deployments
from modelkeep.services.deploy.spec import STRATEGIES, DeploymentSpec, parse_spec
from modelkeep.services.models.metadata import describe_error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeightedRef(_Strict):
    ref: str = Field(min_length=1, max_length=200)
    weight: float | None = Field(default=None, ge=0.0, le=100.0)  # ab: percent; shadow: fraction of 1


class CreateRequest(_Strict):
    model: str = Field(min_length=1, max_length=200, description="the stable version, NAME@SPEC")
    strategy: str | None = Field(default=None, max_length=16, description=f"one of {', '.join(STRATEGIES)}")
    candidate: str | None = Field(default=None, max_length=200)
    preprocess: str | None = Field(default=None, max_length=200)
    candidate_preprocess: str | None = Field(default=None, max_length=200)
    arms: list[WeightedRef] = Field(default_factory=list, max_length=26)
    shadows: list[WeightedRef] = Field(default_factory=list, max_length=16)
    rollout: dict[str, Any] | None = None
    sticky: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    monitoring: dict[str, Any] | None = None
    smoke: list[Any] | None = Field(default=None, max_length=1000)
    trusted: list[str] = Field(default_factory=list, max_length=100)
    mirror: float | None = Field(default=None, ge=0.0, le=1.0)
    allow_contract_change: bool = False
    reason: str = Field(default="", max_length=2000)


class UpdateRequest(_Strict):
    candidate: str | None = Field(default=None, max_length=200)
    strategy: str | None = Field(default=None, max_length=16, description=f"one of {', '.join(STRATEGIES)}")
    candidate_preprocess: str | None = Field(default=None, max_length=200)
    rollout: dict[str, Any] | None = None  # merged over the current rollout (steps, bake_s)
    weights: dict[str, float] = Field(default_factory=dict)  # arm -> percent
    policy: dict[str, Any] | None = None  # merged over the current policy
    monitoring: dict[str, Any] | None = None  # replaces the monitoring thresholds
    trusted: list[str] = Field(default_factory=list, max_length=100)
    allow_contract_change: bool = False
    reason: str = Field(default="", max_length=2000)


class RollbackRequest(_Strict):
    reason: str = Field(default="manual rollback", max_length=2000)
    to_revision: int | None = Field(default=None, ge=1, le=2**31 - 1)
    force: bool = False


def parse(model: type[_Strict], body: dict[str, Any], what: str) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise describe_error(exc, what) from exc


def create(deployments: Deployments, name: str, req: CreateRequest) -> dict[str, Any]:
    strategy = req.strategy or ("canary" if req.candidate else "ab" if req.arms else "shadow" if req.shadows else "single")
    for shadow in req.shadows:
        if shadow.weight is not None and not 0 < shadow.weight <= 1:
            raise InvalidInput(f"shadow {shadow.ref}: the fraction must be in (0, 1], got {shadow.weight:g}")
    spec = deployments.plan(
        strategy, req.model, candidate=req.candidate, preprocess=req.preprocess,
        candidate_preprocess=req.candidate_preprocess, arms=[(a.ref, a.weight) for a in req.arms],
        shadows=[(s.ref, s.weight or 1.0) for s in req.shadows], rollout=req.rollout, sticky=req.sticky,
        policy=req.policy, monitoring=req.monitoring, smoke=req.smoke, trusted=req.trusted, mirror=req.mirror,
        allow_contract_change=req.allow_contract_change)
    return deployments.create(name, spec, reason=req.reason)


def update(deployments: Deployments, name: str, req: UpdateRequest) -> dict[str, Any]:
    def change(spec: DeploymentSpec) -> DeploymentSpec:
        policy = {**spec.policy.model_dump(), **(req.policy or {})}
        if req.candidate:
            rollout = {k: v for k, v in (spec.rollout.model_dump() if spec.rollout else {}).items() if k != "step"}
            return deployments.plan(
                req.strategy or "canary", spec.arm(spec.stable), candidate=req.candidate,
                candidate_preprocess=req.candidate_preprocess, rollout={**rollout, **(req.rollout or {})},
                sticky=spec.sticky.model_dump(), policy=policy,
                monitoring=req.monitoring or spec.monitoring.model_dump(), smoke=spec.smoke,
                trusted=[*spec.trusted, *req.trusted], mirror=spec.mirror, contract=spec.contract,
                allow_contract_change=req.allow_contract_change)
        if req.strategy is not None:
            raise InvalidInput("--strategy changes only with a new --candidate")
        data = spec.model_dump()
        data["policy"] = policy
        if req.monitoring is not None:
            data["monitoring"] = req.monitoring
        if req.rollout and data.get("rollout"):
            data["rollout"] = {**data["rollout"], **req.rollout}
        data["trusted"] = sorted({*spec.trusted, *req.trusted})
        unknown = set(req.weights) - {a["name"] for a in data["arms"]}
        if unknown:
            raise InvalidInput(f"weight: no arm {min(unknown)!r}; arms: {', '.join(a['name'] for a in data['arms'])}")
        for arm in data["arms"]:
            arm["weight"] = req.weights.get(arm["name"], arm["weight"])
        return parse_spec(data)

    return deployments.update(name, change, reason=req.reason, allow_contract_change=req.allow_contract_change)


def rollback(deployments: Deployments, name: str, req: RollbackRequest, cache: Any, progress: Any = None) -> dict[str, Any]:
    """Roll back, then validate what now serves (load, warm up, smoke requests) and record it."""
    from modelkeep.services.deploy.predictor import validate  # numpy and the flavors: only when needed

    doc = deployments.rollback(name, reason=req.reason, to_revision=req.to_revision, force=req.force)
    revision, spec, _status = deployments.spec(name)
    result = validate(spec, deployments.registry, deployments.registry.store, cache, progress)
    deployments.record_validation(name, revision, result)
    return {**doc, "validation": result}
