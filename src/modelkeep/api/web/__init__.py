"""The web UI of ``mk server``: server-rendered pages (Jinja2) under ``/ui``, htmx for partial updates.

Pages read through the same services as the API, acting as the signed-in person, so every
permission check and audit entry applies unchanged; a viewer sees no write controls, and a
forged form post is refused by the service (and by the CSRF check before it). Every list
paginates with a cursor kept in the URL; tables and forms work with JavaScript off, only the
charts (uPlot) and the lineage graph (Cytoscape) need it. Those libraries and htmx come from
the npm registry at install time (``scripts/web-assets.sh``) and are served from an allow-list,
never from a path a request names.

(No ``from __future__ import annotations`` here: FastAPI reads the annotations at runtime.)
"""

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from modelkeep.api.web.data_pages import data_pages
from modelkeep.api.web.ops_pages import ops_pages
from modelkeep.api.web.registry_pages import registry_pages
from modelkeep.api.web.session import (
    COOKIE,
    Renderer,
    SignInRequired,
    Viewer,
    safe_next,
    viewer_of,
)
from modelkeep.errors import ModelKeepError, Unauthenticated
from modelkeep.services.workspace import Workspace

__all__ = ["web_error", "web_routes"]

_HERE = Path(__file__).parent
VENDOR = {  # what /ui/vendor/NAME serves: these files and no others
    "htmx.min.js": "assets/node_modules/htmx.org/dist/htmx.min.js",
    "uPlot.iife.min.js": "assets/node_modules/uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "assets/node_modules/uplot/dist/uPlot.min.css",
    "cytoscape.min.js": "assets/node_modules/cytoscape/dist/cytoscape.min.js",
}
STATIC = {"app.css", "timeline.js", "lineage.js", "curves.js"}
_RENDER = Renderer()


def web_error(request: Request, exc: ModelKeepError) -> Response:
    """What a page answers for a domain error: the sign-in form, or an error page naming what was wrong."""
    if isinstance(exc, SignInRequired):
        return RedirectResponse(f"/ui/signin?next={quote(exc.next_url, safe='')}", status_code=303)
    return _RENDER.error(request, exc)


def _audit_refused_signin(workspace: Workspace, request: Request, reason: str) -> None:
    from modelkeep.services.governance import audit

    with workspace.db.writer() as session, session.begin():
        audit.append(session, "anonymous", "access.login", "http:POST /ui/signin", outcome="denied",
                     source=request.client.host if request.client else "unknown", detail={"reason": reason})


def web_routes(workspace: Workspace) -> APIRouter:
    router = APIRouter(prefix="/ui", include_in_schema=False)

    def viewer(request: Request) -> Viewer:
        return viewer_of(workspace, request)

    V = Annotated[Viewer, Depends(viewer)]

    @router.get("")
    @router.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/models", status_code=303)

    @router.get("/signin")
    def signin_form(next: str = "/ui/models", error: str = "") -> HTMLResponse:
        return _RENDER.page("signin.html", None, next=safe_next(next), error=error)

    @router.post("/signin")
    def signin(request: Request, token: Annotated[str, Form(max_length=200)],
               next: Annotated[str, Form(max_length=2000)] = "/ui/models") -> Response:
        try:
            workspace.access.authenticate(token.strip())
        except Unauthenticated as exc:  # audited as the API audits a refused token
            _audit_refused_signin(workspace, request, str(exc))
            return _RENDER.page("signin.html", None, http_status=401, next=safe_next(next), error=str(exc))
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", path="/ui",
                            secure=request.url.scheme == "https")
        return response

    @router.post("/signout")
    def signout(who: V, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
        who.check_csrf(csrf)
        response = RedirectResponse("/ui/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/ui")
        return response

    @router.get("/vendor/{name}")
    def vendor(name: str) -> Response:
        target = VENDOR.get(name)
        path = _HERE / target if target else None
        if path is None or not path.is_file():
            return Response(f"/* {name} is not installed: run `make` (scripts/web-assets.sh) */", status_code=404,
                            media_type="text/plain")
        return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return Response(status_code=404)
        return FileResponse(_HERE / "static" / name, headers={"Cache-Control": "public, max-age=300"})

    registry_pages(router, V, _RENDER)
    data_pages(router, V, _RENDER)
    ops_pages(router, V, _RENDER)
    return router
