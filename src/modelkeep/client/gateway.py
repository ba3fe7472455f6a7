"""A gateway (``mk serve``) pointed at a server instead of a database: its deployment's spec,
its reports and decisions, and its callers' tokens, all through the server's API
(``api/deploy_routes.py``). The gateway acts as the user of its own token (a ``deployer``); the
server checks that user's permissions and audits what it decides."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from blake3 import blake3

from modelkeep.client.http import Transport
from modelkeep.services.deploy.spec import DeploymentSpec, parse_spec
from modelkeep.services.models.views import VersionView

CACHE_S = 2.0  # how long an allowed token is believed without asking again (the server's own cache)


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


class RemoteTokens:
    """A caller's token is checked by the server (``GET /api/v1/authorize`` with that token: the
    server audits a refusal); an allowed answer is believed for ``CACHE_S`` seconds, keyed by the
    token's hash, so a busy gateway asks about once per caller per two seconds."""

    def __init__(self, transport: Transport, clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.clock = clock
        self._allowed: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def authorize(self, token: str | None, permission: str, deployment: str) -> str:
        from modelkeep.errors import Unauthenticated

        if not token:
            raise Unauthenticated("missing token: send 'Authorization: Bearer <token>'")
        key = (blake3(token.encode()).hexdigest(), permission, deployment)
        now = self.clock()
        with self._lock:
            cached = self._allowed.get(key)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        answer = self.transport.call("GET", "/api/v1/authorize", params={"permission": permission, "model": deployment},
                                     headers={"Authorization": f"Bearer {token}"})
        with self._lock:
            if len(self._allowed) > 10_000:
                self._allowed.clear()
            self._allowed[key] = (now, str(answer["name"]))
        return str(answer["name"])


class RemoteGateway:
    def __init__(self, transport: Transport) -> None:
        self.control = RemoteDeploymentControl(transport)
        self.tokens = RemoteTokens(transport)
        self.dispatch: Callable[[], object] | None = None  # the server delivers webhook events itself
