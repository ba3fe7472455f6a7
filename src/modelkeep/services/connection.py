"""The local transport: a :class:`~modelkeep.services.interface.Connection` onto a repository
opened in this process (database + store), acting as the repository's configured user."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modelkeep.errors import PermissionDenied, Unauthenticated
from modelkeep.services.governance.access import Access
from modelkeep.services.workspace import Workspace

if TYPE_CHECKING:
    from modelkeep.services.deploy.deployments import Deployments
    from modelkeep.services.evaluation.records import Evaluations
    from modelkeep.services.governance.promotion import Promotions
    from modelkeep.services.models.branches import Branches
    from modelkeep.services.runs.runs import Runs


class LocalLineage:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def lineage(
        self, ref: str, *, downstream: bool = False, depth: int | None = None, parents: bool = False
    ) -> dict[str, Any]:
        from modelkeep.services.runs.lineage import resolve_node, walk

        ws = self.workspace
        ws.access.check("model.read")
        graph = walk(ws.db, resolve_node(ws.db, ws.registry, ws.datasets, ref), downstream=downstream, max_depth=depth,
                     parents=parents)
        graph["namespace"] = ws.config.lineage_namespace
        return graph


class LocalRetention:
    """Retention of a local repository: the policies' service, and the plan over its store."""

    def __init__(self, workspace: Workspace) -> None:
        from modelkeep.services.retention.policies import Retention

        self.workspace = workspace
        self._retention = Retention(workspace.db, workspace.access)
        self.set_policy, self.unset_policy = self._retention.set_policy, self._retention.unset_policy
        self.policies, self.hold = self._retention.policies, self._retention.hold
        self.release, self.holds = self._retention.release, self._retention.holds

    def plan(self) -> dict[str, Any]:
        from modelkeep.services.clock import utcnow
        from modelkeep.services.retention.plan import plan

        ws = self.workspace
        return plan(ws.db, ws.repo, ws.access, utcnow()).to_dict()

    def collect(self, grace_s: float, progress: Any = None) -> dict[str, Any]:
        from modelkeep.services.clock import utcnow
        from modelkeep.services.retention.gc import collect

        ws = self.workspace
        return collect(ws.db, ws.repo, ws.access, utcnow(), grace_s, progress)

    def undelete(self, target: str) -> str:
        from modelkeep.services.retention.gc import restore
        from modelkeep.services.retention.policies import check_target

        return restore(self.workspace.db, self.workspace.access, check_target(target))


