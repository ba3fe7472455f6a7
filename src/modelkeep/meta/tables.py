"""The registry's tables (SQLAlchemy 2.0, typed).

Rows only: nothing here knows about bytes or the object store. The schema is created and
changed only by the Alembic migrations in ``meta/migrations``; a test checks that they produce
exactly these tables.

Invariants the services rely on:

* ``(model_id, sort_key)`` is unique: a version number is allocated once per model.
* A composite's components are rows of ``composite_components`` with ``ON DELETE RESTRICT`` on
  the component, so a pinned version cannot be deleted, even by a raw DELETE.
* Lineage edges join typed node references (``model_version:42``, ``dataset:train@3``) so that
  later services (data, runs, deployments) add node kinds without a migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, NewType, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ModelId = NewType("ModelId", int)
VersionId = NewType("VersionId", int)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, typed as one (``Model.__table__`` is a ``FromClause`` to type checkers)."""
    return cast(Table, model.__table__)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Model(Base):
    """A named model; its versions carry everything else."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(128))
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)  # the last version number handed out


class ModelVersion(Base):
    """One immutable version of a model."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "sort_key"),
        Index("ix_model_versions_created_at", "created_at"),
        Index("ix_model_versions_sort_key", "sort_key"),
        Index("ix_model_versions_digest", "digest"),
        Index("ix_model_versions_model_id_seq", "model_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(64))
    sort_key: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1, 2, 3 ... per model (MLflow's version)
    status: Mapped[str] = mapped_column(String(16), default="ready")
    description: Mapped[str] = mapped_column(Text, default="")
    # Artifact: kind is "file", "tree" or "composite"; digest is the BLAKE3 content id.
    artifact_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    artifact_size: Mapped[int] = mapped_column(BigInteger, default=0)
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    code: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    composite_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), nullable=True
    )
    bump: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class VersionParam(Base):
    """A hyperparameter; ``value_num`` is set when the value reads as a number."""

    __tablename__ = "version_params"
    __table_args__ = (
        Index("ix_version_params_key_value", "key", "value"),
        Index("ix_version_params_key_num", "key", "value_num"),
    )

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    value_num: Mapped[float | None] = mapped_column(Float, nullable=True)


class VersionMetric(Base):
    """A metric value, optionally for one evaluation dataset and split ('' when not given).

    ``model_id`` repeats the version's model (versions never change model) so that a model's
    versions are ranked by a metric on the ``(model_id, key, value)`` index.
    """

    __tablename__ = "version_metrics"
    __table_args__ = (Index("ix_version_metrics_key_value", "key", "value"),
                      Index("ix_version_metrics_model_key_value", "model_id", "key", "value"))

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(255), primary_key=True, default="")
    split: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    value: Mapped[float] = mapped_column(Float)
    model_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class VersionTag(Base):
    """A free key/value tag."""

    __tablename__ = "version_tags"
    __table_args__ = (Index("ix_version_tags_key_value", "key", "value"),)

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Alias(Base):
    """A movable name (``production``) pointing at one version of a model."""

    __tablename__ = "aliases"
    __table_args__ = (Index("ix_aliases_version_id", "version_id"),)

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="RESTRICT"))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(128))


class CompositeComponent(Base):
    """One pinned component of a composite version (ensemble member or pipeline stage)."""

    __tablename__ = "composite_components"
    __table_args__ = (Index("ix_composite_components_component_id", "component_id"),)

    composite_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    component_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT")
    )
    role: Mapped[str] = mapped_column(String(128), default="")


