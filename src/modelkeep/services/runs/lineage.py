"""Lineage: what made a version (upstream) and what a version feeds (downstream).

The graph lives on the versions, in ``lineage_edges`` (``src --kind--> dst``; data flows from
src to dst), not on runs: deleting a run leaves every edge between versions in place. Nodes are
typed references: ``model_version:ID``, ``dataset:NAME@N``, ``run:ID``. A walk is a
breadth-first search with one indexed query per level, so its cost grows with the size of the
answer, not of the graph.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy import select

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.meta.db import Database, among
from modelkeep.meta.tables import Alias, Dataset, LineageEdge, Model, ModelVersion, Run, version_node
from modelkeep.services.data.datasets import Datasets
from modelkeep.services.models.registry import Registry

MAX_NODES = 100_000


def _label_models(db: Database, nodes: set[str]) -> dict[str, dict[str, Any]]:
    ids = [int(n.split(":", 1)[1]) for n in nodes if n.startswith("model_version:")]
    if not ids:
        return {}
    out: dict[str, dict[str, Any]] = {}
    with db.reader() as session:
        rows = session.execute(
            select(ModelVersion.id, Model.name, ModelVersion.version)
            .join(Model, Model.id == ModelVersion.model_id)
            .where(among(session, ModelVersion.id, ids))
        ).all()
        aliases: dict[int, list[str]] = {}
        named = select(Alias.version_id, Alias.name).where(among(session, Alias.version_id, ids))
        for version_id, alias in session.execute(named):
            aliases.setdefault(version_id, []).append(alias)
    for version_id, name, version in rows:
        out[version_node(version_id)] = {
            "kind": "model_version",
            "label": f"{name}@{version}",
            "aliases": sorted(aliases.get(version_id, [])),
        }
    return out


def _describe(db: Database, nodes: set[str]) -> list[dict[str, Any]]:
    labels = _label_models(db, nodes)
    out = []
    for node in sorted(nodes):
        kind, _, rest = node.partition(":")
        info = labels.get(node) or {"kind": kind, "label": rest}
        if kind == "model_version" and node not in labels:
            info = {"kind": kind, "label": f"(deleted version {rest})"}
        out.append({"id": node, **info})
    return out


# A parent version is history, not an input: a dataset's downstream does not reach every later
# version of a model through parent_of, only those that were trained on it.
DATA_FLOW_KINDS = ("trained_on", "derived_from", "component_of", "produced_by")


def walk(
    db: Database, start: str, *, downstream: bool = False, max_depth: int | None = None, parents: bool = False
) -> dict[str, Any]:
    """The graph reachable from ``start`` against (upstream) or along (downstream) the edges
    (``parents``: follow parent_of edges too)."""
    kinds = DATA_FLOW_KINDS + (("parent_of",) if parents else ())
    seen = {start}
    edges: list[dict[str, str]] = []
    frontier = deque([start])
    depth = 0
    with db.reader() as session:
        while frontier and (max_depth is None or depth < max_depth):
            level = list(frontier)
            frontier.clear()
            column = LineageEdge.src if downstream else LineageEdge.dst
            for i in range(0, len(level), 500):
                rows = session.execute(
                    select(LineageEdge.src, LineageEdge.dst, LineageEdge.kind).where(
                        among(session, column, level[i : i + 500]), LineageEdge.kind.in_(kinds)
                    )
                ).all()
                for src, dst, kind in rows:
                    edges.append({"src": src, "dst": dst, "kind": kind})
                    nxt = dst if downstream else src
                    if nxt not in seen:
                        seen.add(nxt)
                        frontier.append(nxt)
            depth += 1
            if len(seen) > MAX_NODES:
                raise InvalidInput(f"lineage of {start} has more than {MAX_NODES} nodes; pass a depth limit")
    nodes = _describe(db, seen)
    result: dict[str, Any] = {"root": start, "direction": "downstream" if downstream else "upstream",
                              "nodes": nodes, "edges": edges}
    if downstream:
        result["aliases"] = sorted(
            f"{n['label'].split('@')[0]}@{alias}" for n in nodes for alias in n.get("aliases", [])
        )
        result["model_versions"] = sorted(n["label"] for n in nodes if n["kind"] == "model_version")
        result["datasets"] = sorted(n["label"] for n in nodes if n["kind"] == "dataset" and n["id"] != start)
        result["runs"] = sorted(n["label"] for n in nodes if n["kind"] == "run")
    return result


def resolve_node(db: Database, registry: Registry, datasets: Datasets, ref: str) -> str:
    """``model:NAME@SPEC``, ``dataset:NAME@N``, ``run:ID`` or a bare ``NAME@SPEC`` (model first) → node id."""
    kind, sep, rest = ref.partition(":")
    if sep and kind == "run":
        if not rest.isdigit():
            raise InvalidInput(f"run:{rest}: a run is named by its number (run:12)")
        with db.reader() as session:
            if session.get(Run, int(rest)) is None:
                raise NotFound(f"run {rest} does not exist")
        return f"run:{int(rest)}"
    # the caller has checked model.read: a version is found by id, not read whole (resolve_id)
    if sep and kind in ("model", "dataset"):
        if kind == "model":
            return version_node(registry.resolve_id(rest))
        return f"dataset:{datasets.get(rest).ref}"
    name = ref.partition("@")[0]
    with db.reader() as session:
        is_model, is_dataset = session.execute(select(
            select(Model.id).where(Model.name == name).exists(),
            select(Dataset.id).where(Dataset.name == name).exists())).one()
    if is_model and is_dataset:
        raise InvalidInput(f"{name!r} is both a model and a dataset; write model:{ref} or dataset:{ref}")
    if is_model:
        return version_node(registry.resolve_id(ref))
    if is_dataset:
        return f"dataset:{datasets.get(ref).ref}"
    raise NotFound(f"no model or dataset named {name!r}")

