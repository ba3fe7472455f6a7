"""Marking: a dropped version becomes a tombstone (its rows kept aside, the version gone from every
listing and lookup), which ``mk undelete`` restores until a sweep after the grace period purges it.

A model version's rows: the version, its params, metrics, tags, composite parts, the lineage
edges into and out of it, and which later versions named it as their parent. A dataset version's:
the version, its partitions and its lineage edges. Restored, a version gets a new row id (the old
one may have been handed out again); every reference to it is rewritten to the new one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.types import DateTime

from modelkeep.errors import Conflict, NotFound
from modelkeep.meta.tables import (
    CompositeComponent,
    Dataset,
    DatasetPartition,
    DatasetVersion,
    LineageEdge,
    Model,
    ModelVersion,
    Tombstone,
    VersionMetric,
    VersionParam,
    VersionTag,
    table_of,
)
from modelkeep.services.governance import audit
from modelkeep.services.retention.plan import Decision


def _dump(table: Table, rows: Any) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        doc = dict(row._mapping)
        for column in table.columns:
            if isinstance(column.type, DateTime) and doc.get(column.name) is not None:
                doc[column.name] = doc[column.name].isoformat()
        out.append(doc)
    return out


def _load(table: Table, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for doc in docs:
        for column in table.columns:
            if isinstance(column.type, DateTime) and isinstance(doc.get(column.name), str):
                doc[column.name] = datetime.fromisoformat(doc[column.name])
    return docs


def _inserted(session: Session, statement: Any) -> int:
    result = cast(CursorResult[Any], session.execute(statement))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def mark(session: Session, decision: Decision, actor: str, now: datetime) -> None:
    """Tombstone one dropped version inside the caller's transaction."""
    node = decision.node
    edges = table_of(LineageEdge)
    rows: dict[str, Any] = {"edges": _dump(edges, session.execute(
        select(edges).where(or_(edges.c.src == node, edges.c.dst == node))))}
    if node.startswith("model_version:"):
        version_id = int(node.split(":")[1])
        for name, model in (("version", ModelVersion), ("params", VersionParam), ("metrics", VersionMetric),
                            ("tags", VersionTag), ("parts", CompositeComponent)):
            table = table_of(model)
            column = table.c.id if model is ModelVersion else (
                table.c.composite_id if model is CompositeComponent else table.c.version_id)
            rows[name] = _dump(table, session.execute(select(table).where(column == version_id)))
        rows["children"] = list(session.scalars(select(ModelVersion.id).where(ModelVersion.parent_id == version_id)))
        if not rows["version"]:
            raise NotFound(f"{decision.key} is gone already")
        session.execute(delete(edges).where(or_(edges.c.src == node, edges.c.dst == node)))
        session.execute(delete(ModelVersion).where(ModelVersion.id == version_id))
    else:
        name, _, number = decision.key.split(":", 1)[1].rpartition("@")
        dataset_id = session.scalar(select(Dataset.id).where(Dataset.name == name))
        versions = table_of(DatasetVersion)
        found = _dump(versions, session.execute(select(versions).where(versions.c.dataset_id == dataset_id,
                                                                       versions.c.number == int(number))))
        if not found:
            raise NotFound(f"{decision.key} is gone already")
        rows["version"] = found
        parts = table_of(DatasetPartition)
        rows["partitions"] = _dump(parts, session.execute(select(parts).where(parts.c.version_id == found[0]["id"])))
        session.execute(delete(edges).where(or_(edges.c.src == node, edges.c.dst == node)))
        session.execute(delete(DatasetVersion).where(DatasetVersion.id == found[0]["id"]))
    kind, digest = decision.objects if decision.objects else (None, None)
    session.add(Tombstone(key=decision.key, digest=digest, kind=kind, rows=rows, why=decision.why, marked_by=actor,
                          marked_at=now))
    audit.append(session, actor, "gc.mark", decision.key, detail={"why": decision.why, "digest": digest})


def undelete(session: Session, key: str, actor: str) -> str:
    """Restore a tombstoned version; its key."""
    stone = session.get(Tombstone, key)
    if stone is None:
        raise NotFound(f"no tombstone for {key}: it was never dropped, was restored, or the sweep purged it")
    rows = dict(stone.rows)
    edges = table_of(LineageEdge)
    if key.startswith("model:"):
        versions = table_of(ModelVersion)
        [doc] = _load(versions, rows["version"])
        old = doc.pop("id")
        taken = session.scalar(select(ModelVersion.id).where(ModelVersion.model_id == doc["model_id"],
                                                             ModelVersion.sort_key == doc["sort_key"]))
        if taken is not None or session.get(Model, doc["model_id"]) is None:
            raise Conflict(f"{key} cannot come back: its model or its version number is taken")
        new = _inserted(session, insert(versions).values(doc))
        for name, model in (("params", VersionParam), ("metrics", VersionMetric), ("tags", VersionTag)):
            docs = [dict(d, version_id=new) for d in rows.get(name, [])]
            if model is VersionMetric:  # a tombstone from before metrics named their model has none
                docs = [dict(d, model_id=doc["model_id"]) for d in docs]
            if docs:
                session.execute(insert(table_of(model)), docs)
        parts = [dict(d, composite_id=new) for d in rows.get("parts", [])]
        if parts:
            session.execute(insert(table_of(CompositeComponent)), parts)
        if rows.get("children"):
            session.execute(update(ModelVersion).where(ModelVersion.id.in_(rows["children"])).values(parent_id=new))
        old_node, new_node = f"model_version:{old}", f"model_version:{new}"
    else:
        versions = table_of(DatasetVersion)
        [doc] = _load(versions, rows["version"])
        old = doc.pop("id")
        new = _inserted(session, insert(versions).values(doc))
        partitions = [dict(d, version_id=new) for d in _load(table_of(DatasetPartition), rows.get("partitions", []))]
        if partitions:
            session.execute(insert(table_of(DatasetPartition)), partitions)
        old_node = new_node = key  # a dataset's node is its name and number
    restored = []
    for edge in _load(edges, rows.get("edges", [])):
        edge.pop("id", None)
        edge["src"] = new_node if edge["src"] == old_node else edge["src"]
        edge["dst"] = new_node if edge["dst"] == old_node else edge["dst"]
        restored.append(edge)
    if restored:
        session.execute(insert(edges), restored)
    session.delete(stone)
    audit.append(session, actor, "gc.undelete", key)
    return key


def purge(session: Session, older_than: datetime, actor: str) -> list[Tombstone]:
    """Drop the tombstones marked before ``older_than`` (no undelete after this); the purged ones."""
    stones = list(session.scalars(select(Tombstone).where(Tombstone.marked_at <= older_than)))
    for stone in stones:
        session.delete(stone)
        audit.append(session, actor, "gc.purge", stone.key, detail={"marked_at": stone.marked_at.isoformat() + "Z"})
    return stones
