"""Dataset versioning: add, status, log, ls, cat, checkout (diff lives in ``dataset_diff``).

A dataset version pins one root object in the store (a tree for a folder, a blob or manifest
for a single file) and is numbered per dataset. Ordering makes it crash-safe: objects are
written and flushed (packs, then indexes) before the version row is committed in one
transaction, so a killed ``add`` leaves unreferenced packs at worst, never a visible partial
version; the next ``add`` reuses whatever it finds already stored.

Partitioned datasets (``--partition-by KEY``) keep each first-level ``KEY=VALUE`` folder as its
own subtree and record it; adding one partition (``--partition KEY=VALUE``) makes a new version
that pins that partition's new content and every other partition of the latest version, in one
commit, so a reader sees one consistent set.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.tables import Dataset, DatasetPartition, DatasetVersion, table_of
from modelkeep.services.clock import utcnow
from modelkeep.services.data.data_status import compare_files
from modelkeep.services.data.dataset_files import (
    DatasetFiles,
    StagedContent,
    check_partitioned,
    parse_partition,
    partition_key_for,
    stage,
)
from modelkeep.services.data.views import DatasetVersionView
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.models.inputs import check_name, split_dataset_ref
from modelkeep.store.format import TreeEntry
from modelkeep.store.ingest import Ingestor, StatCache
from modelkeep.store.repository import Repository

Progress = Callable[[int], None]


def _view(session: Session, row: DatasetVersion, name: str) -> DatasetVersionView:
    parts = dict(
        session.execute(
            select(DatasetPartition.name, DatasetPartition.digest)
            .where(DatasetPartition.version_id == row.id)
            .order_by(DatasetPartition.name)
        ).all()
    )
    return DatasetVersionView(
        name, row.number, row.digest, row.root_kind, row.message, row.source, row.files, row.bytes,
        row.bytes_new, row.bytes_stored, row.created_at, row.created_by, parts,
    )


class Datasets(DatasetFiles):
    """Dataset versions in one registry database and object store."""

    def __init__(self, db: Database, repo: Repository, access: Access, cache: StatCache,
                 meta_dir: Path | None = None) -> None:
        """``access``: the principal every call acts as, checked here for reads and writes."""
        self.db = db
        self.repo = repo
        self.access = access
        self.user = access.actor
        self.cache = cache
        self.meta_dir = meta_dir  # the repository's .modelkeep folder: --prune never touches it or what holds it
        self.chunk_folder = cache.path.parent / "chunks" if cache.path is not None else None

    def authorize(self, permission: str, name: str) -> None:
        """PermissionDenied unless the actor holds ``permission`` (data permissions are global)."""
        self.access.check(permission)

    # --- resolving ------------------------------------------------------------------------

    def _dataset(self, session: Session, name: str) -> Dataset:
        dataset = session.scalars(select(Dataset).where(Dataset.name == name)).first()
        if dataset is None:
            raise NotFound(f"dataset {name!r} does not exist", hint="see 'mk data log NAME' or add it with 'mk data add'")
        return dataset

    def _resolve(self, session: Session, dataset: Dataset, spec: str | None) -> DatasetVersion:
        query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
        if spec is None or spec == "latest":
            row = session.scalars(query.order_by(DatasetVersion.number.desc()).limit(1)).first()
        elif spec.isdigit():
            row = session.scalars(query.where(DatasetVersion.number == int(spec))).first()
        elif re.fullmatch(r"[0-9a-f]{6,64}", spec):
            rows = session.scalars(query.where(DatasetVersion.digest.startswith(spec))).all()
            if len({r.digest for r in rows}) > 1:
                raise InvalidInput(f"digest prefix {spec!r} matches several versions of {dataset.name}; give more digits")
            row = rows[0] if rows else None
        else:
            raise InvalidInput(
                f"invalid dataset version {spec!r}: use NAME@N (a number), NAME@DIGEST (6+ hex digits) or NAME"
            )
        if row is None:
            raise NotFound(f"dataset {dataset.name} has no version {spec or 'yet'}")
        return row

    def get(self, ref: str) -> DatasetVersionView:
        name, spec = split_dataset_ref(ref)
        self.authorize("data.read", name)
        with self.db.reader() as session:
            return _view(session, self._resolve(session, self._dataset(session, name), spec), name)

    def canonical_ref(self, ref: str) -> str:
        """``NAME@N`` for a dataset reference (``NAME@N``, ``NAME@DIGEST``, or ``NAME`` for the
        latest) that exists: what is stored is always the exact version."""
        if not isinstance(ref, str):
            raise InvalidInput(f"invalid dataset reference {ref!r}: use NAME@N, e.g. fraud-train@3")
        return self.get(ref).ref

    def log(self, name: str) -> list[DatasetVersionView]:
        check_name(name, "dataset name")
        self.authorize("data.read", name)
        with self.db.reader() as session:
            dataset = self._dataset(session, name)
            rows = session.scalars(
                select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id).order_by(DatasetVersion.number.desc())
            ).all()
            return [_view(session, row, name) for row in rows]

    def list(self) -> list[dict[str, Any]]:
        self.authorize("data.read", "")
        with self.db.reader() as session:
            rows = session.execute(
                select(Dataset.name, func.max(DatasetVersion.number), Dataset.partition_key)
                .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id, isouter=True)
                .group_by(Dataset.id, Dataset.name, Dataset.partition_key)
                .order_by(Dataset.name)
            ).all()
        return [{"name": n, "latest": v, "partition_by": p} for n, v, p in rows]

    # --- adding ---------------------------------------------------------------------------

    def add(
        self,
        path: Path,
        name: str,
        *,
        message: str = "",
        partition_by: str | None = None,
        partition: str | None = None,
        progress: Progress | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> DatasetVersionView:
        """Version ``path`` (a file or a folder) as the next version of ``name``.

        With ``partition="KEY=VALUE"`` the path is the content of that one partition and the
        other partitions are carried over from the latest version. If the content equals the
        latest version, no version is made and that one is returned with ``unchanged=True``.
        """
        check_name(name, "dataset name")
        self.authorize("data.write", name)  # before the bytes are read, not only when recording
        key = partition_key_for(partition_by, partition, lambda: self.partition_key(name))
        staged = stage(self.repo, self.cache, Path(path), key=key, partition=partition, progress=progress,
                       on_total=on_total)
        return self.record(name, staged, message)

    def partition_key(self, name: str) -> str | None:
        """The key a dataset is partitioned by (None: not partitioned, or no such dataset yet)."""
        with self.db.reader() as session:
            return session.scalar(select(Dataset.partition_key).where(Dataset.name == name))

    def record(self, name: str, staged: StagedContent, message: str = "") -> DatasetVersionView:
        """Record content already in the store as the next version of ``name`` (what ``add`` does
        after staging; the server calls it for a client that staged through the store protocol).
        The content is checked, not trusted: it must be in the store, and a partitioned layout is
        checked again here."""
        check_name(name, "dataset name")
        self.authorize("data.write", name)
        root = staged.root
        if root.kind not in ("tree", "blob", "chunked"):
            raise InvalidInput(f"dataset content of kind {root.kind!r}: tree, blob or chunked")
        if not self.repo.has(root.id):
            self.repo.refresh_index()
            if not self.repo.has(root.id):
                raise NotFound(f"{root.id} is not in the store; stage the content first")
        with self.db.reader() as session:
            existing = session.scalars(select(Dataset).where(Dataset.name == name)).first()
            latest = self._resolve(session, existing, None) if existing and self._has_versions(session, existing) else None
            latest_view = _view(session, latest, name) if latest else None
        key = staged.partition_by or (existing.partition_key if existing else None)
        if staged.partition is not None:
            key, _value = parse_partition(staged.partition)
            if existing is not None and existing.partition_key not in (None, key):
                raise InvalidInput(f"dataset {name} is partitioned by {existing.partition_key!r}, not {key!r}")
            if root.kind != "tree":
                raise InvalidInput(f"a partition must be a folder; {staged.source} is not")
            return self._commit_partition(name, key, staged.partition, root, latest_view, message, staged)
        parts: dict[str, TreeEntry] = {}
        if key is not None:
            if root.kind != "tree":
                raise InvalidInput(f"--partition-by needs a folder of {key}=VALUE folders; {staged.source} is a file")
            check_partitioned(dict(self.repo.walk(root.id)), key, staged.source)
            parts = {e.name: e for e in self.repo.read_tree(root.id)}
        if latest_view is not None and latest_view.digest == root.id:
            latest_view.unchanged = True
            return latest_view
        # A whole folder is a complete snapshot: it becomes the head whatever was committed meanwhile.
        return self._commit(self._new_version(name, key, root, parts, message, staged), None)

    def _new_version(
        self, name: str, key: str | None, root: TreeEntry, parts: dict[str, TreeEntry], message: str,
        staged: StagedContent,
    ) -> _NewVersion:
        """The row to commit, measured by one walk of the tree (outside the write transaction):
        files and bytes in all, and files per partition."""
        files, total, part_files = 1, root.size, Counter[str]()
        if root.kind == "tree":
            files = total = 0
            for rel, entry in self.repo.walk(root.id):
                files, total = files + 1, total + entry.size
                part_files[rel.split("/", 1)[0]] += 1
        return _NewVersion(name, key, root, parts, dict(part_files), message, staged.source, files, total,
                           staged.bytes_new, staged.bytes_stored)

    def _commit_partition(
        self, name: str, key: str, part: str, part_entry: TreeEntry, base: DatasetVersionView | None,
        message: str, staged: StagedContent,
    ) -> DatasetVersionView:
        """Commit one partition on top of the head, compare-and-set: if another writer moved the
        head meanwhile, its partitions are kept and ours is laid on the new head again, unless it
        wrote this same partition too (then the second writer gets a :class:`Conflict`)."""
        base_part = base.partitions.get(part) if base else None
        for _attempt in range(50):
            parts = self._partitions_of(base) if base else {}
            if base is not None and base.partitions.get(part) != base_part:
                raise Conflict(
                    f"partition {part} of dataset {name} was written by {base.ref} while this add ran; "
                    "nothing was committed", hint=f"compare with 'mk data diff', then add it again on top of {base.ref}")
            parts[part] = part_entry
            with Ingestor(self.repo, None) as ingest:
                root = ingest.build_tree_from_entries(parts)
                self.repo.flush()
            if base is not None and base.digest == root.id:
                base.unchanged = True
                return base
            new = self._new_version(name, key, root, parts, message, staged)
            try:
                return self._commit(new, base.number if base else 0)
            except _StaleHead:
                base = self.get(name)  # rebase on what the other writer committed
        raise Conflict(f"dataset {name} kept changing while this partition was committed; add it again")

    def _has_versions(self, session: Session, dataset: Dataset) -> bool:
        query = select(DatasetVersion.id).where(DatasetVersion.dataset_id == dataset.id).limit(1)
        return session.scalars(query).first() is not None

    def _partitions_of(self, view: DatasetVersionView) -> dict[str, TreeEntry]:
        if view.root_kind != "tree":
            return {}
        return {e.name: e for e in self.repo.read_tree(view.digest) if e.kind == "tree" and e.name in view.partitions}

    def _commit(self, new: _NewVersion, expected_head: int | None) -> DatasetVersionView:
        """Insert the version in one transaction; with ``expected_head`` (0: none yet) only if the
        dataset's latest version number is still that (else :class:`_StaleHead`)."""
        for attempt in range(10):
            session = self.db.writer()
            try:
                with session.begin():
                    return self._insert(session, new, expected_head)
            except sa_exc.IntegrityError:
                if attempt == 9:
                    raise Conflict(f"could not allocate a version number for dataset {new.name}") from None
            finally:
                session.close()
        raise AssertionError("unreachable")

    def _insert(self, session: Session, new: _NewVersion, expected_head: int | None) -> DatasetVersionView:
        query = select(Dataset).where(Dataset.name == new.name).with_for_update()
        dataset = session.scalars(query).first()
        if dataset is None:
            session.add(Dataset(name=new.name, description="", partition_key=new.key, created_at=utcnow(),
                                created_by=self.user))
            session.flush()
            dataset = session.scalars(query).one()
        elif new.key and not dataset.partition_key:
            dataset.partition_key = new.key
        head = session.scalar(select(func.max(DatasetVersion.number)).where(DatasetVersion.dataset_id == dataset.id)) or 0
        if expected_head is not None and head != expected_head:
            raise _StaleHead(head)
        number = head + 1
        inserted = cast(CursorResult[Any], session.execute(
            insert(table_of(DatasetVersion)).values(
                dataset_id=dataset.id, number=number, digest=new.root.id, root_kind=new.root.kind, message=new.message,
                source=new.source, files=new.files, bytes=new.bytes, bytes_new=new.bytes_new,
                bytes_stored=new.bytes_stored, created_at=utcnow(), created_by=self.user,
            )
        ))
        primary_key = inserted.inserted_primary_key
        assert primary_key is not None  # an INSERT of one row
        version_id = primary_key[0]
        if new.parts:
            session.execute(insert(table_of(DatasetPartition)), [
                {"version_id": version_id, "name": part, "digest": e.id, "files": new.part_files.get(part, 0), "bytes": e.size}
                for part, e in sorted(new.parts.items())
            ])
        row = session.get(DatasetVersion, version_id)
        assert row is not None
        audit.append(session, self.user, "dataset.add", f"dataset:{new.name}@{number}",
                     detail={"digest": new.root.id, "files": new.files, "bytes": new.bytes, "partitions": sorted(new.parts)})
        return _view(session, row, new.name)

@dataclass
class _NewVersion:
    """A dataset version about to be committed."""

    name: str
    key: str | None
    root: TreeEntry
    parts: dict[str, TreeEntry]
    part_files: dict[str, int]
    message: str
    source: str
    files: int
    bytes: int
    bytes_new: int
    bytes_stored: int


class _StaleHead(Exception):
    """The dataset's head moved between reading it and committing on top of it."""


__all__ = ["DatasetVersionView", "Datasets", "StagedContent", "compare_files", "split_dataset_ref"]
