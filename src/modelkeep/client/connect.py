"""Choosing the transport, once: ``MODELKEEP_URL`` set (or a server ``mk login`` logged in to) →
the server (HTTP); else the local repository found from the working folder. Every caller (SDK, CLI, gateway) asks :func:`connect`
and then talks to the :class:`~modelkeep.services.interface.Connection` it returns.

The token comes from ``MODELKEEP_TOKEN``, else from what ``mk login`` stored for that URL.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelkeep.client.datasets import RemoteDatasets
    from modelkeep.client.evaluations import RemoteBranches, RemoteEvaluations
    from modelkeep.client.gateway import RemoteGateway
    from modelkeep.client.governance import RemoteAdmin, RemoteAudit, RemoteDeployments, RemoteGovernance
    from modelkeep.client.http import Transport
    from modelkeep.client.registry import RemoteRegistry
    from modelkeep.client.retention import RemoteRetention
    from modelkeep.client.runs import RemoteRuns
    from modelkeep.services.interface import Connection
    from modelkeep.store.artifacts import ArtifactStore


class RemoteLineage:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def lineage(
        self, ref: str, *, downstream: bool = False, depth: int | None = None, parents: bool = False
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"ref": ref, "downstream": downstream, "parents": parents}
        if depth is not None:
            params["depth"] = depth
        return dict(self.transport.call("GET", "/api/v1/lineage", params=params))


class RemoteConnection:
    """The service interface over HTTP. Each service's client is made (and its module imported) on
    first use: a command that lists models imports neither the data nor the run clients, nor
    anything of the database they share types with."""

    def __init__(self, url: str, token: str | None, *, transport: Transport | None = None) -> None:
        from modelkeep.client.http import Transport  # httpx: only a remote connection imports it

        self.transport = transport or Transport(url, token)
        self.url, self.token = url, token
        self.where = f"the server at {self.transport.url}"
        self.model_cache: Path = user_cache_dir() / "models"
        self._user: str | None = None

    @cached_property
    def registry(self) -> RemoteRegistry:
        from modelkeep.client.registry import RemoteRegistry

        return RemoteRegistry(self.url, self.token, transport=self.transport)

    @cached_property
    def lineage(self) -> RemoteLineage:
        return RemoteLineage(self.transport)

    @cached_property
    def governance(self) -> RemoteGovernance:
        from modelkeep.client.governance import RemoteGovernance

        return RemoteGovernance(self.transport)

    @cached_property
    def deployments(self) -> RemoteDeployments:
        from modelkeep.client.governance import RemoteDeployments

        return RemoteDeployments(self.transport)

    @cached_property
    def admin(self) -> RemoteAdmin:
        from modelkeep.client.governance import RemoteAdmin

        return RemoteAdmin(self.transport)

    @cached_property
    def audit(self) -> RemoteAudit:
        from modelkeep.client.governance import RemoteAudit

        return RemoteAudit(self.transport)

    @cached_property
    def retention(self) -> RemoteRetention:
        from modelkeep.client.retention import RemoteRetention

        return RemoteRetention(self.transport)

    @cached_property
    def evaluations(self) -> RemoteEvaluations:
        from modelkeep.client.evaluations import RemoteEvaluations

        return RemoteEvaluations(self.transport)

    @cached_property
    def branches(self) -> RemoteBranches:
        from modelkeep.client.evaluations import RemoteBranches

        return RemoteBranches(self.transport)

    @cached_property
    def datasets(self) -> RemoteDatasets:
        from modelkeep.client.datasets import RemoteDatasets

        return RemoteDatasets(self.transport, lambda: self.registry.store.repo, user_cache_dir())

    @cached_property
    def runs(self) -> RemoteRuns:
        from modelkeep.client.runs import RemoteRuns

        return RemoteRuns(self.transport, self.registry, lambda: self.registry.store, lambda: self.datasets)

    @property
    def store(self) -> ArtifactStore:
        return self.registry.store

    @property
    def user(self) -> str:
        if self._user is None:
            self._user = str(self.transport.call("GET", "/api/v1/whoami")["name"])
        return self._user

    @property
    def child_env(self) -> dict[str, str]:
        env = {"MODELKEEP_URL": self.transport.url}
        if self.transport.token:
            env["MODELKEEP_TOKEN"] = self.transport.token
        return env

    def gateway(self) -> RemoteGateway:
        from modelkeep.client.gateway import RemoteGateway

        return RemoteGateway(self.transport)

    def close(self) -> None:
        self.transport.close()


def user_cache_dir() -> Path:
    """Where a client keeps the files of versions it loaded (``MODELKEEP_CACHE`` overrides)."""
    override = os.environ.get("MODELKEEP_CACHE")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("modelkeep"))


def server_url() -> str | None:
    """``MODELKEEP_URL``, else the server ``mk login`` last logged in to (``mk logout`` forgets it)."""
    url = os.environ.get("MODELKEEP_URL")
    if url:
        return url
    from modelkeep.client.login import current_url

    return current_url()


def connect(home: Path | None = None) -> Connection:
    """The connection configuration names: the server in ``MODELKEEP_URL``, else the repository
    found from ``home`` (or the working folder)."""
    url = server_url()
    if url:
        from modelkeep.client.login import token_for

        return RemoteConnection(url, os.environ.get("MODELKEEP_TOKEN") or token_for(url))
    from modelkeep.services.connection import LocalConnection
    from modelkeep.services.workspace import open_workspace

    return LocalConnection(open_workspace(home))
