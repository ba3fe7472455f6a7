"""Promotions, audit and deployments over HTTP: the same calls as the local services."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from modelkeep.client.http import Transport
from modelkeep.errors import InvalidInput

LONG_S = 3600.0  # verify and sync read or move the whole store on the server: no 60 s read timeout


class RemoteGovernance:
    """The remote side of ``services.governance.promotion.Promotions`` and the audit log."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def request(self, ref: str, alias: str, justification: str, ticket: str = "") -> dict[str, Any]:
        body = {"ref": ref, "alias": alias, "justification": justification, "ticket": ticket}
        return dict(self.transport.call("POST", "/api/v1/promotions", json=body))

    def get(self, request_id: int) -> dict[str, Any]:
        return dict(self.transport.call("GET", f"/api/v1/promotions/{int(request_id)}"))

    def review(self, request_id: int, decision: str, comment: str = "") -> dict[str, Any]:
        body = {"decision": decision, "comment": comment}
        return dict(self.transport.call("POST", f"/api/v1/promotions/{int(request_id)}/reviews", json=body))

    def withdraw(self, request_id: int) -> dict[str, Any]:
        return dict(self.transport.call("POST", f"/api/v1/promotions/{int(request_id)}/withdraw"))

    def rollback(self, name: str, alias: str) -> dict[str, Any]:
        return dict(self.transport.call("POST", f"/api/v1/models/{name}/aliases/{alias}/rollback"))

    def holder_at(self, name: str, alias: str, when: datetime) -> str | None:
        doc = self.transport.call("GET", f"/api/v1/models/{name}/aliases/{alias}/holder",
                                  params={"at": when.isoformat() + "Z"})
        return None if doc["version"] is None else str(doc["version"])



class RemoteAudit:
    """The remote side of the audit log (``services.connection.LocalAudit``)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def log(self, *, model: str | None = None, user: str | None = None, action: str | None = None,
            since: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        filters = {"model": model, "user": user, "action": action, "since": since, "limit": limit}
        return list(self.transport.call("GET", "/api/v1/audit", params={k: v for k, v in filters.items() if v is not None}))

    def verify(self, checkpoints: list[dict[str, Any]] | None = None, public_key: str | None = None) -> dict[str, Any]:
        if checkpoints is not None:
            body = {"checkpoints": checkpoints, "public_key": public_key}
            return dict(self.transport.call("POST", "/api/v1/audit/verify", json=body))
        return dict(self.transport.call("GET", "/api/v1/audit/verify"))

    def checkpoint(self) -> dict[str, Any]:
        return dict(self.transport.call("POST", "/api/v1/audit/checkpoints"))


class RemoteDeployments:
    """The remote side of the CLI's deployment calls (``cli/deploy.py``'s local adapter)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def deployment_create(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.transport.call("POST", f"/api/v1/deployments/{name}", json=body))

    def deployment_update(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.transport.call("PATCH", f"/api/v1/deployments/{name}", json=body))

    def deployment_rollback(self, name: str, body: dict[str, Any], progress: Any = None) -> dict[str, Any]:
        """``progress`` is unused: the server loads and validates the models."""
        return dict(self.transport.call("POST", f"/api/v1/deployments/{name}/rollback", json=body))

    def deployment_switch(self, name: str) -> dict[str, Any]:
        return dict(self.transport.call("POST", f"/api/v1/deployments/{name}/switch"))

    def deployment_status(self, name: str) -> dict[str, Any]:
        return dict(self.transport.call("GET", f"/api/v1/deployments/{name}"))

    def deployment_history(self, name: str) -> list[dict[str, Any]]:
        return list(self.transport.call("GET", f"/api/v1/deployments/{name}/history"))

    def deployment_list(self) -> list[dict[str, Any]]:
        return list(self.transport.call("GET", "/api/v1/deployments"))


class RemoteAdmin:
    """The remote side of users, tokens, roles, protection and webhooks (``api/admin_routes.py``)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def create_user(self, name: str, *, role: str | None = None) -> dict[str, Any]:
        return dict(self.transport.call("POST", "/api/v1/users", json={"name": name, "role": role}))

    def create_token(self, user_name: str, *, name: str = "default", expires_days: float | None = None) -> dict[str, Any]:
        body = {"user": user_name, "name": name, "expires_days": expires_days}
        return dict(self.transport.call("POST", "/api/v1/tokens", json=body))

    def revoke_token(self, token_id: int) -> None:
        self.transport.call("DELETE", f"/api/v1/tokens/{int(token_id)}")

    def bind(self, user_name: str, role: str, scope_kind: str = "global", scope: str = "") -> None:
        body = {"user": user_name, "role": role, "scope_kind": scope_kind, "scope": scope}
        self.transport.call("POST", "/api/v1/roles/bindings", json=body)

    def define_role(self, name: str, permissions: list[str]) -> None:
        self.transport.call("PUT", f"/api/v1/roles/{name}", json={"permissions": permissions})

    def protect(self, model: str, alias: str, *, required_approvals: int = 1, gates: dict[str, Any] | None = None) -> None:
        body = {"model": model, "alias": alias, "required_approvals": required_approvals, "gates": gates}
        self.transport.call("PUT", "/api/v1/protections", json=body)

    def add_webhook(self, url: str, events: list[str], *, format: str = "json", subject: str | None = None,
                    bumps: list[str] | None = None) -> dict[str, Any]:
        body = {"url": url, "events": events, "format": format} | ({"subject": subject} if subject else {}) | (
            {"bumps": bumps} if bumps else {})
        return dict(self.transport.call("POST", "/api/v1/webhooks", json=body))

    def webhooks(self) -> list[dict[str, Any]]:
        return list(self.transport.call("GET", "/api/v1/webhooks"))

    def remove_webhook(self, webhook_id: int) -> None:
        self.transport.call("DELETE", f"/api/v1/webhooks/{int(webhook_id)}")

    def test_webhook(self, webhook_id: int, event: str | None = None) -> dict[str, Any]:
        body = {"event": event} if event else {}
        return dict(self.transport.call("POST", f"/api/v1/webhooks/{int(webhook_id)}/test", json=body))

    def deliveries(self, webhook_id: int | None = None) -> list[dict[str, Any]]:
        params = {"webhook": webhook_id} if webhook_id is not None else {}
        return list(self.transport.call("GET", "/api/v1/webhooks/deliveries", params=params))

    def verify(self, sample: float | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """The server reads its own store (``progress`` is unused: nothing moves to this process)."""
        return dict(self.transport.call("POST", "/api/v1/admin/verify", json={"sample": sample}, timeout=LONG_S))

    def sync(self, direction: Literal["push", "pull"], remote: str | None = None,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """The server pushes its store to (or pulls it from) a remote named in *its* configuration."""
        if remote is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,62}", remote):
            raise InvalidInput(f"through a server, {direction} takes the name of a remote in the server's "
                               f"configuration (e.g. origin), not {remote!r}: the server decides where it writes",
                               hint="an admin sets one on the server: mk config set remote.NAME URL")
        return dict(self.transport.call("POST", f"/api/v1/admin/{direction}", json={"remote": remote}, timeout=LONG_S))

    def dispatch(self) -> dict[str, int]:
        return dict(self.transport.call("POST", "/api/v1/webhooks/dispatch"))

    def replay(self, delivery_id: int) -> None:
        self.transport.call("POST", f"/api/v1/webhooks/deliveries/{int(delivery_id)}/replay")