class LocalAdmin:
    """Users, tokens, roles, protection and webhooks of a local repository (one object for the CLI)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def create_user(self, name: str, *, role: str | None = None) -> dict[str, Any]:
        return self.workspace.access.create_user(name, role=role)

    def create_token(self, user_name: str, *, name: str = "default", expires_days: float | None = None) -> dict[str, Any]:
        return self.workspace.access.create_token(user_name, name=name, expires_days=expires_days)

    def revoke_token(self, token_id: int) -> None:
        self.workspace.access.revoke_token(token_id)

    def bind(self, user_name: str, role: str, scope_kind: str = "global", scope: str = "") -> None:
        self.workspace.access.bind(user_name, role, scope_kind, scope)

    def define_role(self, name: str, permissions: list[str]) -> None:
        self.workspace.access.define_role(name, permissions)

    def protect(self, model: str, alias: str, *, required_approvals: int = 1, gates: dict[str, Any] | None = None) -> None:
        self.workspace.promotions.protect(model, alias, required_approvals=required_approvals, gates=gates)

    def add_webhook(self, url: str, events: list[str], *, format: str = "json", subject: str | None = None,
                    bumps: list[str] | None = None) -> dict[str, Any]:
        return self.workspace.webhooks.add(url, events, format=format, subject=subject, bumps=bumps)

    def webhooks(self) -> list[dict[str, Any]]:
        return [hook.to_dict() for hook in self.workspace.webhooks.hooks()]

    def remove_webhook(self, webhook_id: int) -> None:
        self.workspace.webhooks.remove(webhook_id)

    def test_webhook(self, webhook_id: int, event: str | None = None) -> dict[str, Any]:
        return dataclasses.asdict(self.workspace.webhooks.test(webhook_id, event))

    def deliveries(self, webhook_id: int | None = None) -> list[dict[str, Any]]:
        self.workspace.access.check("admin")
        return self.workspace.webhooks.deliveries(webhook_id)

    def replay(self, delivery_id: int) -> None:
        self.workspace.access.check("admin")
        self.workspace.webhooks.replay(delivery_id)

    def verify(self, sample: float | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        from modelkeep.services.data.integrity import verify

        self.workspace.access.check("admin")
        return verify(self.workspace.db, self.workspace.repo, sample=sample, progress=progress)

    def sync(self, direction: Literal["push", "pull"], remote: str | None = None,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        from modelkeep.services.data import sync
        from modelkeep.services.data.roots import registry_roots

        ws = self.workspace
        ws.access.check("admin")
        move = sync.push if direction == "push" else sync.pull
        return move(ws.config, registry_roots(ws.db), ws.repo, remote, progress)

    def dispatch(self) -> dict[str, int]:
        self.workspace.access.check("admin")
        return dict(self.workspace.webhooks.dispatch())


class LocalAudit:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def log(self, *, model: str | None = None, user: str | None = None, action: str | None = None,
            since: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        from modelkeep.meta.search_language import parse_datetime
        from modelkeep.services.governance.audit import query

        self.workspace.access.check("audit.read")
        return query(self.workspace.db, model=model, actor=user, action=action,
                     since=parse_datetime(since) if since else None, limit=limit)

    def verify(self, checkpoints: list[dict[str, Any]] | None = None, public_key: str | None = None) -> dict[str, Any]:
        from modelkeep.services.governance.audit import verify_chain
        from modelkeep.services.governance.audit_checkpoint import verify_against
        from modelkeep.services.governance.audit_keys import load_public_key, parse_public_key, public_key_path

        ws = self.workspace
        ws.access.check("audit.read")
        if checkpoints is None:
            return verify_chain(ws.db)
        key = parse_public_key(public_key.encode()) if public_key else load_public_key(public_key_path(ws.config))
        return verify_against(ws.db, checkpoints, key)

    def checkpoint(self) -> dict[str, Any]:
        from modelkeep.services.governance.audit_checkpoint import make_checkpoint
        from modelkeep.services.governance.audit_keys import signing_key

        self.workspace.access.check("admin")
        return make_checkpoint(self.workspace.db, signing_key(self.workspace.config))


class LocalDeployments:
    """The local repository's deployments, with the same calls as ``client.governance.RemoteDeployments``
    (bodies validated by the same request models the API uses)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @property
    def service(self) -> Any:
        return self.workspace.deployments

    def deployment_create(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        from modelkeep.services.deploy import requests

        return requests.create(self.service, name, requests.parse(requests.CreateRequest, body, "deployment request"))

    def deployment_update(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        from modelkeep.services.deploy import requests

        return requests.update(self.service, name, requests.parse(requests.UpdateRequest, body, "deployment update"))

    def deployment_rollback(self, name: str, body: dict[str, Any], progress: Any = None) -> dict[str, Any]:
        from modelkeep.services.deploy import requests

        return requests.rollback(self.service, name, requests.parse(requests.RollbackRequest, body, "rollback request"),
                                 self.workspace.config.cache_dir / "models", progress)

    def deployment_status(self, name: str) -> dict[str, Any]:
        return dict(self.service.status(name))

    def deployment_history(self, name: str) -> list[dict[str, Any]]:
        return list(self.service.history(name))

    def deployment_list(self) -> list[dict[str, Any]]:
        return list(self.service.list())

    def deployment_switch(self, name: str) -> dict[str, Any]:
        return dict(self.service.switch(name))


class LocalTokens:
    """Callers' tokens checked against the repository's own users and roles."""

    def __init__(self, access: Access) -> None:
        self.access = access

    def authorize(self, token: str | None, permission: str, deployment: str) -> str:
        if self.access.personal():
            return self.access.actor
        if not token:
            raise Unauthenticated("missing token: send 'Authorization: Bearer <token>'")
        principal = self.access.authenticate(token)
        if not self.access.allowed(principal.name, permission, model=deployment):
            raise PermissionDenied(f"{principal.name} may not {permission} on deployment {deployment}")
        return principal.name


class LocalGateway:
    def __init__(self, workspace: Workspace) -> None:
        self.control: Deployments = workspace.deployments
        self.tokens = LocalTokens(workspace.access)
        self.dispatch: Callable[[], object] | None = workspace.as_user("modelkeep-gateway").webhooks.dispatch


class LocalConnection:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.where = workspace.config.where
        self.user = workspace.config.user
        self.registry = workspace.registry
        self.datasets = workspace.datasets
        self.store = workspace.store
        self.model_cache: Path = workspace.config.cache_dir / "models"

    # Each service is made (and its module imported) on first use: `mk model list` needs none of them.
    @cached_property
    def runs(self) -> Runs:
        return self.workspace.runs

    @cached_property
    def lineage(self) -> LocalLineage:
        return LocalLineage(self.workspace)

    @cached_property
    def retention(self) -> LocalRetention:
        return LocalRetention(self.workspace)

    @cached_property
    def evaluations(self) -> Evaluations:
        from modelkeep.services.evaluation.records import Evaluations

        ws = self.workspace
        return Evaluations(ws.db, ws.registry, ws.access, ws.registry.source)

    @cached_property
    def branches(self) -> Branches:
        from modelkeep.services.models.branches import Branches

        ws = self.workspace
        return Branches(ws.db, ws.registry, ws.access, ws.registry.source)

    @cached_property
    def governance(self) -> Promotions:
        return self.workspace.promotions

    @cached_property
    def admin(self) -> LocalAdmin:
        return LocalAdmin(self.workspace)

    @cached_property
    def deployments(self) -> LocalDeployments:
        return LocalDeployments(self.workspace)

    @cached_property
    def audit(self) -> LocalAudit:
        return LocalAudit(self.workspace)

    @property
    def child_env(self) -> dict[str, str]:
        return {"MODELKEEP_HOME": str(self.workspace.config.root)}

    def gateway(self) -> LocalGateway:
        return LocalGateway(self.workspace)

    def close(self) -> None:
        self.workspace.close()
