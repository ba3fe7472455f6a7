"""The service interface: what every caller (SDK, CLI, gateway) may ask of modelkeep.

Two transports implement it: the local one (database + store in this process, ``services/``)
and the remote one (HTTP to ``mk server``, ``client/``). Which one a process uses is chosen once,
from configuration (``MODELKEEP_URL``), by :func:`modelkeep.client.connect.connect`; callers hold
a :class:`Connection` and never ask "local or server?" again.

Requests that cross the interface are typed (pydantic models here, dataclasses in ``views``);
the API's OpenAPI schemas are generated from the same models, so the wire format and the Python
signature cannot drift apart. Bytes never travel through these calls: artifacts, run artifacts
and model files go into the content-addressed store (``Connection.store``) first, chunk by
chunk, only the chunks the other side lacks; a call then names them by digest.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from modelkeep.services.data.views import DatasetVersionView
    from modelkeep.services.deploy.spec import DeploymentSpec
    from modelkeep.services.deploy.windows import WindowSummary
    from modelkeep.services.evaluation.records import EvaluationRecord, EvaluationView, NoteRequest, NoteView
    from modelkeep.services.models.branches import BranchView, MergeRequest
    from modelkeep.services.models.views import ModelSummary, RunView, SearchPage, VersionView
    from modelkeep.services.runs.run_handle import ActiveRun
    from modelkeep.store.artifacts import ArtifactStore
    from modelkeep.store.dataset_checkout import CheckoutResult
    from modelkeep.store.format import TreeEntry
    from modelkeep.store.repository import Repository

Digest = Field(pattern=r"^[0-9a-f]{64}$", description="BLAKE3 digest of a stored object")


class ArtifactRef(BaseModel):
    """An artifact already in the store: a file (chunked or whole) or a folder (tree)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["file", "tree"]
    digest: str = Digest


class RegisterRequest(BaseModel):
    """Everything a new model version records but its artifact bytes (those are in the store)."""

    model_config = ConfigDict(extra="forbid")
    params: dict[str, Any] = Field(default_factory=dict, description="hyperparameters")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="metric values; a key may carry a slice: auc[test], auc[fraud-eval@3:test]"
    )
    tags: dict[str, Any] = Field(default_factory=dict)
    data: list[str] = Field(default_factory=list, description="training dataset versions, NAME@N")
    parent: str | None = Field(default=None, description="parent version (default: latest)")
    bump: str = Field(default="auto", description="auto, major, minor, patch, data or experiment")
    version: str | None = Field(default=None, description="exact version to use")
    experiment: bool = False
    signature: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    code: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    description: str = ""
    components: list[str] = Field(default_factory=list, description="component versions of a composite")
    composite_config: dict[str, Any] | None = None
    artifact: ArtifactRef | None = None

    def keywords(self) -> dict[str, Any]:
        """The request as the keyword arguments of :meth:`RegistryService.register`."""
        out = {k: getattr(self, k) for k in type(self).model_fields}
        out["artifact"] = self.artifact.model_dump() if self.artifact else None
        return out


