"""Read models of the registry: what ``show``, ``list`` and ``search`` return.

Plain data, no SQL (``view_loading`` reads them from the database), so a client that only talks
to a server imports neither SQLAlchemy nor the tables.

``VersionView.to_dict()`` is the JSON contract of ``mk model show --json`` (keys in
``shared/CLI.md``); add keys freely, rename none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DATASET_PREFIX = "dataset:"


def metric_label(key: str, dataset: str, split: str) -> str:
    """``auc``, ``auc[test]`` or ``auc[fraud-eval@3:test]``: one name per (key, dataset, split)."""
    if not dataset and not split:
        return key
    scope = f"{dataset}:{split}" if dataset and split else (dataset or split)
    return f"{key}[{scope}]"


@dataclass
class VersionView:
    id: int
    name: str
    version: str
    status: str
    description: str
    bump: str
    reasons: list[str]
    digest: str | None
    artifact_kind: str | None
    artifact_size: int
    signature: dict[str, Any] | None
    metadata: dict[str, Any] | None
    environment: dict[str, Any] | None
    code: dict[str, Any] | None
    composite_config: dict[str, Any] | None
    parent: str | None  # a version of this model, or MODEL@VERSION of another (a branch's fork point)
    created_at: datetime
    created_by: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    seq: int = 0  # the model's 1, 2, 3 ... in registration order (MLflow's version number)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> VersionView:
        """The inverse of :meth:`to_dict` (what the remote client receives)."""
        return cls(
            id=int(doc.get("id", 0)), name=doc["name"], version=doc["version"], status=doc["status"],
            description=doc["description"], bump=doc["bump"], reasons=doc["reasons"], digest=doc["digest"],
            artifact_kind=doc["artifact"]["kind"], artifact_size=doc["artifact"]["size"], signature=doc["signature"],
            metadata=doc["metadata"] or None, environment=doc["environment"] or None, code=doc["code"] or None,
            composite_config=doc["composite_config"], parent=doc["parent"],
            created_at=datetime.fromisoformat(doc["created_at"].rstrip("Z")), created_by=doc["created_by"],
            params=doc["params"], metrics=doc["metrics"], tags=doc["tags"], aliases=doc["aliases"], data=doc["data"],
            components=doc["components"], seq=int(doc.get("number") or 0),
        )

    @property
    def parent_ref(self) -> str | None:
        """The parent as NAME@VERSION."""
        if not self.parent:
            return None
        return self.parent if "@" in self.parent else f"{self.name}@{self.parent}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "number": self.seq,
            "ref": self.ref,
            "status": self.status,
            "description": self.description,
            "bump": self.bump,
            "reasons": list(self.reasons),
            "parent": self.parent,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "aliases": list(self.aliases),
            "data": list(self.data),
            "digest": self.digest,
            "artifact": {"kind": self.artifact_kind, "size": self.artifact_size},
            "signature": self.signature,
            "metadata": self.metadata or {},
            "environment": self.environment or {},
            "code": self.code or {},
            "components": list(self.components),
            "composite_config": self.composite_config,
            "created_at": self.created_at.isoformat() + "Z",
            "created_by": self.created_by,
        }


@dataclass
class ModelSummary:
    name: str
    description: str
    versions: int
    latest: str | None
    aliases: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "versions": self.versions,
            "latest": self.latest,
            "aliases": dict(self.aliases),
            "created_at": self.created_at.isoformat() + "Z" if self.created_at else None,
        }


@dataclass(frozen=True)
class RunColumns:
    """The metrics, params and tags of each run a search reads (a filter and an order name a few), the
    run's own fields always: its views hold only those, and no input datasets."""

    metrics: frozenset[str] = frozenset()
    params: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()


@dataclass
class RunView:
    id: int
    name: str
    project: str
    status: str
    started_at: Any
    ended_at: Any
    created_by: str
    command: list[str] | None
    exit_code: int | None
    environment: dict[str, Any]
    code: dict[str, Any]
    seeds: dict[str, Any] | None
    warnings: list[str]
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    # when each series' last point was measured (MLflow's documents show it); not in to_dict: a client reads
    # a metric's history for its moments
    metric_times: dict[str, datetime] = field(default_factory=dict)
    deleted_at: datetime | None = None  # in the trash since (deleted through MLflow's API; restorable)

    def to_dict(self) -> dict[str, Any]:
        duration = (self.ended_at - self.started_at).total_seconds() if self.ended_at else None
        return {
            "id": self.id, "name": self.name, "project": self.project, "status": self.status,
            "started_at": self.started_at.isoformat() + "Z",
            "ended_at": self.ended_at.isoformat() + "Z" if self.ended_at else None,
            "duration_s": duration, "created_by": self.created_by, "command": self.command,
            "exit_code": self.exit_code, "params": self.params,
            "metrics": {k: [{"step": s, "value": v} for s, v in series] for k, series in self.metrics.items()},
            "tags": self.tags, "inputs": self.inputs, "artifacts": self.artifacts, "models": self.models,
            "code": self.code, "seeds": self.seeds, "warnings": self.warnings, "environment": self.environment,
            "deleted_at": self.deleted_at.isoformat() + "Z" if self.deleted_at else None,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunView:
        """The inverse of :meth:`to_dict` (what the remote client receives)."""
        def when(text: str | None) -> datetime | None:
            return datetime.fromisoformat(text.rstrip("Z")) if text else None

        return cls(
            doc["id"], doc["name"], doc["project"], doc["status"], when(doc["started_at"]), when(doc["ended_at"]),
            doc["created_by"], doc["command"], doc["exit_code"], doc["environment"] or {}, doc["code"] or {},
            doc["seeds"], list(doc["warnings"] or []), dict(doc["params"]),
            {k: [(p["step"], p["value"]) for p in series] for k, series in doc["metrics"].items()},
            dict(doc["tags"]), list(doc["inputs"]), list(doc["artifacts"]), list(doc["models"]),
            deleted_at=when(doc.get("deleted_at")),
        )


@dataclass
class SearchPage:
    """One page of a search: the versions, and the cursor that continues after them."""

    results: list[VersionView]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [v.to_dict() for v in self.results],
            "next_cursor": self.next_cursor,
            "count": len(self.results),
        }


BRANCH_MAIN = "main"  # the model's own line


@dataclass
class BranchView:
    """A line of a model: ``main`` (the model itself) or a branch ``MODEL~NAME``, with its head."""

    model: str
    name: str
    base: str | None
    protected: bool
    head: str | None
    merged: dict[str, Any] | None
    created_by: str

    @property
    def line(self) -> str:
        return self.model if self.name == BRANCH_MAIN else f"{self.model}~{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__) | {"line": self.line}
