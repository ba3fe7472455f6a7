"""Structured metadata of a model version and the configuration of composites (pydantic).

Validated on the way in, stored as JSON. Unknown top-level sections are refused so a typo
(``buisness``) is caught; free-form facts belong in tags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelkeep.errors import InvalidInput


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Performance(_Strict):
    """Headline evaluation facts beyond the metric table."""

    evaluation_dataset: str | None = None
    primary_metric: str | None = None
    baseline: float | None = None
    notes: str | None = None


class ComputeRequirements(_Strict):
    cpu_cores: float | None = Field(default=None, ge=0)
    gpu: str | None = None
    gpu_count: int | None = Field(default=None, ge=0)
    memory_mb: int | None = Field(default=None, ge=0)
    latency_budget_ms: float | None = Field(default=None, ge=0)


class DeploymentConstraints(_Strict):
    platforms: list[str] = Field(default_factory=list)
    max_batch_size: int | None = Field(default=None, ge=1)
    regions: list[str] = Field(default_factory=list)
    requires_gpu: bool = False
    notes: str | None = None


class BusinessContext(_Strict):
    owner: str | None = None
    purpose: str | None = None
    risk_tier: Literal["low", "medium", "high", "critical"] | None = None
    stakeholders: list[str] = Field(default_factory=list)
    decision_rationale: str | None = None


class VersionMetadata(_Strict):
    """Everything structured about a version that is not a param, metric or tag."""

    task: str | None = None
    architecture: str | None = None
    performance: Performance | None = None
    compute: ComputeRequirements | None = None
    deployment: DeploymentConstraints | None = None
    business: BusinessContext | None = None
    # The training-data profile (modelkeep.stats.profile): the baseline live traffic is compared with.
    baseline: dict[str, Any] | None = None


Strategy = Literal["weighted", "average", "vote", "stacking", "fallback", "pipeline"]


class CompositeConfig(_Strict):
    """How the components of an ensemble or pipeline combine.

    ``weights`` (weighted) has one weight per component; ``order`` (fallback, pipeline) lists
    component positions (0-based) and defaults to the order given.
    """

    strategy: Strategy
    weights: list[float] | None = None
    order: list[int] | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _weights_need_weighted(self) -> CompositeConfig:
        if self.strategy == "weighted" and not self.weights:
            raise ValueError("strategy 'weighted' needs 'weights', one per component")
        return self

    def check_components(self, count: int) -> None:
        if self.weights is not None and len(self.weights) != count:
            raise InvalidInput(
                f"composite config has {len(self.weights)} weights for {count} components; "
                "give one weight per component"
            )
        if self.order is not None and sorted(self.order) != list(range(count)):
            raise InvalidInput(
                f"composite config order {self.order} must list each component position "
                f"0..{count - 1} exactly once"
            )


def describe_error(exc: ValidationError, what: str) -> InvalidInput:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
    )
    return InvalidInput(f"invalid {what}: {problems}")


def validate_metadata(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        return VersionMetadata.model_validate(data).model_dump(exclude_none=True)
    except ValidationError as exc:
        raise describe_error(exc, "metadata") from exc


def validate_composite_config(data: dict[str, Any], count: int) -> dict[str, Any]:
    try:
        config = CompositeConfig.model_validate(data)
    except ValidationError as exc:
        raise describe_error(exc, "composite config") from exc
    config.check_components(count)
    return config.model_dump(exclude_none=True, exclude_defaults=True)


def validate_signature(data: Any) -> dict[str, Any] | None:
    """A signature is ``{"inputs": [{"name", "type"}...], "outputs": [...]}``."""
    if data is None:
        return None
    if not isinstance(data, dict) or not set(data) <= {"inputs", "outputs", "params"}:
        raise InvalidInput(
            "invalid signature: expected an object with 'inputs' and 'outputs', each a list of "
            '{"name": ..., "type": ...}'
        )
    for side in ("inputs", "outputs"):
        columns = data.get(side, [])
        if not isinstance(columns, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name", ""), str) and "type" in c
            for c in columns
        ):
            raise InvalidInput(
                f"invalid signature {side}: each entry needs a 'type' (and usually a 'name')"
            )
    return {"inputs": data.get("inputs", []), "outputs": data.get("outputs", [])}


def load_document(path: Path, what: str) -> Any:
    """Read a JSON (or YAML, if PyYAML is installed) file given on the command line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} file {path}: {exc.strerror}") from exc
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover - pyyaml is a dependency
            raise InvalidInput(f"{what} file {path} is YAML; install pyyaml or use JSON") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{what} file {path} is not valid YAML: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} file {path} is not valid JSON: {exc}") from exc
