"""The roots of everything the registry references in the store (for verify, push, pull).

``registry_roots`` reads them through SQLAlchemy; on a SQLite registry ``fast_roots`` reads the
same rows with the standard library, so ``mk push`` with nothing new costs about a process
start-up. SQLAlchemy is imported only inside ``registry_roots``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelkeep.store.repository import Repository

if TYPE_CHECKING:
    from modelkeep.meta.db import Database


@dataclass(frozen=True)
class Root:
    owner: str  # "dataset:NAME@N" or "model:NAME@VERSION"
    kind: str  # "tree", "chunked", "blob" — or "file" (resolved against the index)
    digest: str


def _roots(datasets: list[tuple[str, int, str, str]], models: list[tuple[str, str, str, str]]) -> list[Root]:
    roots = [Root(f"dataset:{n}@{v}", k, d) for n, v, k, d in datasets]
    roots += [Root(f"model:{n}@{v}", "blob" if k == "composite" else k, d) for n, v, k, d in models]
    return roots


def registry_roots(db: Database) -> list[Root]:
    from sqlalchemy import select

    from modelkeep.meta.tables import Dataset, DatasetVersion, Model, ModelVersion

    with db.reader() as session:
        datasets = session.execute(
            select(Dataset.name, DatasetVersion.number, DatasetVersion.root_kind, DatasetVersion.digest).join(
                Dataset, Dataset.id == DatasetVersion.dataset_id
            )
        ).all()
        models = session.execute(
            select(Model.name, ModelVersion.version, ModelVersion.artifact_kind, ModelVersion.digest)
            .join(Model, Model.id == ModelVersion.model_id)
            .where(ModelVersion.digest.is_not(None))
        ).all()
    return _roots([tuple(r) for r in datasets], [tuple(r) for r in models])  # type: ignore[misc]


def fast_roots(db_url: str) -> list[Root] | None:
    """The same roots read with sqlite3, or None when the fast path does not apply."""
    from modelkeep.meta.sqlite_fast import registry_root_rows

    rows = registry_root_rows(db_url)
    return None if rows is None else _roots(*rows)


def resolve_kind(repo: Repository, root: Root) -> str:
    return repo.kind_of(root.digest) if root.kind == "file" else root.kind
