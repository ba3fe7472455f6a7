"""Retention over HTTP: the routes behind ``client.retention.RemoteRetention``."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.services.retention.rules import RetentionRules

Scope = Annotated[str, Path(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,127})$", description="a name, or * for all")]


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str = Field(max_length=300, description="model:NAME@VERSION or dataset:NAME@N")
    reason: str = Field(default="", max_length=2000)


class CollectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grace_s: float = Field(default=24 * 3600.0, ge=0, le=10 * 365 * 86400,
                           description="tombstones and condemned objects younger than this stay")


class ReleaseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str = Field(max_length=300)


def retention_routes(Ws: Any) -> APIRouter:
    from modelkeep.services.connection import LocalRetention

    router = APIRouter(prefix="/api/v1", tags=["retention"])

    @router.get("/retention")
    def policies(ws: Ws) -> list[dict[str, Any]]:
        return LocalRetention(ws).policies()

    @router.put("/retention/{kind}/{scope}")
    def set_policy(ws: Ws, kind: Literal["model", "dataset"], scope: Scope, body: RetentionRules) -> dict[str, Any]:
        return LocalRetention(ws).set_policy(kind, scope, body.model_dump(exclude_none=True))

    @router.delete("/retention/{kind}/{scope}", status_code=204)
    def unset_policy(ws: Ws, kind: Literal["model", "dataset"], scope: Scope) -> None:
        LocalRetention(ws).unset_policy(kind, scope)

    @router.get("/holds")
    def holds(ws: Ws) -> list[dict[str, Any]]:
        return LocalRetention(ws).holds()

    @router.post("/holds", status_code=201)
    def hold(ws: Ws, body: HoldBody) -> dict[str, Any]:
        return LocalRetention(ws).hold(body.target, body.reason)

    @router.post("/holds/release", status_code=204)
    def release(ws: Ws, body: ReleaseBody) -> None:
        LocalRetention(ws).release(body.target)

    @router.get("/gc/plan")
    def gc_plan(ws: Ws) -> dict[str, Any]:
        """Every version kept or dropped with what decided it, and the bytes each pack would free."""
        return LocalRetention(ws).plan()

    @router.post("/gc")
    def collect(ws: Ws, body: CollectBody) -> dict[str, Any]:
        """Mark what the plan drops, purge tombstones past the grace period, sweep the store."""
        return LocalRetention(ws).collect(body.grace_s)

    @router.post("/gc/undelete")
    def undelete(ws: Ws, body: ReleaseBody) -> dict[str, Any]:
        return {"restored": LocalRetention(ws).undelete(body.target)}

    return router
