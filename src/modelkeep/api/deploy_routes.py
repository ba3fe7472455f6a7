"""Deployments over HTTP: what people ask (create, update, roll back, switch, read) and what
gateways serving through this server ask (``client.gateway``): the spec by revision, reports,
alerts, automatic advance and rollback (compare-and-set on the revision), validations, and the
check of their callers' tokens. Each route is one call of ``services.deploy``, which checks the
caller's permissions itself.

(No ``from __future__ import annotations`` here: FastAPI reads the annotations at runtime.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.services.deploy import requests as deploy_requests
from modelkeep.services.deploy.windows import SHARED_SAMPLE, WindowSummary

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="deployment name")]
Revision = Annotated[int, Path(ge=1, le=2**31 - 1, description="deployment revision")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatewayReport(_Body):
    gateway: str = Field(min_length=1, max_length=200, description="the reporting gateway's id")
    revision: int = Field(ge=1, le=2**31 - 1)
    report: dict[str, Any]


class SharedWindow(_Body):
    """One arm's closed window as a replica shares it (``WindowSummary.shared``): samples thinned."""

    arm: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=200)
    n: int = Field(ge=0)
    errors: int = Field(ge=0)
    latencies_ms: list[float] = Field(max_length=SHARED_SAMPLE)
    predictions: list[Any] = Field(max_length=SHARED_SAMPLE)
    rows: list[list[Any]] = Field(max_length=SHARED_SAMPLE)
    labeled: int = Field(ge=0)
    correct: int = Field(ge=0)
    tp: int = Field(ge=0)
    fp: int = Field(ge=0)
    fn: int = Field(ge=0)
    business: dict[str, list[float]] = Field(max_length=64)


class WindowShare(_Body):
    gateway: str = Field(min_length=1, max_length=128, description="the sharing gateway's id")
    revision: int = Field(ge=1, le=2**31 - 1)
    window_no: int = Field(ge=0, le=2**62, description="wall-clock seconds // the policy's window_s")
    summaries: dict[str, SharedWindow] = Field(max_length=64)


class Alert(_Body):
    evidence: dict[str, Any]


class Advance(_Body):
    expected_revision: int = Field(ge=1, le=2**31 - 1)
    evidence: dict[str, Any] | None = None


class AutomaticRollback(_Body):
    reason: str = Field(min_length=1, max_length=2000)
    expected_revision: int | None = Field(default=None, ge=1, le=2**31 - 1)
    evidence: dict[str, Any] | None = None


class Validation(_Body):
    result: dict[str, Any]