class LineageEdge(Base):
    """A typed edge ``src --kind--> dst`` between node references like ``model_version:42``.

    Kinds: trained_on, derived_from, component_of, parent_of, produced_by.
    """

    __tablename__ = "lineage_edges"
    __table_args__ = (
        UniqueConstraint("src", "dst", "kind"),
        Index("ix_lineage_edges_dst", "dst"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    src: Mapped[str] = mapped_column(String(300))
    dst: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime)


EDGE_KINDS = ("trained_on", "derived_from", "component_of", "parent_of", "produced_by")


def version_node(version_id: int) -> str:
    """The lineage node reference of a model version."""
    return f"model_version:{version_id}"


class Dataset(Base):
    """A named dataset; its versions are numbered 1, 2, ... and pin a root digest."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    partition_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class DatasetVersion(Base):
    """One committed version of a dataset: a root object (tree, or one file) and its numbers."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "number"),
        Index("ix_dataset_versions_digest", "digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    root_kind: Mapped[str] = mapped_column(String(16))  # "tree", "blob" or "chunked"
    message: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    files: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    bytes_new: Mapped[int] = mapped_column(BigInteger)
    bytes_stored: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class DatasetPartition(Base):
    """A partition (``date=2026-11-01``) pinned by a dataset version."""

    __tablename__ = "dataset_partitions"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    files: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)


def dataset_node(name: str, number: int) -> str:
    """The lineage node reference of a dataset version."""
    return f"dataset:{name}@{number}"


class Run(Base):
    """One execution that logged params, metrics and inputs, and maybe produced model versions."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_project_started", "project", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    project: Mapped[str] = mapped_column(String(128), default="default")
    status: Mapped[str] = mapped_column(String(16))  # running, finished, failed, killed
    command: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    code: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    seeds: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    warnings: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # in the trash (MLflow's delete)


class RunParam(Base):
    __tablename__ = "run_params"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunMetric(Base):
    """One point of a metric's step series: several at one step are kept when their moments differ
    (MLflow's client logs them so), one per moment."""

    __tablename__ = "run_metrics"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    logged_at: Mapped[datetime] = mapped_column(DateTime, primary_key=True)


class RunTag(Base):
    __tablename__ = "run_tags"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunArtifact(Base):
    """A file or folder a run stored (or, for ``mk run``, named as an output)."""

    __tablename__ = "run_artifacts"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)


def run_node(run_id: int) -> str:
    """The lineage node reference of a run."""
    return f"run:{run_id}"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    disabled: Mapped[bool] = mapped_column(default=False)


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; ``prefix`` finds the row without the secret."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_prefix", "prefix"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Role(Base):
    """A named set of permissions (built-in: viewer, contributor, approver, admin)."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    permissions: Mapped[list[Any]] = mapped_column(JSON)


class RoleBinding(Base):
    """A role granted to a user globally (scope ''), on a project or on one model."""

    __tablename__ = "role_bindings"
    __table_args__ = (UniqueConstraint("user_id", "role", "scope_kind", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(ForeignKey("roles.name", ondelete="CASCADE"))
    scope_kind: Mapped[str] = mapped_column(String(16))  # global, project, model
    scope: Mapped[str] = mapped_column(String(128), default="")


class AuditEntry(Base):
    """One entry of the append-only, hash-chained audit log."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target"), Index("ix_audit_log_at", "at"))

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True)  # HMAC of hash, key kept outside the database


class IdSequence(Base):
    """Ids handed out so far, per table whose ids must never be reused (runs), on every database."""

    __tablename__ = "id_sequences"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class AliasChange(Base):
    """Every move of an alias, so a rollback knows the previous holder and T → holder is one query."""

    __tablename__ = "alias_history"
    __table_args__ = (Index("ix_alias_history_lookup", "model_id", "alias", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(64))
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: the alias was removed
    previous: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(128))
    via: Mapped[str] = mapped_column(String(16))  # direct, promotion, rollback


class ProtectedAlias(Base):
    """An alias that moves only through promotion requests (model '*' = every model)."""

    __tablename__ = "protected_aliases"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    required_approvals: Mapped[int] = mapped_column(Integer, default=1)
    gates: Mapped[dict[str, Any]] = mapped_column(JSON)


