"""The deployment record (pydantic): arms, shadows, rollout, policy, monitoring, contract.

Every model reference in a stored spec is exact (``fraud@1.3.0``) and carries the version's id,
digest and signature, with its preprocessing version: a revision pins everything that belongs
together, so restoring a revision restores all of it at once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelkeep.errors import InvalidInput
from modelkeep.services.models.metadata import describe_error

STRATEGIES = ("single", "canary", "bluegreen", "ab", "shadow")
Strategy = Literal["single", "canary", "bluegreen", "ab", "shadow"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Pinned(_Strict):
    """One model version (and its preprocessing version) as the gateway loads it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    model: str  # exact NAME@VERSION
    version_id: int
    digest: str | None = None
    preprocess: str | None = None  # exact NAME@VERSION of a feature pipeline, applied first
    preprocess_id: int | None = None
    signature: dict[str, Any] | None = None


class Arm(Pinned):
    weight: float = Field(default=0.0, ge=0.0, le=100.0)


class Shadow(Pinned):
    fraction: float = Field(default=1.0, gt=0.0, le=1.0)


class Sticky(_Strict):
    """Where the routing key comes from: a header, a top-level JSON field, or both (header first)."""

    header: str | None = "x-request-key"
    field: str | None = None


class Rollout(_Strict):
    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    bake_s: float = Field(default=60.0, ge=0.0)
    step: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> Rollout:
        if not self.steps or any(not 0 < s <= 100 for s in self.steps) or self.steps != sorted(self.steps):
            raise ValueError("steps must be increasing percentages in (0, 100], e.g. [5, 25, 50, 100]")
        return self


class Policy(_Strict):
    """When a candidate fails: every check compares it with the stable version on the same traffic."""

    auto_rollback: bool = True
    window_s: float = Field(default=10.0, gt=0.0)
    min_samples: int = Field(default=50, ge=1)
    failing_windows: int = Field(default=2, ge=1)
    max_error_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    max_p99_ms: float | None = Field(default=None, gt=0.0)
    p99_ratio: float = Field(default=1.5, ge=1.0)
    min_latency_delta_ms: float = Field(default=5.0, ge=0.0)  # p99 differences below this are noise
    metric: str = "accuracy"
    max_metric_drop: float = Field(default=0.05, ge=0.0)
    min_labels: int = Field(default=30, ge=1)
    business: dict[str, float] = Field(default_factory=dict)  # metric -> max relative drop (0.1 = 10 %)
    drift: bool = True  # prediction drift against the version's own baseline counts as a failure
    significance: float = Field(default=0.01, gt=0.0, lt=0.5)
    # Replicas judge each window on all of them (their summaries pooled through the database),
    # one window behind the traffic: each replica's own share may be too small to decide on.
    pooled: bool = False


class Monitoring(_Strict):
    psi: float = Field(default=0.2, gt=0.0)
    ks_pvalue: float = Field(default=0.01, gt=0.0, lt=1.0)
    ks_min_distance: float = Field(default=0.15, ge=0.0, le=1.0)
    chi2_pvalue: float = Field(default=0.01, gt=0.0, lt=1.0)
    js: float = Field(default=0.1, gt=0.0, le=1.0)
    min_samples: int = Field(default=100, ge=10)
    features: list[str] | None = None  # None: every feature of the baseline
    positive_label: str = "1"


class DeploymentSpec(_Strict):
    strategy: Strategy = "single"
    arms: list[Arm]
    shadows: list[Shadow] = Field(default_factory=list)
    stable: str  # the arm that is known good (canary: the one traffic returns to)
    candidate: str | None = None  # canary: the arm being rolled out; bluegreen: the arm switched to
    mirror: float = Field(default=0.1, ge=0.0, le=1.0)  # bluegreen: share of traffic copied to the standby
    rollout: Rollout | None = None
    sticky: Sticky = Field(default_factory=Sticky)
    policy: Policy = Field(default_factory=Policy)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    contract: dict[str, Any] | None = None  # the inputs clients send (the stable version's signature)
    smoke: list[Any] = Field(default_factory=list)  # recorded smoke requests (rows)
    trusted: list[str] = Field(default_factory=list)  # Python classes the gateway may import

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentSpec:
        names = [a.name for a in self.arms] + [s.name for s in self.shadows]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        arm_names = {a.name for a in self.arms}
        if self.stable not in arm_names:
            raise ValueError(f"stable arm {self.stable!r} is not one of the arms {sorted(arm_names)}")
        if self.candidate is not None and self.candidate not in arm_names:
            raise ValueError(f"candidate arm {self.candidate!r} is not one of the arms {sorted(arm_names)}")
        total = sum(a.weight for a in self.arms)
        if abs(total - 100.0) > 1e-6:
            raise ValueError(f"arm weights must add up to 100, got {total:g}")
        return self

    def arm(self, name: str) -> Arm:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise InvalidInput(f"no arm {name!r}; arms: {', '.join(a.name for a in self.arms)}")

    def pinned(self) -> list[Pinned]:
        return [*self.arms, *self.shadows]

    def alone(self, ref: str) -> DeploymentSpec | None:
        """The deployment as a gateway pinned to version ``ref`` serves it (``mk serve --pin``): that
        arm alone with all traffic, no candidate (nothing to advance or roll back), the rest as it
        is; None when it does not pin ``ref``."""
        for pinned in self.pinned():
            if pinned.model == ref:
                arm = Arm(**{key: getattr(pinned, key) for key in Pinned.model_fields}, weight=100.0)
                return self.model_copy(update={"strategy": "single", "arms": [arm], "shadows": [], "stable": arm.name,
                                               "candidate": None, "rollout": None})
        return None


def parse_spec(data: dict[str, Any]) -> DeploymentSpec:
    try:
        return DeploymentSpec.model_validate(data)
    except ValidationError as exc:
        raise describe_error(exc, "deployment") from exc


def parse_section(model: type[_Strict], data: dict[str, Any] | None, what: str) -> Any:
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        raise describe_error(exc, what) from exc
