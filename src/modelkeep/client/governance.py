"""Promotions, audit and deployments over HTTP: the same calls as the local services."""

from __future__ import annotations

from typing import Any

from modelkeep.client.http import Transport


class RemoteGovernance:
    """The remote side of ``services.promotion.Promotions`` and the audit log."""

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

    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v is not None}
        return list(self.transport.call("GET", "/api/v1/audit", params=params))

    def audit_verify(self, checkpoints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        if checkpoints is not None:
            return dict(self.transport.call("POST", "/api/v1/audit/verify", json={"checkpoints": checkpoints}))
        return dict(self.transport.call("GET", "/api/v1/audit/verify"))

    def audit_checkpoint(self) -> dict[str, Any]:
        return dict(self.transport.call("POST", "/api/v1/audit/checkpoints"))


class RemoteDeployments:
    """The remote side of the CLI's deployment calls (``cli/deploy.py``'s local adapter)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def deployment_create(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.transport.call("POST", f"/api/v1/deployments/{name}", json=body))

    def deployment_update(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.transport.call("PATCH", f"/api/v1/deployments/{name}", json=body))

    def deployment_rollback(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.transport.call("POST", f"/api/v1/deployments/{name}/rollback", json=body))

    def deployment_switch(self, name: str) -> dict[str, Any]:
        return dict(self.transport.call("POST", f"/api/v1/deployments/{name}/switch"))

    def deployment_status(self, name: str) -> dict[str, Any]:
        return dict(self.transport.call("GET", f"/api/v1/deployments/{name}"))

    def deployment_history(self, name: str) -> list[dict[str, Any]]:
        return list(self.transport.call("GET", f"/api/v1/deployments/{name}/history"))

    def deployment_list(self) -> list[dict[str, Any]]:
        return list(self.transport.call("GET", "/api/v1/deployments"))