class PromotionRequest(Base):
    __tablename__ = "promotion_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(64))
    alias: Mapped[str] = mapped_column(String(64))
    justification: Mapped[str] = mapped_column(Text)
    ticket: Mapped[str] = mapped_column(String(128), default="")
    requested_by: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # pending, applied, rejected, withdrawn, blocked
    gates: Mapped[list[Any]] = mapped_column(JSON)
    reviews: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Event(Base):
    """The outbox: an event row commits in the same transaction as the change it reports."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Webhook(Base):
    """A subscriber. Its signing secret is derived from the server key, never stored; an MLflow
    webhook's (``format="mlflow"``) is the one its creator chose, kept sealed with the server key."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]] = mapped_column(JSON)
    format: Mapped[str] = mapped_column(String(16), default="json")  # json, slack, openlineage or words
    subject: Mapped[str | None] = mapped_column(String(300), nullable=True)  # a watch: model:NAME or dataset:NAME
    bumps: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # a watch: new versions of these bumps only
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)  # MLflow's webhooks have a name ...
    description: Mapped[str | None] = mapped_column(Text, nullable=True)  # ... and a description
    secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)  # AES-GCM under the server key
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Delivery(Base):
    """One event for one webhook: attempts, outcome, and when to try next."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("event_id", "webhook_id"), Index("ix_deliveries_due", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Deployment(Base):
    """A deployment: the current revision of what serves traffic under one name.

    ``spec`` is the whole pinned record (arms with model, preprocessing and signature, routing,
    policy, monitoring); ``revision`` increases with every change, so gateways notice a change
    with one cheap read and writers change it with compare-and-set.
    """

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    revision: Mapped[int] = mapped_column(Integer)
    strategy: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class DeploymentRevision(Base):
    """Every revision a deployment went through, with why, by whom, and the evidence."""

    __tablename__ = "deployment_revisions"
    __table_args__ = (UniqueConstraint("deployment_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(24))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    action: Mapped[str] = mapped_column(String(32))  # create, update, advance, promote, rollback, switch, ...
    reason: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime)


class GatewayReport(Base):
    """The latest report of one gateway replica: loaded versions, traffic and analysis."""

    __tablename__ = "gateway_reports"

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(128), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class GatewayWindow(Base):
    """One replica's closed analysis window of a deployment's revision (``Policy.pooled``): each
    arm's counts and thinned samples, which every replica reads back to judge all traffic."""

    __tablename__ = "gateway_windows"

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_no: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # wall-clock seconds // window_s
    gateway: Mapped[str] = mapped_column(String(128), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    summaries: Mapped[dict[str, Any]] = mapped_column(JSON)  # arm -> WindowSummary.shared()


class Experiment(Base):
    """A named group of runs (MLflow's experiment) over one project; id 0 is MLflow's "Default"."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    project: Mapped[str] = mapped_column(String(128))
    lifecycle_stage: Mapped[str] = mapped_column(String(16), default="active")
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class LoggedModel(Base):
    """A model logged by a run before it is registered (MLflow 3's LoggedModel)."""

    __tablename__ = "logged_models"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # m-<32 hex>
    experiment_id: Mapped[int] = mapped_column(Integer, index=True)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    name: Mapped[str] = mapped_column(String(255))
    model_type: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(128))


class ArtifactFile(Base):
    """One file of a path-addressed artifact tree (MLflow's artifact store); its bytes are an object
    in the content-addressed store, so identical files are stored once."""

    __tablename__ = "artifact_files"

    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # blob or chunked
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class RetentionPolicy(Base):
    """What to keep of one model's or dataset's versions (scope ``*``: every one without its own)."""

    __tablename__ = "retention_policies"
    __table_args__ = (UniqueConstraint("kind", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # model or dataset
    scope: Mapped[str] = mapped_column(String(128))  # a name, or *
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class LegalHold(Base):
    """A version nothing may expire, whatever the policy, until the hold is released."""

    __tablename__ = "legal_holds"

    target: Mapped[str] = mapped_column(String(300), primary_key=True)  # model:NAME@VERSION or dataset:NAME@N
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Tombstone(Base):
    """A version a garbage collection dropped: its rows, so ``mk undelete`` can restore it until the
    sweep after the grace period purges the tombstone."""

    __tablename__ = "tombstones"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)  # model:NAME@VERSION or dataset:NAME@N
    digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)  # its files: file, tree, blob, chunked
    rows: Mapped[dict[str, Any]] = mapped_column(JSON)
    why: Mapped[str] = mapped_column(Text)
    marked_by: Mapped[str] = mapped_column(String(128))
    marked_at: Mapped[datetime] = mapped_column(DateTime)
