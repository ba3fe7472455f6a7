"""The registry's pages: models, a model (timeline and versions), a version, compare.

(No ``from __future__ import annotations`` here: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from modelkeep.api.artifact_download import stream_artifact
from modelkeep.api.web.session import Renderer
from modelkeep.errors import InvalidInput
from modelkeep.services.connection import LocalConnection
from modelkeep.services.models import browse

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(~[A-Za-z0-9][A-Za-z0-9._-]{0,127})?$")]
Version = Annotated[str, Path(pattern=r"^[A-Za-z0-9^~*.][A-Za-z0-9^~*._-]{0,63}$")]
Cursor = Annotated[str | None, Query(max_length=2000)]
MAX_COMPARE = 6


def registry_pages(router: APIRouter, V: Any, render: Renderer) -> None:

    @router.get("/models")
    def models(who: V, filter: Annotated[str, Query(max_length=2000)] = "", sort: str = "name",
               cursor: Cursor = None) -> HTMLResponse:
        """Every model with its latest version, aliases, protection, live deployments and owner."""
        who.ws.access.check("model.read")
        try:
            page = browse.models_page(who.ws.db, filter, sort, cursor)
        except InvalidInput as exc:  # a bad filter is the person's to fix: say so on the page itself
            return render.page("models.html", who, http_status=422, page=browse.Page([], None), filter=filter, sort=sort,
                               problem=str(exc), sorts=list(browse.MODEL_SORTS), first=not cursor)
        return render.page("models.html", who, page=page, filter=filter, sort=sort, problem="",
                           sorts=list(browse.MODEL_SORTS), first=not cursor)

    @router.get("/models/{name}")
    def model(who: V, name: Name, metric: Annotated[str | None, Query(max_length=400)] = None,
              cursor: Cursor = None) -> HTMLResponse:
        """A version timeline of any metric, where aliases moved, the versions table and branches."""
        who.ws.access.check("model.read", model=name)
        conn = LocalConnection(who.ws)
        page = browse.versions_page(who.ws.db, name, cursor)
        line = browse.timeline(who.ws.db, name, metric, points=False)
        branches = [b for b in conn.branches.list(name.partition("~")[0]) if b.name != "main"]
        return render.page("model.html", who, name=name, page=page, timeline=line, branches=branches,
                           summary=browse.model_summary(who.ws.db, name), first=not cursor,
                           may_alias=who.may(f"alias.set:{name}", model=name))

    @router.get("/models/{name}/timeline.json")
    def timeline_data(who: V, name: Name, metric: Annotated[str | None, Query(max_length=400)] = None) -> JSONResponse:
        """The chart's data: one metric over the versions in order, and the alias moves."""
        who.ws.access.check("model.read", model=name)
        line = browse.timeline(who.ws.db, name, metric)
        return JSONResponse({
            "metric": line.metric,
            "versions": [p.version for p in line.points],
            "values": [round(p.value, 6) for p in line.points],
            "events": [{"alias": e.alias, "version": e.version, "previous": e.previous, "via": e.via,
                        "at": e.at.isoformat() + "Z"} for e in line.events],
        })

    @router.get("/models/{name}/versions/{version}")
    def version(who: V, name: Name, version: Version) -> HTMLResponse:
        conn = LocalConnection(who.ws)
        view = conn.registry.get(f"{name}@{version}")
        evaluations = conn.evaluations.list(view.ref)
        notes = conn.evaluations.notes(view.ref)
        meta = view.metadata or {}
        return render.page("version.html", who, v=view, evaluations=evaluations, notes=notes, meta=meta,
                           may_request=who.may("promotion.request", model=name),
                           may_note=who.may("model.write", model=name))

    @router.get("/models/{name}/versions/{version}/artifact")
    def artifact(who: V, name: Name, version: Version) -> Response:
        """Download the artifact: the reader's permission is checked and the read audited."""
        view = who.ws.registry.get(f"{name}@{version}")
        return stream_artifact(who.ws, view, filename=f"{view.name}-{view.version}.bin")

    @router.get("/models/{name}/versions/{version}/card")
    def card(who: V, name: Name, version: Version) -> HTMLResponse:
        from modelkeep.services.evaluation.card import card as model_card

        conn = LocalConnection(who.ws)
        ref = conn.registry.get(f"{name}@{version}").ref
        return render.page("card.html", who, ref=ref, name=name, version=version, text=model_card(conn, ref))

    @router.post("/models/{name}/versions/{version}/notes")
    def add_note(who: V, name: Name, version: Version, text: Annotated[str, Form(min_length=1, max_length=5000)],
                 kind: Annotated[str, Form(max_length=16)] = "note",
                 csrf: Annotated[str, Form(max_length=100)] = "") -> RedirectResponse:
        from pydantic import ValidationError

        from modelkeep.services.evaluation.records import NoteRequest

        who.check_csrf(csrf)
        try:
            req = NoteRequest.model_validate({"ref": f"{name}@{version}", "kind": kind, "text": text})
        except ValidationError as exc:
            raise InvalidInput(f"note: {exc.errors()[0]['msg']}") from None
        LocalConnection(who.ws).evaluations.note(req)
        return RedirectResponse(f"/ui/models/{name}/versions/{version}#notes", status_code=303)

    @router.post("/models/{name}/versions/{version}/promotions")
    def request_promotion(who: V, name: Name, version: Version, alias: Annotated[str, Form(min_length=1, max_length=63)],
                          justification: Annotated[str, Form(min_length=1, max_length=5000)],
                          ticket: Annotated[str, Form(max_length=200)] = "",
                          csrf: Annotated[str, Form(max_length=100)] = "") -> RedirectResponse:
        who.check_csrf(csrf)
        made = who.ws.promotions.request(f"{name}@{version}", alias, justification, ticket)
        return RedirectResponse(f"/ui/approvals/{made['id']}", status_code=303)

    @router.get("/compare")
    def compare(who: V, v: Annotated[list[str], Query(max_length=MAX_COMPARE)] = []) -> HTMLResponse:  # noqa: B006
        """Two or more versions side by side: the first is the base each other is compared with."""
        conn = LocalConnection(who.ws)
        refs = [r.strip() for r in v if r.strip()]
        if len(refs) < 2:
            raise InvalidInput("compare takes two to six versions: ?v=NAME@VERSION&v=NAME@VERSION")
        views = [conn.registry.get(r) for r in refs]
        diffs = [conn.registry.diff(views[0].ref, other.ref) for other in views[1:]]
        params = sorted({k for view in views for k in view.params})
        metrics = sorted({k for view in views for k in view.metrics})
        return render.page("compare.html", who, views=views, diffs=diffs, params=params, metrics=metrics)
