"""Users, tokens, roles, alias protection and webhooks over HTTP, so an admin manages a shared
registry from anywhere. Each route is one call of the service, which checks ``admin`` itself."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.services.connection import LocalAdmin

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
RoleName = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserBody(_Body):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
    role: str | None = Field(default=None, max_length=63)


class TokenBody(_Body):
    user: str = Field(min_length=1, max_length=128)
    name: str = Field(default="default", max_length=100)
    expires_days: float | None = Field(default=None, gt=0, le=3650)


class BindingBody(_Body):
    user: str = Field(min_length=1, max_length=128)
    role: str = Field(min_length=1, max_length=63)
    scope_kind: Literal["global", "project", "model"] = "global"
    scope: str = Field(default="", max_length=128)


class RoleBody(_Body):
    permissions: list[str] = Field(min_length=1, max_length=100)


class ProtectionBody(_Body):
    model: str = Field(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,127})$", description="a model, or * for every model")
    alias: str = Field(min_length=1, max_length=63)
    required_approvals: int = Field(default=1, ge=0, le=10)
    gates: dict[str, Any] | None = None


class WebhookBody(_Body):
    url: str = Field(min_length=8, max_length=2000)
    events: list[str] = Field(min_length=1, max_length=50)
    format: Literal["json", "slack", "openlineage", "words"] = "json"
    subject: str | None = Field(default=None, max_length=300, pattern=r"^(model|dataset):[A-Za-z0-9][A-Za-z0-9._~-]{0,255}$",
                                description="a watch: model:NAME or dataset:NAME (events about it only)")
    bumps: list[Literal["major", "minor", "patch", "data", "experiment", "initial"]] | None = Field(
        default=None, max_length=6, description="of new versions, only those of these bumps")


class WebhookTestBody(_Body):
    event: str | None = Field(default=None, max_length=64, description="the event to send an example of (the first)")


class VerifyBody(_Body):
    sample: float | None = Field(default=None, gt=0, le=100, description="percentage of objects to check")


class SyncBody(_Body):
    remote: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$",
                               description="a remote named in the server's configuration (never a URL: "
                                           "a client does not choose where the server writes)")


def admin_routes(Ws: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["admin"])

    @router.post("/admin/verify")
    def verify_store(ws: Ws, body: VerifyBody) -> dict[str, Any]:
        """Read and hash the server's reachable objects; the versions any damage affects."""
        return LocalAdmin(ws).verify(body.sample)

    @router.post("/admin/{direction}")
    def sync_store(ws: Ws, direction: Literal["push", "pull"], body: SyncBody) -> dict[str, Any]:
        """Push the server's store to a configured remote, or pull from it (only missing objects move)."""
        return LocalAdmin(ws).sync(direction, body.remote)

    @router.post("/webhooks/dispatch")
    def dispatch_events(ws: Ws) -> dict[str, int]:
        """Deliver pending webhook events now (the server also does it every second)."""
        return LocalAdmin(ws).dispatch()

    @router.post("/users", status_code=201)
    def create_user(ws: Ws, body: UserBody) -> dict[str, Any]:
        return ws.access.create_user(body.name, role=body.role)

    @router.post("/tokens", status_code=201)
    def create_token(ws: Ws, body: TokenBody) -> dict[str, Any]:
        """The token is in this answer only; the server keeps its hash."""
        return ws.access.create_token(body.user, name=body.name, expires_days=body.expires_days)

    @router.delete("/tokens/{token_id}", status_code=204)
    def revoke_token(ws: Ws, token_id: Id) -> None:
        ws.access.revoke_token(token_id)

    @router.post("/roles/bindings", status_code=204)
    def bind(ws: Ws, body: BindingBody) -> None:
        ws.access.bind(body.user, body.role, body.scope_kind, body.scope)

    @router.put("/roles/{name}", status_code=204)
    def define_role(ws: Ws, name: RoleName, body: RoleBody) -> None:
        ws.access.define_role(name, body.permissions)

    @router.put("/protections", status_code=204)
    def protect(ws: Ws, body: ProtectionBody) -> None:
        ws.promotions.protect(body.model, body.alias, required_approvals=body.required_approvals, gates=body.gates)

    @router.post("/webhooks", status_code=201)
    def add_webhook(ws: Ws, body: WebhookBody) -> dict[str, Any]:
        """The signing secret is in this answer only."""
        return ws.webhooks.add(body.url, body.events, format=body.format, subject=body.subject,
                               bumps=list(body.bumps) if body.bumps else None)

    @router.get("/webhooks")
    def webhooks(ws: Ws) -> list[dict[str, Any]]:
        """Every webhook, MLflow's included (never a secret)."""
        return LocalAdmin(ws).webhooks()

    @router.delete("/webhooks/{webhook_id}", status_code=204)
    def remove_webhook(ws: Ws, webhook_id: Id) -> None:
        """Delete a webhook and its delivery log."""
        LocalAdmin(ws).remove_webhook(webhook_id)

    @router.post("/webhooks/{webhook_id}/test")
    def test_webhook(ws: Ws, webhook_id: Id, body: WebhookTestBody) -> dict[str, Any]:
        """Send one example delivery now, as the webhook would get it; what the receiver answered."""
        return LocalAdmin(ws).test_webhook(webhook_id, body.event)

    @router.get("/webhooks/deliveries")
    def deliveries(ws: Ws, webhook: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None) -> list[dict[str, Any]]:
        ws.access.check("admin")
        return ws.webhooks.deliveries(webhook)

    @router.post("/webhooks/deliveries/{delivery_id}/replay", status_code=204)
    def replay(ws: Ws, delivery_id: Id) -> None:
        ws.access.check("admin")
        ws.webhooks.replay(delivery_id)

    return router
