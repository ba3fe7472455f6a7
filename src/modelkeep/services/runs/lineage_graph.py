"""The lineage walk itself, over whatever reads the edges: the services' SQLAlchemy queries
(``services.runs.lineage``) or the standard library's sqlite3 on a personal registry
(``services.runs.fast_reads``). One walk and one answer's shape for both.

A walk is a breadth-first search with one indexed query per level (of up to ``BATCH`` nodes), so
its cost grows with the size of the answer, not of the graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from modelkeep.errors import InvalidInput

MAX_NODES = 100_000
BATCH = 500  # nodes asked about in one query

# A parent version is history, not an input: a dataset's downstream does not reach every later
# version of a model through parent_of, only those that were trained on it.
DATA_FLOW_KINDS = ("trained_on", "derived_from", "component_of", "produced_by")

EdgesOf = Callable[[list[str], bool, Sequence[str]], Iterable[tuple[str, str, str]]]
"""``(nodes, downstream, kinds)`` → the ``(src, dst, kind)`` edges of those kinds leaving (downstream)
or reaching (upstream) the nodes."""
LabelsOf = Callable[[list[int]], tuple[Iterable[tuple[int, str, str]], Iterable[tuple[int, str]]]]
"""Version ids → their ``(id, model name, version)`` rows and ``(id, alias)`` rows."""


def kinds_followed(parents: bool) -> tuple[str, ...]:
    return DATA_FLOW_KINDS + (("parent_of",) if parents else ())


def walk_graph(edges_of: EdgesOf, labels_of: LabelsOf, start: str, *, downstream: bool = False,
               max_depth: int | None = None, parents: bool = False) -> dict[str, Any]:
    """The graph reachable from ``start`` against (upstream) or along (downstream) the edges
    (``parents``: follow parent_of edges too), as ``mk lineage --json`` shows it."""
    kinds = kinds_followed(parents)
    seen = {start}
    edges: list[dict[str, str]] = []
    frontier = deque([start])
    depth = 0
    while frontier and (max_depth is None or depth < max_depth):
        level = list(frontier)
        frontier.clear()
        for i in range(0, len(level), BATCH):
            for src, dst, kind in edges_of(level[i : i + BATCH], downstream, kinds):
                edges.append({"src": src, "dst": dst, "kind": kind})
                nxt = dst if downstream else src
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        depth += 1
        if len(seen) > MAX_NODES:
            raise InvalidInput(f"lineage of {start} has more than {MAX_NODES} nodes; pass a depth limit")
    nodes = describe(labels_of, seen)
    edges.sort(key=lambda e: (e["src"], e["dst"], e["kind"]))  # the database's order is not stable (PostgreSQL's)
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


def describe(labels_of: LabelsOf, nodes: set[str]) -> list[dict[str, Any]]:
    """Each node with its kind and label (a version's ``NAME@VERSION`` and aliases), by id."""
    ids = [int(n.split(":", 1)[1]) for n in nodes if n.startswith("model_version:")]
    labels: dict[str, dict[str, Any]] = {}
    if ids:
        rows, named = labels_of(ids)
        aliases: dict[int, list[str]] = {}
        for version_id, alias in named:
            aliases.setdefault(version_id, []).append(alias)
        for version_id, name, version in rows:
            labels[f"model_version:{version_id}"] = {
                "kind": "model_version", "label": f"{name}@{version}", "aliases": sorted(aliases.get(version_id, [])),
            }
    out = []
    for node in sorted(nodes):
        kind, _, rest = node.partition(":")
        info = labels.get(node) or {"kind": kind, "label": rest}
        if kind == "model_version" and node not in labels:
            info = {"kind": kind, "label": f"(deleted version {rest})"}
        out.append({"id": node, **info})
    return out