class RunCreate(BaseModel):
    """A run as its process starts: environment and git state are captured by the caller."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200)
    project: str = "default"
    command: list[str] | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    code: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime | None = None  # naive UTC; now if not given (MLflow's client may say when it started)


class RegistryService(Protocol):
    """Model versions: register, find, compare, alias, delete (``services.models.registry.Registry``,
    ``client.registry.RemoteRegistry``)."""

    def register(
        self,
        name: str,
        path: str | Path | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        data: list[str] | None = None,
        parent: str | None = None,
        bump: str = "auto",
        version: str | None = None,
        experiment: bool = False,
        signature: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        code: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
        description: str = "",
        components: list[str] | None = None,
        composite_config: dict[str, Any] | None = None,
        artifact: dict[str, Any] | None = None,
    ) -> VersionView: ...

    def get(self, ref: str) -> VersionView: ...

    def list_models(self) -> list[ModelSummary]: ...

    def list_versions(self, name: str) -> list[VersionView]: ...

    def search(
        self, filter_text: str | None = None, *, order_by: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> SearchPage: ...

    def diff(self, a: str, b: str) -> dict[str, Any]: ...

    def set_alias(self, ref: str, alias: str) -> VersionView: ...

    def delete_alias(self, name: str, alias: str) -> None: ...

    def delete_version(self, ref: str) -> VersionView: ...

    def delete_model(self, name: str) -> int: ...

    def rename_model(self, name: str, new_name: str) -> list[str]: ...


class RunsService(Protocol):
    """Runs and what they log (``services.runs.runs.Runs``, ``client.runs.RemoteRuns``). The handle a
    training script holds, :class:`~modelkeep.services.runs.run_handle.ActiveRun`, is built on these."""

    def start(self, name: str | None = None, project: str = "default", command: builtins.list[str] | None = None) -> ActiveRun:
        """Capture the environment here and create the run (or join the one ``mk run`` started)."""
        ...

    def create(self, request: RunCreate) -> int: ...

    def attach(self, run_id: int, project: str) -> None: ...

    def get(self, run_id: int, *, outputs: bool = True, history: bool = True) -> RunView:
        """``outputs=False``: without what the run made (its models and artifacts), in fewer queries;
        ``history=False``: each metric series' latest point only, however many steps it has."""
        ...

    def list(self, project: str | None = None, limit: int = 50) -> list[dict[str, Any]]: ...

    def delete(self, run_id: int) -> None: ...

    def end(self, run_id: int, status: str, exit_code: int | None = None) -> None: ...

    def log_params(self, run_id: int, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, run_id: int, metrics: Mapping[str, float], step: int) -> None: ...

    def log_history(self, run_id: int, points: builtins.list[tuple[str, float, int, datetime]]) -> None:
        """Points measured elsewhere (an import), each ``(key, value, step, when)`` (naive UTC): every
        one is kept, several at one step by their moments, as MLflow keeps them."""
        ...

    def set_tags(self, run_id: int, tags: Mapping[str, Any]) -> None: ...

    def use_dataset(self, run_id: int, ref: str) -> str: ...

    def set_seeds(self, run_id: int, seeds: dict[str, Any]) -> None: ...

    def add_warning(self, run_id: int, message: str) -> None: ...

    def log_artifact(self, run_id: int, name: str, artifact: ArtifactRef) -> dict[str, Any]: ...

    def link_output(self, run_id: int, version_id: int) -> None: ...

    def link_dataset(self, run_id: int, ref: str, inputs: builtins.list[str]) -> None: ...


