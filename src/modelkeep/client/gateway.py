"""A gateway (``mk serve``) pointed at a server instead of a database: its deployment's spec,
its reports and decisions, and its callers' tokens, all through the server's API
(``api/deploy_routes.py``). The gateway acts as the user of its own token (a ``deployer``); the
server checks that user's permissions and audits what it decides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelkeep.client.http import Transport
from modelkeep.services.deploy.spec import DeploymentSpec, parse_spec
from modelkeep.services.deploy.windows import WindowSummary
from modelkeep.services.models.views import VersionView


class RemoteDeploymentControl:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def _path(self, name: str, tail: str = "") -> str:
        return f"/api/v1/deployments/{name}{tail}"

    def spec(self, name: str) -> tuple[int, DeploymentSpec, str]:
        doc = self.transport.call("GET", self._path(name, "/spec"))
        return int(doc["revision"]), parse_spec(doc["spec"]), str(doc["status"])

    def revision(self, name: str) -> int:
        return int(self.transport.call("GET", self._path(name, "/revision"))["revision"])

    def pinned_version(self, name: str, ref: str) -> VersionView:
        return VersionView.from_dict(self.transport.call("GET", self._path(name, "/pinned"), params={"ref": ref}))

    def report(self, name: str, gateway: str, revision: int, report: dict[str, Any]) -> None:
        body = {"gateway": gateway, "revision": revision, "report": report}
        self.transport.call("PUT", self._path(name, "/gateway/report"), json=body)

    def alert(self, name: str, evidence: dict[str, Any]) -> None:
        self.transport.call("POST", self._path(name, "/gateway/alerts"), json={"evidence": evidence})

    def advance(self, name: str, *, expected_revision: int, evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"expected_revision": expected_revision, "evidence": evidence}
        return dict(self.transport.call("POST", self._path(name, "/gateway/advance"), json=body))

    def rollback(self, name: str, *, reason: str, evidence: dict[str, Any] | None = None,
                 expected_revision: int | None = None) -> dict[str, Any]:
        body = {"reason": reason, "evidence": evidence, "expected_revision": expected_revision}
        return dict(self.transport.call("POST", self._path(name, "/gateway/rollback"), json=body))

    def record_validation(self, name: str, revision: int, result: dict[str, Any]) -> None:
        self.transport.call("PUT", self._path(name, f"/revisions/{int(revision)}/validation"), json={"result": result})

    def share_window(self, name: str, revision: int, window_no: int, gateway: str,
                     summaries: dict[str, WindowSummary]) -> None:
        body = {"gateway": gateway, "revision": revision, "window_no": window_no,
                "summaries": {arm: w.shared() for arm, w in summaries.items()}}
        self.transport.call("PUT", self._path(name, "/gateway/windows"), json=body)

    def pooled_window(self, name: str, revision: int, window_no: int) -> dict[str, dict[str, WindowSummary]]:
        doc = self.transport.call("GET", self._path(name, "/gateway/windows"),
                                  params={"revision": revision, "window_no": window_no})
        return {gateway: {arm: WindowSummary.from_shared(w) for arm, w in arms.items()}
                for gateway, arms in doc["gateways"].items()}


class RemoteTokens:
    """A caller's token is checked by the server (``GET /api/v1/authorize`` with that token: the
    server audits a refusal). The gateway believes an allowed answer for a while (gateway/app.py)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def authorize(self, token: str | None, permission: str, deployment: str) -> str:
        from modelkeep.errors import Unauthenticated

        if not token:
            raise Unauthenticated("missing token: send 'Authorization: Bearer <token>'")
        answer = self.transport.call("GET", "/api/v1/authorize", params={"permission": permission, "model": deployment},
                                     headers={"Authorization": f"Bearer {token}"})
        return str(answer["name"])


class RemoteGateway:
    def __init__(self, transport: Transport) -> None:
        self.control = RemoteDeploymentControl(transport)
        self.tokens = RemoteTokens(transport)
        self.dispatch: Callable[[], object] | None = None  # the server delivers webhook events itself
