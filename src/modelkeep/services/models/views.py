"""Read models of the registry: what ``show``, ``list`` and ``search`` return.

``VersionView.to_dict()`` is the JSON contract of ``mk model show --json`` (keys in
``shared/CLI.md``); add keys freely, rename none.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, Text, cast, literal, null, select, union_all
from sqlalchemy.orm import Session

from modelkeep.meta.tables import (
    Alias,
    CompositeComponent,
    LineageEdge,
    Model,
    ModelVersion,
    VersionMetric,
    VersionParam,
    VersionTag,
    version_node,
)

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


def load_views(session: Session, rows: list[tuple[ModelVersion, str]]) -> list[VersionView]:
    """Build views for ``(version row, model name)`` pairs with a fixed number of queries."""
    if not rows:
        return []
    ids = [row.id for row, _ in rows]
    nodes = {version_node(i): i for i in ids}
    text_null, num_null, empty = cast(null(), Text), cast(null(), Float), literal("")
    # One round trip for everything keyed by version (five on PostgreSQL would cost ~2 ms).
    parts = union_all(
        select(literal("p"), VersionParam.version_id, VersionParam.key, VersionParam.value, num_null, empty, empty)
        .where(VersionParam.version_id.in_(ids)),
        select(literal("m"), VersionMetric.version_id, VersionMetric.key, text_null, VersionMetric.value,
               VersionMetric.dataset, VersionMetric.split).where(VersionMetric.version_id.in_(ids)),
        select(literal("t"), VersionTag.version_id, VersionTag.key, VersionTag.value, num_null, empty, empty)
        .where(VersionTag.version_id.in_(ids)),
        select(literal("a"), Alias.version_id, Alias.name, text_null, num_null, empty, empty)
        .where(Alias.version_id.in_(ids)),
        select(literal("d"), cast(null(), Integer), LineageEdge.src, LineageEdge.dst, num_null, empty, empty)
        .where(LineageEdge.dst.in_(list(nodes)), LineageEdge.kind == "trained_on"),
    )
    params: dict[int, dict[str, str]] = defaultdict(dict)
    metrics: dict[int, dict[str, float]] = defaultdict(dict)
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, list[str]] = defaultdict(list)
    data: dict[int, list[str]] = defaultdict(list)
    for kind, version_id, key, value, number, dataset, split in session.execute(parts):
        if kind == "p":
            params[version_id][key] = value
        elif kind == "m":
            metrics[version_id][metric_label(key, dataset, split)] = number
        elif kind == "t":
            tags[version_id][key] = value
        elif kind == "a":
            aliases[version_id].append(key)
        elif key.startswith(DATASET_PREFIX):
            data[nodes[value]].append(key[len(DATASET_PREFIX) :])
    for names in aliases.values():
        names.sort()
    components: dict[int, list[str]] = defaultdict(list)
    composite_ids = [row.id for row, _ in rows if row.artifact_kind == "composite"]
    if composite_ids:
        component_rows = session.execute(
            select(CompositeComponent.composite_id, Model.name, ModelVersion.version)
            .join(ModelVersion, ModelVersion.id == CompositeComponent.component_id)
            .join(Model, Model.id == ModelVersion.model_id)
            .where(CompositeComponent.composite_id.in_(composite_ids))
            .order_by(CompositeComponent.composite_id, CompositeComponent.position)
        )
        for composite_id, name, version in component_rows:
            components[composite_id].append(f"{name}@{version}")
    parent_ids = {row.parent_id for row, _ in rows if row.parent_id}
    parents: dict[int, str] = {}
    if parent_ids:  # a parent in another model (a branch's fork point) is named with its model
        for pid, version, parent_model in session.execute(
            select(ModelVersion.id, ModelVersion.version, Model.name).join(Model, Model.id == ModelVersion.model_id)
            .where(ModelVersion.id.in_(parent_ids))
        ):
            parents[pid] = version
            parents[-pid] = parent_model
    return [
        VersionView(
            id=row.id,
            name=name,
            version=row.version,
            status=row.status,
            description=row.description,
            bump=row.bump,
            reasons=list(row.reasons or []),
            digest=row.digest,
            artifact_kind=row.artifact_kind,
            artifact_size=row.artifact_size,
            signature=row.signature,
            metadata=row.meta,
            environment=row.environment,
            code=row.code,
            composite_config=row.composite_config,
            parent=(None if not row.parent_id else parents.get(row.parent_id) if parents.get(-row.parent_id) == name
                    else f"{parents.get(-row.parent_id)}@{parents.get(row.parent_id)}"),
            created_at=row.created_at,
            created_by=row.created_by,
            params=params[row.id],
            metrics=metrics[row.id],
            tags=tags[row.id],
            aliases=aliases[row.id],
            data=sorted(data[row.id]),
            components=components[row.id],
            seq=row.seq or 0,
        )
        for row, name in rows
    ]


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
        )
