"""MLflow's webhooks (its ``/api/2.0/mlflow/webhooks`` API, MLflow 3.3 and later) on modelkeep's
events outbox: which of modelkeep's events is which of MLflow's, what each carries, and a delivery
as MLflow's server sends one, so a receiver written for MLflow reads and verifies it unchanged.

A delivery is the JSON ``{"entity", "action", "timestamp", "data"}`` with ``X-MLflow-Delivery-Id``,
``X-MLflow-Timestamp`` and, when the webhook has a secret, ``X-MLflow-Signature: v1,`` + base64 of
HMAC-SHA256(secret, ``"<delivery id>.<timestamp>.<body>"``). Unlike MLflow's server, a delivery
comes from the outbox: it is written with the change, retried with backoff, logged and replayable,
and keeps its delivery id on every attempt (a receiver can drop a repeat).

MLflow's prompt and budget events have nothing in modelkeep to come from: a webhook that asks for
one is refused, naming the events there are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from modelkeep.errors import InvalidInput, ModelKeepError
from modelkeep.services.models.records import ModelRecords

EVENTS = ("registered_model.created", "model_version.created", "model_version_tag.set", "model_version_tag.deleted",
          "model_version_alias.created", "model_version_alias.deleted")
ELSEWHERE = ("prompt.", "prompt_version.", "prompt_tag.", "prompt_version_tag.", "prompt_alias.", "budget_policy.")
FIELD_TAGS = frozenset({"mlflow.source", "mlflow.run_id", "mlflow.model_id"})  # MLflow's fields, kept as tags

# MLflow's own examples (mlflow/webhooks/types.py): what a test delivery carries
EXAMPLES: dict[str, dict[str, Any]] = {
    "registered_model.created": {"name": "example_model", "tags": {"example_key": "example_value"},
                                 "description": "An example registered model"},
    "model_version.created": {"name": "example_model", "version": "1", "source": "models:/123",
                              "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"},
                              "description": "An example model version"},
    "model_version_tag.set": {"name": "example_model", "version": "1", "key": "example_key", "value": "example_value"},
    "model_version_tag.deleted": {"name": "example_model", "version": "1", "key": "example_key"},
    "model_version_alias.created": {"name": "example_model", "alias": "example_alias", "version": "1"},
    "model_version_alias.deleted": {"name": "example_model", "alias": "example_alias"},
}


def check_events(events: Iterable[str]) -> list[str]:
    """MLflow event names (``model_version.created``), each once, sorted; an unknown one is refused."""
    wanted = sorted(set(events))
    if not wanted:
        raise InvalidInput(f"a webhook needs at least one event: {', '.join(EVENTS)}")
    for event in wanted:
        if event not in EVENTS:
            why = "modelkeep has no prompts or budgets" if event.startswith(ELSEWHERE) else "not an MLflow event"
            raise InvalidInput(f"event {event!r}: {why}; valid: {', '.join(EVENTS)}")
    return wanted


def event_of(payload: dict[str, Any]) -> str | None:
    """Which MLflow event an outbox event is (None: none of MLflow's)."""
    event, detail, target = payload.get("event"), payload.get("detail") or {}, str(payload.get("target", ""))
    if not target.startswith("model:") or "~" in target:  # a branch line is not a model MLflow knows
        return None
    if event == "model.created":
        return "registered_model.created"
    if event == "version.created":
        return "model_version.created"
    if event in ("alias.moved", "rollback") and detail.get("alias"):  # set directly, by a promotion or a rollback
        return "model_version_alias.created" if detail.get("version") else "model_version_alias.deleted"
    tags = detail.get("tags")
    if event == "version.updated" and isinstance(tags, dict) and len(tags) == 1:  # MLflow sets one tag per call
        return "model_version_tag.deleted" if next(iter(tags.values())) is None else "model_version_tag.set"
    return None


def data(records: ModelRecords, payload: dict[str, Any]) -> dict[str, Any] | None:
    """What MLflow's server sends as ``data`` for the event (None: not an MLflow event, or what it was
    about is gone), read through ``records`` (as the user who caused it)."""
    event, detail = event_of(payload), payload.get("detail") or {}
    ref = str(payload.get("target", "")).partition(":")[2]
    name = ref.partition("@")[0]
    try:
        if event == "registered_model.created":
            model = records.get(name)
            return {"name": name, "tags": dict(model.tags), "description": model.description or None}
        if event == "model_version_alias.deleted":
            return {"name": name, "alias": detail["alias"]}
        if event == "model_version_alias.created":
            seq = records.registry.get(f"{name}@{detail['version']}").seq
            return {"name": name, "alias": detail["alias"], "version": str(seq)}
        view = records.registry.get(ref)
    except ModelKeepError:
        return None
    if event == "model_version.created":
        own = view.tags
        return {"name": name, "version": str(view.seq), "source": own.get("mlflow.source") or f"models:/{name}/{view.seq}",
                "run_id": own.get("mlflow.run_id") or None, "description": view.description or None,
                "tags": {k: v for k, v in own.items() if k not in FIELD_TAGS and not k.startswith("mlflow.internal")}}
    if event is None:
        return None
    (key, value), = detail["tags"].items()
    return {"name": name, "version": str(view.seq), "key": key} | ({} if value is None else {"value": value})


def signature(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """``X-MLflow-Signature``: ``v1,`` + base64 HMAC-SHA256 of ``<delivery id>.<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def request(event: str, data: dict[str, Any], secret: str | None, delivery_id: str,
            now: datetime) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery, as MLflow's server writes them."""
    entity, _, action = event.partition(".")
    body = json.dumps({"entity": entity, "action": action, "timestamp": now.isoformat(), "data": data})
    timestamp = str(int(now.timestamp()))
    headers = {"Content-Type": "application/json", "X-MLflow-Delivery-Id": delivery_id, "X-MLflow-Timestamp": timestamp}
    if secret:
        headers["X-MLflow-Signature"] = signature(secret, delivery_id, timestamp, body)
    return body.encode(), headers
