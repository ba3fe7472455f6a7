"""Opening a repository: configuration → database → object store → services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.config import RepoConfig, find_root, init_root, load_config
from modelkeep.errors import InvalidInput
from modelkeep.meta.db import Database, open_database
from modelkeep.services.data.datasets import Datasets
from modelkeep.services.governance.access import Access
from modelkeep.services.models.registry import Registry
from modelkeep.services.quota import Quotas
from modelkeep.store.artifacts import ArtifactStore
from modelkeep.store.backends import open_backend
from modelkeep.store.ingest import StatCache
from modelkeep.store.repository import Repository

if TYPE_CHECKING:
    from modelkeep.services.artifact_files import ArtifactFiles
    from modelkeep.services.deploy.deployments import Deployments
    from modelkeep.services.governance.promotion import Promotions
    from modelkeep.services.governance.webhooks import Webhooks
    from modelkeep.services.models.records import ModelRecords
    from modelkeep.services.runs.experiments import Experiments
    from modelkeep.services.runs.logged_models import LoggedModels
    from modelkeep.services.runs.runs import Runs


@dataclass
class Workspace:
    """Everything one repository needs, opened once per process."""

    config: RepoConfig
    db: Database
    repo: Repository
    store: ArtifactStore
    registry: Registry
    datasets: Datasets
    _access: Access

    @property
    def access(self) -> Access:
        return self._access

    @property
    def promotions(self) -> Promotions:
        from modelkeep.services.governance.promotion import Promotions

        return Promotions(self.registry, self._access)

    @property
    def webhooks(self) -> Webhooks:
        from modelkeep.services.governance.webhooks import Webhooks, load_key

        return Webhooks(self.db, self._access, load_key(self.config.root / "server.key"),
                        renderers={"openlineage": self._openlineage_event, "words": self._words, "mlflow": self._mlflow_data})

    def _mlflow_data(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """An outbox event as MLflow's webhook ``data``, read as the user who caused it."""
        from modelkeep.services.governance.mlflow_webhooks import data

        return data(self.as_user(str(payload.get("actor", ""))).model_records, payload)

    def _words(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """An outbox event in plain words (``mk watch``), read as the user who caused it."""
        from modelkeep.services.connection import LocalConnection
        from modelkeep.services.evaluation.watch import words

        return words(LocalConnection(self.as_user(str(payload.get("actor", "")))), payload)

    def _openlineage_event(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """An outbox event as OpenLineage, read as the user who caused it (what they could read)."""
        from modelkeep.services.connection import LocalConnection
        from modelkeep.services.runs.openlineage import from_event

        return from_event(LocalConnection(self.as_user(str(payload.get("actor", "")))), payload)

    @property
    def experiments(self) -> Experiments:
        from modelkeep.services.runs.experiments import Experiments

        return Experiments(self.db, self._access)

    @property
    def logged_models(self) -> LoggedModels:
        from modelkeep.services.runs.logged_models import LoggedModels

        return LoggedModels(self.db, self._access, self.experiments)

    @property
    def artifact_files(self) -> ArtifactFiles:
        from modelkeep.services.artifact_files import ArtifactFiles

        return ArtifactFiles(self.db, self.store, self._access)

    @property
    def model_records(self) -> ModelRecords:
        from modelkeep.services.models.records import ModelRecords

        return ModelRecords(self.db, self.registry, self._access)

    @property
    def deployments(self) -> Deployments:
        from modelkeep.services.deploy.deployments import Deployments

        return Deployments(self.db, self.registry, self._access, source=self.registry.source)

    @property
    def runs(self) -> Runs:
        from modelkeep.services.runs.runs import Runs

        return Runs(self.db, self.registry, self.datasets, self.store, self._access)

    def as_user(self, name: str, source: str = "local") -> Workspace:
        """The same database and store, acting as ``name`` (the server: one per request)."""
        access = self._access.for_actor(name)
        datasets = Datasets(self.db, self.repo, access, self.datasets.cache, self.config.root)
        registry = Registry(self.db, self.store, access, resolve_dataset=datasets.canonical_ref, source=source,
                            quotas=self.registry.quotas)
        return Workspace(self.config, self.db, self.repo, self.store, registry, datasets, access)

    def stat_cache(self) -> StatCache:
        return StatCache(self.config.cache_dir / "stat.db")

    def close(self) -> None:
        self.db.dispose()


def _assemble(config: RepoConfig, *, migrate: bool, create_store: bool) -> Workspace:
    from modelkeep.services.governance.audit import seal
    from modelkeep.services.governance.audit_keys import mac_key

    db = open_database(config.db_url, migrate=migrate)
    db.audit_key, created = mac_key(config)
    if created:  # entries written before the key existed get their MACs now, before anyone relies on them
        seal(db)
    repo = Repository.open(open_backend(config.store_url), create=create_store)
    from modelkeep.store.gc import register_registry

    register_registry(repo, registry_id(db), lambda: _registry_roots(db))
    compression = config.get("store.compression")
    if compression is not None:
        repo.set_compression(None if compression in ("off", "none", "0") else _level(compression))
    cache = StatCache(config.cache_dir / "stat.db")
    store = ArtifactStore(repo, cache)
    access = Access(db, config.user)
    datasets = Datasets(db, repo, access, cache, config.root)
    registry = Registry(db, store, access, resolve_dataset=datasets.canonical_ref, quotas=Quotas(db, config.values))
    return Workspace(config, db, repo, store, registry, datasets, access)


def _registry_roots(db: Database) -> Any:
    from modelkeep.services.retention.plan import registry_roots  # only a gc asks: not imported by every command

    return registry_roots(db)


def registry_id(db: Database) -> str:
    """This registry's name in stores it uses: a hash of its audit key (the same for every replica of
    a server, and after the repository moves; it says nothing of the key)."""
    return registry_id_of_key(db.audit_key or b"")


def registry_id_of_key(key: bytes) -> str:
    from blake3 import blake3

    return blake3(b"registry:" + key).hexdigest()[:16]


def _level(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"store.compression {text!r}: 'off' or a zstd level from -7 to 19") from None


def open_workspace(home: Path | None = None, *, migrate: bool = True) -> Workspace:
    """Open the repository found from ``home`` (see :func:`modelkeep.config.find_root`)."""
    config = load_config(find_root(home))
    return _assemble(config, migrate=migrate, create_store=True)


def init_workspace(directory: Path, db_url: str | None = None) -> tuple[Workspace, bool]:
    """Create (or upgrade) the repository in ``directory``; returns it and whether it is new."""
    root, created = init_root(directory)
    config = load_config(root)
    if db_url:
        config.set("db.url", db_url)
    return _assemble(config, migrate=True, create_store=True), created
