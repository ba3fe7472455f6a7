"""The remote side of retention: policies, holds and the gc plan (``api/retention_routes.py``)."""

from __future__ import annotations

from typing import Any

from modelkeep.client.http import Transport


class RemoteRetention:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def set_policy(self, kind: str, scope: str, rules: dict[str, Any]) -> dict[str, Any]:
        return dict(self.transport.call("PUT", f"/api/v1/retention/{kind}/{scope}", json=rules))

    def unset_policy(self, kind: str, scope: str) -> None:
        self.transport.call("DELETE", f"/api/v1/retention/{kind}/{scope}")

    def policies(self) -> list[dict[str, Any]]:
        return list(self.transport.call("GET", "/api/v1/retention"))

    def hold(self, target: str, reason: str) -> dict[str, Any]:
        return dict(self.transport.call("POST", "/api/v1/holds", json={"target": target, "reason": reason}))

    def release(self, target: str) -> None:
        self.transport.call("POST", "/api/v1/holds/release", json={"target": target})

    def holds(self) -> list[dict[str, Any]]:
        return list(self.transport.call("GET", "/api/v1/holds"))

    def plan(self) -> dict[str, Any]:
        return dict(self.transport.call("GET", "/api/v1/gc/plan"))

    def collect(self, grace_s: float, progress: Any = None) -> dict[str, Any]:  # the server sweeps: no progress here
        return dict(self.transport.call("POST", "/api/v1/gc", json={"grace_s": grace_s}))

    def undelete(self, target: str) -> str:
        return str(self.transport.call("POST", "/api/v1/gc/undelete", json={"target": target})["restored"])