class DatasetsService(Protocol):
    """Dataset versions (``services.data.datasets.Datasets``, ``client.datasets.RemoteDatasets``): rows
    through the service, bytes through the store, staged and read with the same code on both."""

    @property
    def repo(self) -> Repository:
        """The store the version's files are read from (the server's, when remote)."""
        ...

    def get(self, ref: str) -> DatasetVersionView: ...

    def canonical_ref(self, ref: str) -> str: ...

    def log(self, name: str) -> builtins.list[DatasetVersionView]: ...

    def list(self) -> builtins.list[dict[str, Any]]: ...

    def add(
        self,
        path: Path,
        name: str,
        *,
        message: str = "",
        partition_by: str | None = None,
        partition: str | None = None,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> DatasetVersionView: ...

    def files(self, ref: str) -> dict[str, TreeEntry]: ...

    def files_of(self, view: DatasetVersionView) -> dict[str, TreeEntry]: ...

    def cat(self, ref: str, file: str | None = None) -> Iterator[bytes | memoryview]: ...

    def read_range(self, ref: str, file: str, start: int, end: int) -> bytes: ...

    def entry_range(self, entry: TreeEntry, start: int, end: int) -> bytes: ...

    def checkout(
        self,
        ref: str,
        dest: Path,
        progress: Callable[[int], None] | None = None,
        *,
        prune: bool = False,
        force: builtins.list[str] | None = None,
    ) -> tuple[DatasetVersionView, CheckoutResult]: ...

    def cached_checkout(self, ref: str) -> Path: ...

    def status(self, name: str, path: Path | None = None) -> dict[str, Any]: ...


class LineageService(Protocol):
    def lineage(
        self, ref: str, *, downstream: bool = False, depth: int | None = None, parents: bool = False
    ) -> dict[str, Any]: ...


class AdminService(Protocol):
    """Users, tokens, roles, alias protection and webhooks (the services check ``admin`` themselves)."""

    def create_user(self, name: str, *, role: str | None = None) -> dict[str, Any]: ...

    def create_token(self, user_name: str, *, name: str = "default", expires_days: float | None = None) -> dict[str, Any]: ...

    def revoke_token(self, token_id: int) -> None: ...

    def bind(self, user_name: str, role: str, scope_kind: str = "global", scope: str = "") -> None: ...

    def define_role(self, name: str, permissions: builtins.list[str]) -> None: ...

    def protect(self, model: str, alias: str, *, required_approvals: int = 1, gates: dict[str, Any] | None = None) -> None: ...

    def add_webhook(self, url: str, events: builtins.list[str], *, format: str = "json",
                    subject: str | None = None, bumps: builtins.list[str] | None = None) -> dict[str, Any]:
        """A subscriber (admin), or with ``subject`` (model:NAME, dataset:NAME) a watch of one model or
        dataset; ``bumps``: of new versions, only those of these bumps (e.g. minor, major)."""
        ...

    def webhooks(self) -> builtins.list[dict[str, Any]]:
        """Every webhook (admin), MLflow's included; never a secret."""
        ...

    def remove_webhook(self, webhook_id: int) -> None:
        """Delete a webhook and its delivery log (admin)."""
        ...

    def test_webhook(self, webhook_id: int, event: str | None = None) -> dict[str, Any]:
        """Send one example delivery now, as the webhook would get it (admin): ``success``, ``status``,
        ``body`` (what the receiver answered) or ``error``."""
        ...

    def deliveries(self, webhook_id: int | None = None) -> builtins.list[dict[str, Any]]: ...

    def replay(self, delivery_id: int) -> None: ...

    def verify(self, sample: float | None = None, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Read and hash the store's reachable objects (``sample``: a percentage); names the versions
        any damage affects. ``progress`` hears bytes where the reading happens in this process."""
        ...

    def sync(self, direction: Literal["push", "pull"], remote: str | None = None,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Push the store's referenced objects to a configured remote, or pull them from it."""
        ...

    def dispatch(self) -> dict[str, int]:
        """Deliver pending webhook events now (a server also does it every second by itself)."""
        ...


class RetentionService(Protocol):
    """Retention policies, legal holds and the plan of a garbage collection (admin to change;
    ``services.retention``, ``client.retention.RemoteRetention``)."""

    def set_policy(self, kind: str, scope: str, rules: dict[str, Any]) -> dict[str, Any]: ...

    def unset_policy(self, kind: str, scope: str) -> None: ...

    def policies(self) -> builtins.list[dict[str, Any]]: ...

    def hold(self, target: str, reason: str) -> dict[str, Any]: ...

    def release(self, target: str) -> None: ...

    def holds(self) -> builtins.list[dict[str, Any]]: ...

    def plan(self) -> dict[str, Any]:
        """Every version kept or dropped with what decided it, and the bytes each pack would free."""
        ...

    def collect(self, grace_s: float, progress: Any = None) -> dict[str, Any]:
        """Mark what the plan drops, purge tombstones past the grace period, sweep the store
        (``progress``: ``set_total``/``advance`` in bytes of the packs swept, where the sweep runs)."""
        ...

    def undelete(self, target: str) -> str:
        """Bring a tombstoned version back (until the sweep purges its tombstone)."""
        ...


class EvaluationsService(Protocol):
    """What versions scored on pinned dataset versions, and notes and decisions on versions
    (``services.evaluation.records.Evaluations``, ``client.evaluations.RemoteEvaluations``). The
    scoring itself runs on the caller's side (``services.evaluation.scoring``)."""

    def record(self, req: EvaluationRecord) -> EvaluationView: ...

    def find(self, ref: str, dataset_digest: str, split: str | None, slice_by: str | None,
             target: str) -> EvaluationView | None: ...

    def list(self, ref: str) -> builtins.list[EvaluationView]: ...

    def note(self, req: NoteRequest) -> NoteView: ...

    def notes(self, ref: str) -> builtins.list[NoteView]: ...


class BranchesService(Protocol):
    """Branch lines of a model and merges decided by evaluation (``services.models.branches.Branches``,
    ``client.evaluations.RemoteBranches``); the evaluation itself runs on the caller's side."""

    def create(self, line: str, base: str | None = None) -> BranchView: ...

    def list(self, model: str) -> builtins.list[BranchView]: ...

    def delete(self, line: str) -> None: ...

    def protect(self, model: str, on: bool = True) -> BranchView: ...

    def base_of(self, line: str) -> str | None:
        """The version of main the branch forked from (``MODEL@VERSION``)."""
        ...

    def merge(self, req: MergeRequest) -> dict[str, Any]:
        """Record an evaluated merge (checked against the heads and recorded evaluations): the new version."""
        ...


class GovernanceService(Protocol):
    """Promotion requests, reviews and rollbacks (``services.governance.promotion.Promotions``,
    ``client.governance.RemoteGovernance``): gates, four eyes and the audit entry on either side."""

    def request(self, ref: str, alias: str, justification: str, ticket: str = "") -> dict[str, Any]: ...

    def get(self, request_id: int) -> dict[str, Any]: ...

    def review(self, request_id: int, decision: str, comment: str = "") -> dict[str, Any]: ...

    def withdraw(self, request_id: int) -> dict[str, Any]: ...

    def rollback(self, name: str, alias: str) -> dict[str, Any]: ...

    def holder_at(self, name: str, alias: str, when: datetime) -> str | None:
        """The version ``alias`` pointed at, at ``when`` (naive UTC), or None."""
        ...


class AuditService(Protocol):
    """The tamper-evident audit log (``services.connection.LocalAudit``, ``client.governance.RemoteAudit``)."""

    def log(self, *, model: str | None = None, user: str | None = None, action: str | None = None,
            since: str | None = None, limit: int = 200) -> builtins.list[dict[str, Any]]:
        """Entries, newest first; ``since`` an ISO date or date-time (UTC)."""
        ...

    def verify(self, checkpoints: builtins.list[dict[str, Any]] | None = None,
               public_key: str | None = None) -> dict[str, Any]:
        """The keyed hash chain recomputed, and each signed checkpoint checked against
        ``public_key`` (PEM; default the registry's own): detects truncation and a recomputed chain."""
        ...

    def checkpoint(self) -> dict[str, Any]:
        """Sign the chain's head now (admin); keep what comes back outside the database."""
        ...


class DeploymentsService(Protocol):
    """Deployments (``services.connection.LocalDeployments``, ``client.governance.RemoteDeployments``);
    bodies are the JSON of ``services.deploy.requests``' models, validated by them on either side."""

    def deployment_create(self, name: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def deployment_update(self, name: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def deployment_rollback(self, name: str, body: dict[str, Any], progress: Any = None) -> dict[str, Any]:
        """``progress`` (``advance(n)``, ``set_total(n)``) hears about models loaded for validation, where
        they load here."""
        ...

    def deployment_status(self, name: str) -> dict[str, Any]: ...

    def deployment_history(self, name: str) -> builtins.list[dict[str, Any]]: ...

    def deployment_list(self) -> builtins.list[dict[str, Any]]: ...

    def deployment_switch(self, name: str) -> dict[str, Any]: ...


class DeploymentControl(Protocol):
    """What a gateway asks of the deployment it serves: the spec (polled by revision), and a place
    for what it measured and decided. Every change is a compare-and-set on the revision, so replicas
    (and people) changing one deployment at once never lose an update: the loser gets ``Conflict``."""

    def spec(self, name: str) -> tuple[int, DeploymentSpec, str]:
        """(revision, spec, status)."""
        ...

    def revision(self, name: str) -> int: ...

    def pinned_version(self, name: str, ref: str) -> VersionView:
        """A version the deployment pins (``NAME@VERSION``): readable by whoever may read the
        deployment, since the person who pinned it could read it (a deployer's gateway serves a
        canary that is not approved yet)."""
        ...

    def report(self, name: str, gateway: str, revision: int, report: dict[str, Any]) -> None: ...

    def alert(self, name: str, evidence: dict[str, Any]) -> None: ...

    def advance(self, name: str, *, expected_revision: int, evidence: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def rollback(self, name: str, *, reason: str, evidence: dict[str, Any] | None = None,
                 expected_revision: int | None = None) -> dict[str, Any]: ...

    def record_validation(self, name: str, revision: int, result: dict[str, Any]) -> None: ...

    def share_window(self, name: str, revision: int, window_no: int, gateway: str,
                     summaries: dict[str, WindowSummary]) -> None:
        """One replica's closed window, for every replica to judge all traffic (``Policy.pooled``)."""
        ...

    def pooled_window(self, name: str, revision: int, window_no: int) -> dict[str, dict[str, WindowSummary]]:
        """``gateway -> arm -> WindowSummary`` of every replica that shared that window."""
        ...


class TokenCheck(Protocol):
    def authorize(self, token: str | None, permission: str, deployment: str) -> str:
        """The name of the token's user, if it may ``permission`` on ``deployment``; else
        ``Unauthenticated`` / ``PermissionDenied``. Without users (a personal repository) anyone may."""
        ...


class GatewaySupport(Protocol):
    """What ``mk serve`` needs beyond the registry and the store: its deployment, the check of its
    callers' tokens, and (locally) the delivery of the webhook events it raises; a server delivers
    them itself, so ``dispatch`` is None there."""

    @property
    def control(self) -> DeploymentControl: ...

    @property
    def tokens(self) -> TokenCheck: ...

    @property
    def dispatch(self) -> Callable[[], object] | None: ...


class Connection(Protocol):
    """One registry reached one way: everything a caller uses, chosen once."""

    @property
    def where(self) -> str:
        """"the repository at /path" or "the server at https://..." (for messages)."""
        ...

    @property
    def registry(self) -> RegistryService: ...

    @property
    def runs(self) -> RunsService: ...

    @property
    def lineage(self) -> LineageService: ...

    @property
    def datasets(self) -> DatasetsService: ...

    @property
    def retention(self) -> RetentionService: ...

    @property
    def evaluations(self) -> EvaluationsService: ...

    @property
    def branches(self) -> BranchesService: ...

    @property
    def admin(self) -> AdminService: ...

    @property
    def governance(self) -> GovernanceService: ...

    @property
    def deployments(self) -> DeploymentsService: ...

    @property
    def audit(self) -> AuditService: ...

    @property
    def store(self) -> ArtifactStore:
        """Artifact bytes, chunk by chunk, verified; through the server when remote."""
        ...

    @property
    def model_cache(self) -> Path:
        """Where loaded versions' files are kept, by digest."""
        ...

    @property
    def user(self) -> str: ...

    @property
    def child_env(self) -> dict[str, str]:
        """Environment variables a child process (``mk run``, ``mk reproduce --verify``) needs to
        reach this same registry from any working folder."""
        ...

    def gateway(self) -> GatewaySupport: ...

    def close(self) -> None: ...
