"""Opening a repository: configuration → database → object store → services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelkeep.config import RepoConfig, find_root, init_root, load_config
from modelkeep.meta.db import Database, open_database
from modelkeep.services.registry import Registry
from modelkeep.store.objects import ObjectStore


@dataclass
class Workspace:
    """Everything one repository needs, opened once per process."""

    config: RepoConfig
    db: Database
    store: ObjectStore
    registry: Registry

    def close(self) -> None:
        self.db.dispose()


def open_workspace(home: Path | None = None, *, migrate: bool = True) -> Workspace:
    """Open the repository found from ``home`` (see :func:`modelkeep.config.find_root`)."""
    root = find_root(home)
    config = load_config(root)
    db = open_database(config.db_url, migrate=migrate)
    store = ObjectStore(config.store_path)
    return Workspace(config, db, store, Registry(db, store, config.user))


def init_workspace(directory: Path, db_url: str | None = None) -> tuple[Workspace, bool]:
    """Create (or upgrade) the repository in ``directory``; returns it and whether it is new."""
    root, created = init_root(directory)
    config = load_config(root)
    if db_url:
        config.set("db.url", db_url)
    config.store_path.mkdir(parents=True, exist_ok=True)
    db = open_database(config.db_url, migrate=True)
    store = ObjectStore(config.store_path)
    return Workspace(config, db, store, Registry(db, store, config.user)), created
