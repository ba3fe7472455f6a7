"""The roots of everything the registry references in the store (for verify, push, pull)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from modelkeep.meta.db import Database
from modelkeep.meta.tables import Dataset, DatasetVersion, Model, ModelVersion
from modelkeep.store.repository import Repository


@dataclass(frozen=True)
class Root:
    owner: str  # "dataset:NAME@N" or "model:NAME@VERSION"
    kind: str  # "tree", "chunked", "blob" — or "file" (resolved against the index)
    digest: str


def registry_roots(db: Database) -> list[Root]:
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
    roots = [Root(f"dataset:{n}@{v}", k, d) for n, v, k, d in datasets]
    roots += [Root(f"model:{n}@{v}", "blob" if k == "composite" else k, d) for n, v, k, d in models]
    return roots


def resolve_kind(repo: Repository, root: Root) -> str:
    return repo.kind_of(root.digest) if root.kind == "file" else root.kind