def deploy_routes(Ws: Any) -> APIRouter:
    router = APIRouter(tags=["deployments"])

    @router.get("/api/v1/deployments")
    def list_deployments(ws: Ws) -> list[dict[str, Any]]:
        return ws.deployments.list()

    @router.post("/api/v1/deployments/{name}", status_code=201)
    def create_deployment(ws: Ws, name: Name, body: deploy_requests.CreateRequest) -> dict[str, Any]:
        return deploy_requests.create(ws.deployments, name, body)

    @router.patch("/api/v1/deployments/{name}")
    def update_deployment(ws: Ws, name: Name, body: deploy_requests.UpdateRequest) -> dict[str, Any]:
        return deploy_requests.update(ws.deployments, name, body)

    @router.get("/api/v1/deployments/{name}")
    def deployment_status(ws: Ws, name: Name) -> dict[str, Any]:
        return ws.deployments.status(name)

    @router.get("/api/v1/deployments/{name}/history")
    def deployment_history(ws: Ws, name: Name) -> list[dict[str, Any]]:
        return ws.deployments.history(name)

    @router.post("/api/v1/deployments/{name}/rollback")
    def rollback_deployment(ws: Ws, name: Name, body: deploy_requests.RollbackRequest) -> dict[str, Any]:
        """A person's rollback: the server loads what now serves, validates it and records that."""
        return deploy_requests.rollback(ws.deployments, name, body, ws.config.cache_dir / "models")

    @router.post("/api/v1/deployments/{name}/switch")
    def switch_deployment(ws: Ws, name: Name) -> dict[str, Any]:
        return ws.deployments.switch(name)

    # --- what gateways ask -----------------------------------------------------------------

    @router.get("/api/v1/deployments/{name}/spec")
    def deployment_spec(ws: Ws, name: Name) -> dict[str, Any]:
        """The whole spec a gateway loads, with its revision and status."""
        revision, spec, status = ws.deployments.spec(name)
        return {"revision": revision, "status": status, "spec": spec.model_dump(mode="json")}

    @router.get("/api/v1/deployments/{name}/pinned")
    def pinned_version(ws: Ws, name: Name,
                       ref: Annotated[str, Query(max_length=200, description="NAME@VERSION the deployment pins")]
                       ) -> dict[str, Any]:
        """A version the deployment pins, for a gateway that may read the deployment (not every version)."""
        return ws.deployments.pinned_version(name, ref).to_dict()

    @router.get("/api/v1/deployments/{name}/revision")
    def deployment_revision(ws: Ws, name: Name) -> dict[str, int]:
        """The current revision (gateways poll it)."""
        return {"revision": ws.deployments.revision(name)}

    @router.put("/api/v1/deployments/{name}/gateway/report", status_code=204)
    def gateway_report(ws: Ws, name: Name, body: GatewayReport) -> Response:
        ws.deployments.report(name, body.gateway, body.revision, body.report)
        return Response(status_code=204)

    @router.put("/api/v1/deployments/{name}/gateway/windows", status_code=204)
    def share_window(ws: Ws, name: Name, body: WindowShare) -> Response:
        """One replica's closed analysis window, for the others to pool (``policy.pooled``)."""
        summaries = {arm: WindowSummary.from_shared(w.model_dump()) for arm, w in body.summaries.items()}
        ws.deployments.share_window(name, body.revision, body.window_no, body.gateway, summaries)
        return Response(status_code=204)

    @router.get("/api/v1/deployments/{name}/gateway/windows")
    def pooled_window(ws: Ws, name: Name, revision: Annotated[int, Query(ge=1, le=2**31 - 1)],
                      window_no: Annotated[int, Query(ge=0, le=2**62)]) -> dict[str, Any]:
        """Every replica's summaries of one window: ``{"gateways": {gateway: {arm: summary}}}``."""
        pooled = ws.deployments.pooled_window(name, revision, window_no)
        return {"gateways": {g: {arm: w.shared() for arm, w in arms.items()} for g, arms in pooled.items()}}

    @router.post("/api/v1/deployments/{name}/gateway/alerts", status_code=204)
    def gateway_alert(ws: Ws, name: Name, body: Alert) -> Response:
        ws.deployments.alert(name, body.evidence)
        return Response(status_code=204)

    @router.post("/api/v1/deployments/{name}/gateway/advance")
    def gateway_advance(ws: Ws, name: Name, body: Advance) -> dict[str, Any]:
        return ws.deployments.advance(name, expected_revision=body.expected_revision, evidence=body.evidence)

    @router.post("/api/v1/deployments/{name}/gateway/rollback")
    def gateway_rollback(ws: Ws, name: Name, body: AutomaticRollback) -> dict[str, Any]:
        """A gateway's rollback: recorded here, validated by the gateway (which has the models loaded)."""
        return ws.deployments.rollback(name, reason=body.reason, evidence=body.evidence,
                                       expected_revision=body.expected_revision)

    @router.put("/api/v1/deployments/{name}/revisions/{revision}/validation", status_code=204)
    def record_validation(ws: Ws, name: Name, revision: Revision, body: Validation) -> Response:
        ws.deployments.record_validation(name, revision, body.result)
        return Response(status_code=204)

    @router.get("/api/v1/authorize")
    def authorize(
        ws: Ws,
        permission: Annotated[str, Query(min_length=1, max_length=64, description="e.g. deployment.invoke")],
        model: Annotated[str | None, Query(max_length=128, description="the model or deployment it is for")] = None,
    ) -> dict[str, str]:
        """Whether the token's user may ``permission`` (on ``model``): 200 with the user's name, or 403
        (audited). Gateways serving through this server ask it about their callers' tokens."""
        ws.access.check(permission, model=model)
        return {"name": ws.access.actor}

    return router
