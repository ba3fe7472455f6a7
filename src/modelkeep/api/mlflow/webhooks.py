"""MLflow's webhooks API (``/api/2.0/mlflow/webhooks``, MLflow 3.3 and later) on modelkeep's webhooks:
``MlflowClient.create_webhook``, ``list_webhooks``, ``get_webhook``, ``update_webhook``,
``delete_webhook`` and ``test_webhook``. Deliveries come from modelkeep's outbox in MLflow's shape
(``services/governance/mlflow_webhooks.py``): signed, retried, logged and replayable with
``mk webhook``. Admins only, as every webhook."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.api.mlflow import errors
from modelkeep.api.mlflow.shapes import ms
from modelkeep.api.mlflow.tracking import page
from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.governance.webhooks import WebhookView

STATUSES = {"ACTIVE": True, "DISABLED": False}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class EventBody(_Body):
    entity: str
    action: str

    def name(self) -> str:
        """MLflow's ``MODEL_VERSION``/``CREATED`` as its event name ``model_version.created``."""
        return f"{self.entity.lower()}.{self.action.lower()}"


class CreateWebhook(_Body):
    name: str
    url: str
    events: list[EventBody] = Field(min_length=1)
    description: str | None = None
    secret: str | None = None
    status: str | None = None


class UpdateWebhook(_Body):
    name: str | None = None
    description: str | None = None
    url: str | None = None
    events: list[EventBody] | None = None
    secret: str | None = None
    status: str | None = None


class TestWebhook(_Body):
    event: EventBody | None = None


def active(status: str | None) -> bool | None:
    if status is None:
        return None
    if status not in STATUSES:
        raise InvalidInput(f"webhook status {status!r}: {' or '.join(STATUSES)}")
    return STATUSES[status]


def webhook_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise NotFound(f"webhook {text!r} does not exist")
    return int(text)


def webhook(view: WebhookView) -> dict[str, Any]:
    """An MLflow webhook as MLflow's ``Webhook`` (its secret never leaves the server)."""
    events = [dict(zip(("entity", "action"), e.upper().split("."), strict=True)) for e in view.events]
    doc = {"webhook_id": str(view.id), "name": view.name or "", "url": view.url, "events": events,
           "status": "ACTIVE" if view.active else "DISABLED", "creation_timestamp": ms(view.created_at),
           "last_updated_timestamp": ms(view.updated_at)}
    return doc | ({"description": view.description} if view.description else {})


def webhook_routes(Ws: Any) -> APIRouter:
    router = errors.router()

    @router.post("/webhooks")
    def create(ws: Ws, body: CreateWebhook) -> dict[str, Any]:
        view = ws.webhooks.add_mlflow(body.name, body.url, [e.name() for e in body.events], description=body.description,
                                      secret=body.secret, active=active(body.status) is not False)
        return {"webhook": webhook(view)}

    @router.get("/webhooks")
    def listing(ws: Ws, max_results: int = 100, page_token: str | None = None) -> dict[str, Any]:
        views = [v for v in ws.webhooks.hooks() if v.format == "mlflow"]
        items, token = page(views, page_token, min(max(max_results, 1), 1000))
        return {"webhooks": [webhook(v) for v in items]} | ({"next_page_token": token} if token else {})

    # each MLflow route sees MLflow's webhooks only (only="mlflow"): modelkeep's own are not found there
    @router.get("/webhooks/{id}")
    def get(ws: Ws, id: str) -> dict[str, Any]:
        return {"webhook": webhook(ws.webhooks.hook(webhook_id(id), only="mlflow"))}

    @router.patch("/webhooks/{id}")
    def update(ws: Ws, id: str, body: UpdateWebhook) -> dict[str, Any]:
        view = ws.webhooks.update(webhook_id(id), name=body.name or None, description=body.description,
                                  url=body.url or None, events=[e.name() for e in body.events] if body.events else None,
                                  secret=body.secret, active=active(body.status), only="mlflow")
        return {"webhook": webhook(view)}

    @router.delete("/webhooks/{id}")
    def remove(ws: Ws, id: str) -> dict[str, Any]:
        ws.webhooks.remove(webhook_id(id), only="mlflow")
        return {}

    @router.post("/webhooks/{id}/test")
    def test(ws: Ws, id: str, body: TestWebhook | None = None) -> dict[str, Any]:
        event = body.event.name() if body is not None and body.event is not None else None
        result = ws.webhooks.test(webhook_id(id), event, only="mlflow")
        doc: dict[str, Any] = {"success": result.success}
        for field, value in (("response_status", result.status), ("response_body", result.body),
                             ("error_message", result.error)):
            if value is not None:
                doc[field] = value
        return {"result": doc}

    return router
