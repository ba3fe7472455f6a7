"""Signing in to the web UI, and what every page needs: who is looking, what they may do, templates.

A person signs in with an API token; the UI keeps it in a session cookie (HttpOnly, so no script
reads it; SameSite=Strict, so no other site's page sends it; Secure behind HTTPS). Each request
authenticates it exactly as the API authenticates a bearer token, so a revoked token signs the
page out at once and every service's permission check applies unchanged. Every form carries a
CSRF token derived from the session's token (an HMAC), checked on each POST: a forged post from
elsewhere, or from a page of another session, is refused.

(No ``from __future__ import annotations`` here: FastAPI reads the annotations at runtime.)
"""

import hashlib
import hmac
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from modelkeep.errors import ModelKeepError, PermissionDenied, Unauthenticated
from modelkeep.services.workspace import Workspace
from modelkeep.units import human_bytes

COOKIE = "mk_session"
TEMPLATES = Path(__file__).parent / "templates"


class SignInRequired(Unauthenticated):
    """No session, or its token no longer signs in: the page sends the person to the sign-in form."""

    def __init__(self, message: str, next_url: str) -> None:
        super().__init__(message)
        self.next_url = next_url


def csrf_token(token: str) -> str:
    return hmac.new(token.encode(), b"modelkeep-ui-csrf", hashlib.sha256).hexdigest()[:40]


def safe_next(url: str | None) -> str:
    """Only a path of this UI: a sign-in never redirects to another site."""
    if url and url.startswith("/ui/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/ui/models"


class Viewer:
    """The signed-in person on one request: their workspace, permissions and CSRF token."""

    def __init__(self, ws: Workspace, token: str) -> None:
        self.ws = ws
        self.name = ws.access.actor
        self.csrf = csrf_token(token)

    def may(self, permission: str, model: str | None = None) -> bool:
        """Whether to show a control; the service refuses the action anyway if not."""
        return self.ws.access.allowed(self.name, permission, model=model)

    def check_csrf(self, given: str | None) -> None:
        if not given or not hmac.compare_digest(given, self.csrf):
            denied = PermissionDenied("this form's CSRF token is missing or not this session's; reload the page and "
                                      "send the form again")
            denied.actor, denied.permission = self.name, "csrf"
            raise denied


def viewer_of(workspace: Workspace, request: Request) -> Viewer:
    token = request.cookies.get(COOKIE)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequired("sign in to see this page", here)
    try:
        principal = workspace.access.authenticate(token)
    except Unauthenticated as exc:
        raise SignInRequired(f"your session ended: {exc}", here) from None
    source = request.client.host if request.client else "unknown"
    return Viewer(workspace.as_user(principal.name, source), token)


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.filters["size"] = lambda n: "" if n is None else human_bytes(n)
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M") if value else ""
    env.filters["num"] = number
    return env


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


class Renderer:
    def __init__(self) -> None:
        self.env = environment()

    def page(self, template: str, viewer: Viewer | None, http_status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(viewer=viewer, **context)
        return HTMLResponse(html, status_code=http_status, headers=SECURITY_HEADERS)

    def error(self, request: Request, exc: ModelKeepError, viewer: Viewer | None = None) -> HTMLResponse:
        return self.page("error.html", viewer, http_status=exc.http_status, error=exc, kind=type(exc).__name__,
                         path=request.url.path)


# No framing (clickjacking), no inline script: the pages' own scripts and the vendored libraries only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
