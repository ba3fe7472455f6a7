"""Path-addressed artifact files (MLflow's artifact store) over the content-addressed store.

A file uploaded to ``PATH`` is chunked into the store like any model or dataset file (so the
same bytes logged twice, or logged through MLflow and registered with ``mk``, are stored once);
``artifact_files`` maps the path to that object. A folder of them becomes a tree object when a
model version is registered from it (:meth:`ArtifactFiles.tree`). Paths are checked: relative,
``/``-separated, no ``.``/``..`` segment, no backslash or NUL, at most 1,024 bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, delete, select

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.tables import ArtifactFile
from modelkeep.services.clock import utcnow
from modelkeep.services.governance.access import Access
from modelkeep.store.artifacts import ArtifactStore, StoredArtifact
from modelkeep.store.format import ObjectId, TreeEntry
from modelkeep.store.ingest import Ingestor, scan


@dataclass(frozen=True)
class Listed:
    path: str  # relative to the listed folder
    is_dir: bool
    size: int | None


def check_path(path: str, what: str = "artifact path") -> str:
    """The path, normalized (no leading or trailing ``/``); InvalidInput naming what is wrong."""
    clean = path.strip("/")
    if len(clean.encode()) > 1024:
        raise InvalidInput(f"{what} is longer than 1024 bytes")
    if "\\" in clean or "\x00" in clean:
        raise InvalidInput(f"{what} {path!r}: no backslashes or NUL bytes")
    if any(part in ("", ".", "..") for part in clean.split("/")) and clean:
        raise InvalidInput(f"{what} {path!r}: each segment must be a name (no empty, '.' or '..' segments)")
    return clean


_ALL = select(ArtifactFile).order_by(ArtifactFile.path)
_UNDER = _ALL.where(ArtifactFile.path.like(bindparam("pattern"), escape="\\"))  # built once: each MLflow create lists its files


class ArtifactFiles:
    def __init__(self, db: Database, store: ArtifactStore, access: Access) -> None:
        self.db, self.store, self.access = db, store, access

    def put(self, path: str, source: Path, *, permission: str = "model.write", project: str | None = None) -> int:
        """Store the file at ``source`` as ``path`` (replacing what was there); its size."""
        path = check_path(path)
        if not path:
            raise InvalidInput("an artifact file needs a path")
        self.access.check(permission, project=project)
        with Ingestor(self.store.repo, None) as ingest:
            [item] = scan(source)
            entry = ingest.add_file(item)
            self.store.repo.flush()
        with self.db.writer() as session, session.begin():
            session.execute(delete(ArtifactFile).where(ArtifactFile.path == path))
            session.add(ArtifactFile(path=path, kind=entry.kind, digest=entry.id, size=entry.size, created_at=utcnow()))
        return entry.size

    def _rows(self, prefix: str) -> list[ArtifactFile]:
        with self.db.reader() as session:
            if not prefix:
                return list(session.scalars(_ALL))
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return list(session.scalars(_UNDER, {"pattern": escaped + "/%"}))

    def file(self, path: str, *, project: str | None = None) -> ArtifactFile | None:
        path = check_path(path)
        self.access.check("model.read", project=project)
        with self.db.reader() as session:
            return session.get(ArtifactFile, path)

    def read(self, row: ArtifactFile) -> Iterator[bytes | memoryview]:
        return self.store.repo.iter_file(row.kind, row.digest)

    def list(self, prefix: str, *, project: str | None = None) -> list[Listed]:
        """The files and folders directly under ``prefix``."""
        prefix = check_path(prefix)
        self.access.check("model.read", project=project)
        out: dict[str, Listed] = {}
        start = len(prefix) + 1 if prefix else 0
        for row in self._rows(prefix):
            rest = row.path[start:]
            head, sep, _ = rest.partition("/")
            out.setdefault(head, Listed(head, True, None) if sep else Listed(head, False, row.size))
        return sorted(out.values(), key=lambda item: item.path)

    def delete(self, prefix: str, *, project: str | None = None) -> int:
        prefix = check_path(prefix)
        self.access.check("model.write", project=project)
        paths = [prefix, *(row.path for row in self._rows(prefix))]
        with self.db.writer() as session, session.begin():
            session.execute(delete(ArtifactFile).where(ArtifactFile.path.in_(paths)))
        return len(paths)

    def tree(self, prefix: str, *, project: str | None = None) -> StoredArtifact:
        """Everything under ``prefix`` as one tree object in the store (a model version's artifact)."""
        prefix = check_path(prefix)
        self.access.check("model.read", project=project)
        rows = self._rows(prefix)
        if not rows:
            raise NotFound(f"no artifact files under {prefix!r}: log the model's files before registering it")
        start = len(prefix) + 1
        entries = {row.path[start:]: TreeEntry(row.path[start:].rsplit("/", 1)[-1], row.kind, ObjectId(row.digest),
                                               row.size, 0o644) for row in rows}
        with Ingestor(self.store.repo, None, dry_run=True) as ids:  # the tree's id, nothing written
            root = ids.build_tree(entries)
        if not self.store.repo.has(root.id):  # (registering the same files again is common: then nothing to write)
            with Ingestor(self.store.repo, None) as ingest:
                ingest.build_tree(entries)
                self.store.repo.flush()
        return self.store.existing({"kind": "tree", "digest": root.id})  # leased, as a version registered by digest
