"""The pages of people who decide and operate: approvals, deployments, audit.

Every button here posts a form that the service behind it checks (four-eyes, roles, the
deployment's revision); the page only hides what the person may not do.

(No ``from __future__ import annotations`` here: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query
from starlette.responses import HTMLResponse, RedirectResponse

from modelkeep.api.web.session import Renderer
from modelkeep.errors import InvalidInput
from modelkeep.services.connection import LocalConnection
from modelkeep.services.models import browse

RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DeploymentName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
Csrf = Annotated[str, Form(max_length=100)]
AUDIT_PAGE = 100


def ops_pages(router: APIRouter, V: Any, render: Renderer) -> None:

    @router.get("/approvals")
    def approvals(who: V, status: str = "pending", cursor: Annotated[str | None, Query(max_length=2000)] = None
                  ) -> HTMLResponse:
        """Promotion requests with their gate results; open ones first."""
        who.ws.access.check("model.read")
        page = browse.promotions_page(who.ws.db, status, cursor)
        return render.page("approvals.html", who, page=page, status=status, first=not cursor,
                           may_approve=who.may("promotion.approve"))

    @router.get("/approvals/{request_id}")
    def approval(who: V, request_id: RequestId) -> HTMLResponse:
        request = who.ws.promotions.get(request_id)
        return render.page("approval.html", who, r=request,
                           may_approve=who.may("promotion.approve", model=request["model"]),
                           may_withdraw=request["requested_by"] == who.name)

    @router.post("/approvals/{request_id}/review")
    def review(who: V, request_id: RequestId, decision: Annotated[Literal["approve", "reject", "comment"], Form()],
               comment: Annotated[str, Form(max_length=5000)] = "", csrf: Csrf = "") -> RedirectResponse:
        """Approve, reject or comment: the service enforces four-eyes and the approver role."""
        who.check_csrf(csrf)
        who.ws.promotions.review(request_id, decision, comment)
        return RedirectResponse(f"/ui/approvals/{request_id}", status_code=303)

    @router.post("/approvals/{request_id}/withdraw")
    def withdraw(who: V, request_id: RequestId, csrf: Csrf = "") -> RedirectResponse:
        who.check_csrf(csrf)
        who.ws.promotions.withdraw(request_id)
        return RedirectResponse(f"/ui/approvals/{request_id}", status_code=303)

    @router.get("/deployments")
    def deployments(who: V) -> HTMLResponse:
        conn = LocalConnection(who.ws)
        return render.page("deployments.html", who, deployments=conn.deployments.deployment_list())

    def deployment_context(who: Any, name: str) -> dict[str, Any]:
        conn = LocalConnection(who.ws)
        status = conn.deployments.deployment_status(name)
        history = conn.deployments.deployment_history(name)
        alerts = [h for h in history if h.get("evidence")][:20]
        return {"d": status, "history": history[:50], "alerts": alerts,
                "may_rollback": who.may("deployment.write", model=name)}

    @router.get("/deployments/{name}")
    def deployment(who: V, name: DeploymentName) -> HTMLResponse:
        """The live split, what the gateways report per version, alerts and the revision history."""
        return render.page("deployment.html", who, **deployment_context(who, name))

    @router.get("/deployments/{name}/live")
    def deployment_live(who: V, name: DeploymentName) -> HTMLResponse:
        """The live part of the page alone (htmx polls it)."""
        return render.page("deployment_live.html", who, **deployment_context(who, name))

    @router.post("/deployments/{name}/rollback")
    def rollback(who: V, name: DeploymentName, reason: Annotated[str, Form(min_length=1, max_length=2000)],
                 to_revision: Annotated[str, Form(max_length=12)] = "", csrf: Csrf = "") -> RedirectResponse:
        """A person's rollback, validated like ``mk deploy rollback`` (the service checks deployment.write):
        off the candidate, or (``to_revision``) back to an earlier revision."""
        who.check_csrf(csrf)
        body: dict[str, Any] = {"reason": reason}
        if to_revision.strip():
            if not to_revision.strip().isdigit():
                raise InvalidInput(f"to revision {to_revision!r} is not a revision number; pick one from the history")
            body["to_revision"] = int(to_revision)
        LocalConnection(who.ws).deployments.deployment_rollback(name, body)
        return RedirectResponse(f"/ui/deployments/{name}", status_code=303)

    @router.get("/audit")
    def audit(who: V, model: Annotated[str, Query(max_length=128)] = "",
              user: Annotated[str, Query(max_length=128)] = "", action: Annotated[str, Query(max_length=64)] = "",
              before: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
        """The log, newest first, filtered; older entries a page at a time."""
        from modelkeep.services.governance.audit import query

        who.ws.access.check("audit.read")
        entries = query(who.ws.db, model=model or None, actor=user or None, action=action or None,
                        limit=AUDIT_PAGE + 1, before=before)
        older = entries[AUDIT_PAGE - 1]["seq"] if len(entries) > AUDIT_PAGE else None
        return render.page("audit.html", who, entries=entries[:AUDIT_PAGE], model=model, user=user, action=action,
                           older=older, first=before is None, verified=None)

    @router.get("/audit/verify")
    def audit_verify(who: V) -> HTMLResponse:
        """Check the whole hash chain (and its MACs) now, and say where it breaks if it does."""
        result = LocalConnection(who.ws).audit.verify()
        return render.page("audit.html", who, entries=[], model="", user="", action="", older=None, first=True,
                           verified=result)
