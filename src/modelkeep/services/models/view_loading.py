"""Reading :class:`~modelkeep.services.models.views.VersionView` rows from the database."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Float, Integer, Text, bindparam, cast, literal, null, select, union_all
from sqlalchemy.orm import Session

from modelkeep.meta.db import among, among_bound
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
from modelkeep.services.models.views import DATASET_PREFIX, VersionView, metric_label


def _keyed_parts(of_versions: Callable[[Any], Any], of_nodes: Any) -> Any:
    """Everything keyed by version in one round trip (five on PostgreSQL would cost ~2 ms): params,
    metrics, tags, aliases and training data of the versions ``of_versions(column)`` keeps."""
    text_null, num_null, empty = cast(null(), Text), cast(null(), Float), literal("")
    return union_all(
        select(literal("p"), VersionParam.version_id, VersionParam.key, VersionParam.value, num_null, empty, empty)
        .where(of_versions(VersionParam.version_id)),
        select(literal("m"), VersionMetric.version_id, VersionMetric.key, text_null, VersionMetric.value,
               VersionMetric.dataset, VersionMetric.split).where(of_versions(VersionMetric.version_id)),
        select(literal("t"), VersionTag.version_id, VersionTag.key, VersionTag.value, num_null, empty, empty)
        .where(of_versions(VersionTag.version_id)),
        select(literal("a"), Alias.version_id, Alias.name, text_null, num_null, empty, empty)
        .where(of_versions(Alias.version_id)),
        select(literal("d"), cast(null(), Integer), LineageEdge.src, LineageEdge.dst, num_null, empty, empty)
        .where(of_nodes, LineageEdge.kind == "trained_on"),
    )


@functools.cache
def _one_version_parts() -> Any:
    """``_keyed_parts`` of the one version bound as ``id`` (its lineage node as ``node``), built once:
    a get's, where an IN, however bound, costs more to run than an equality."""
    return _keyed_parts(lambda column: column == bindparam("id"), LineageEdge.dst == bindparam("node"))


@functools.cache
def _bound_parts(dialect: str) -> Any:
    """``_keyed_parts`` of the versions bound as ``ids`` (their lineage nodes as ``nodes``), built
    once per dialect: building the union cost more than running it on SQLite."""
    return _keyed_parts(lambda column: among_bound(dialect, column, "ids"),
                        among_bound(dialect, LineageEdge.dst, "nodes"))


def load_views(session: Session, rows: list[tuple[ModelVersion, str]]) -> list[VersionView]:
    """Build views for ``(version row, model name)`` pairs with a fixed number of queries."""
    if not rows:
        return []
    ids = [row.id for row, _ in rows]
    nodes = {version_node(i): i for i in ids}
    if len(ids) == 1:
        parts, bound = _one_version_parts(), {"id": ids[0], "node": next(iter(nodes))}
    else:
        parts, bound = _bound_parts(session.get_bind().dialect.name), {"ids": ids, "nodes": list(nodes)}
    params: dict[int, dict[str, str]] = defaultdict(dict)
    metrics: dict[int, dict[str, float]] = defaultdict(dict)
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, list[str]] = defaultdict(list)
    data: dict[int, list[str]] = defaultdict(list)
    for kind, version_id, key, value, number, dataset, split in session.execute(parts, bound).all():  # one fetch, not one a row
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
            .where(among(session, CompositeComponent.composite_id, composite_ids))
            .order_by(CompositeComponent.composite_id, CompositeComponent.position)
        )
        for composite_id, name, version in component_rows:
            components[composite_id].append(f"{name}@{version}")
    parent_ids = {row.parent_id for row, _ in rows if row.parent_id}
    parents: dict[int, str] = {}
    if parent_ids:  # a parent in another model (a branch's fork point) is named with its model
        for pid, version, parent_model in session.execute(
            select(ModelVersion.id, ModelVersion.version, Model.name).join(Model, Model.id == ModelVersion.model_id)
            .where(among(session, ModelVersion.id, parent_ids))
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
