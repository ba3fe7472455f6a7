"""The pages of where models come from: lineage, datasets, runs.

(No ``from __future__ import annotations`` here: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from starlette.responses import HTMLResponse, JSONResponse

from modelkeep.api.web.session import Renderer
from modelkeep.errors import InvalidInput
from modelkeep.services.connection import LocalConnection
from modelkeep.services.models import browse

Ref = Annotated[str, Query(min_length=1, max_length=300)]
DatasetName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
CLUSTER = 12  # more siblings of one kind than this around one node collapse into a node that expands
FILES_SHOWN = 500
Cursor = Annotated[str | None, Query(max_length=2000)]


def cluster(graph: dict[str, Any], limit: int = CLUSTER) -> dict[str, Any]:
    """The graph with each large set of sibling leaves (nodes of one kind whose only edges join one
    node) collapsed into one cluster node that carries its members, for the page to expand."""
    nodes = {n["id"]: n for n in graph["nodes"]}
    touching: dict[str, set[str]] = {}
    for e in graph["edges"]:
        touching.setdefault(e["src"], set()).add(e["dst"])
        touching.setdefault(e["dst"], set()).add(e["src"])
    groups: dict[tuple[str, str], list[str]] = {}
    for node_id, neighbours in touching.items():
        if len(neighbours) == 1 and node_id != graph["root"]:
            anchor = next(iter(neighbours))
            groups.setdefault((anchor, nodes[node_id]["kind"]), []).append(node_id)
    hidden: dict[str, str] = {}
    clusters = []
    for (anchor, kind), members in groups.items():
        if len(members) <= limit:
            continue
        cid = f"cluster:{anchor}:{kind}"
        clusters.append({"id": cid, "kind": "cluster", "label": f"{len(members)} {kind.replace('_', ' ')}s",
                         "members": [nodes[m] for m in sorted(members)], "anchor": anchor})
        hidden.update({m: cid for m in members})
    edges, seen = [], set()
    for e in graph["edges"]:
        src, dst = hidden.get(e["src"], e["src"]), hidden.get(e["dst"], e["dst"])
        if (src, dst) not in seen:
            seen.add((src, dst))
            edges.append({**e, "src": src, "dst": dst})
    kept = [n for n in graph["nodes"] if n["id"] not in hidden]
    return {**graph, "nodes": kept + clusters, "edges": edges}


def data_pages(router: APIRouter, V: Any, render: Renderer) -> None:

    def reach(who: Any, ref: str, direction: str) -> dict[str, Any]:
        conn = LocalConnection(who.ws)
        graph = conn.lineage.lineage(ref, downstream=direction == "down")
        if direction == "down":  # the incident question: which live deployments serve what this reaches
            versions = set(graph.get("model_versions", []))
            graph["deployments"] = sorted(
                d["name"] for d in _deployments(conn) if any(a.get("model") in versions for a in d.get("arms", [])))
        return graph

    @router.get("/lineage")
    def lineage(who: V, ref: Annotated[str, Query(max_length=300)] = "",
                direction: Literal["up", "down"] = "down") -> HTMLResponse:
        """Upstream or downstream of a dataset, run or version: a graph, and the same as lists."""
        graph = reach(who, ref, direction) if ref else None
        return render.page("lineage.html", who, ref=ref, direction=direction, graph=graph)

    @router.get("/lineage.json")
    def lineage_data(who: V, ref: Ref, direction: Literal["up", "down"] = "down") -> JSONResponse:
        return JSONResponse(cluster(reach(who, ref, direction)))

    @router.get("/datasets")
    def datasets(who: V, cursor: Cursor = None) -> HTMLResponse:
        who.ws.access.check("data.read")
        return render.page("datasets.html", who, page=browse.datasets_page(who.ws.db, cursor), first=not cursor)

    @router.get("/datasets/{name}")
    def dataset(who: V, name: DatasetName, a: Annotated[str, Query(max_length=20)] = "",
                b: Annotated[str, Query(max_length=20)] = "",
                files: Annotated[str, Query(max_length=20)] = "") -> HTMLResponse:
        """Versions with sizes and partitions; the files of one; the diff of two (files and rows)."""
        from modelkeep.services.data.dataset_diff import diff_dataset_versions

        conn = LocalConnection(who.ws)
        log = conn.datasets.log(name)
        listing = None
        if files:
            entries = conn.datasets.files(f"{name}@{files}")
            listing = {"ref": f"{name}@{files}", "total": len(entries),
                       "entries": [(p, entries[p]) for p in sorted(entries)[:FILES_SHOWN]]}
        diff = None
        if a or b:
            if not (a and b):
                raise InvalidInput("a diff takes two versions: ?a=N&b=M")
            diff = diff_dataset_versions(conn.datasets, f"{name}@{a}", f"{name}@{b}")
        return render.page("dataset.html", who, name=name, log=log[:200], listing=listing, diff=diff,
                           shown=FILES_SHOWN)

    @router.get("/runs")
    def runs(who: V, project: Annotated[str, Query(max_length=128)] = "", cursor: Cursor = None) -> HTMLResponse:
        who.ws.access.check("model.read", project=project or None)
        return render.page("runs.html", who, page=browse.runs_page(who.ws.db, project, cursor), project=project,
                           first=not cursor)

    @router.get("/runs/{run_id}")
    def run(who: V, run_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> HTMLResponse:
        view = LocalConnection(who.ws).runs.get(run_id)
        last = {k: points[-1] for k, points in view.metrics.items() if points}
        return render.page("run.html", who, r=view, last=last)

    @router.get("/runs/{run_id}/metrics.json")
    def run_metrics(who: V, run_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> JSONResponse:
        """Every metric's curve (step, value) for the page's charts."""
        view = LocalConnection(who.ws).runs.get(run_id, outputs=False)
        return JSONResponse({k: {"steps": [s for s, _ in pts], "values": [v for _, v in pts]}
                             for k, pts in view.metrics.items()})


def _deployments(conn: Any) -> list[dict[str, Any]]:
    from modelkeep.errors import PermissionDenied

    try:
        return list(conn.deployments.deployment_list())
    except PermissionDenied:  # a reader without deployment.read still gets the lineage
        return []
