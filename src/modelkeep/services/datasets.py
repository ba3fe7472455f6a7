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

import builtins
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.tables import Dataset, DatasetPartition, DatasetVersion, table_of
from modelkeep.services import audit
from modelkeep.services.clock import utcnow
from modelkeep.services.data_status import compare_files, recorded_files, status_of
from modelkeep.services.inputs import check_name
from modelkeep.store.checkout import CheckoutResult, checkout_files
from modelkeep.store.format import ObjectId, TreeEntry
from modelkeep.store.ingest import Ingestor, IngestStats, StatCache, scan
from modelkeep.store.repository import Repository

Progress = Callable[[int], None]
_PARTITION_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*\Z")


@dataclass
class DatasetVersionView:
    name: str
    number: int
    digest: str
    root_kind: str
    message: str
    source: str
    files: int
    bytes: int
    bytes_new: int
    bytes_stored: int
    created_at: datetime
    created_by: str
    partitions: dict[str, str] = field(default_factory=dict)
    unchanged: bool = False

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.number}"

    @property
    def root(self) -> TreeEntry:
        return TreeEntry(self.name, self.root_kind, ObjectId(self.digest), self.bytes, 0o644 if self.root_kind != "tree" else 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.number,
            "ref": self.ref,
            "digest": self.digest,
            "kind": self.root_kind,
            "files": self.files,
            "bytes": self.bytes,
            "bytes_new": self.bytes_new,
            "bytes_stored": self.bytes_stored,
            "message": self.message,
            "source": self.source,
            "partitions": dict(self.partitions),
            "unchanged": self.unchanged,
            "created_at": self.created_at.isoformat() + "Z",
            "created_by": self.created_by,
        }


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


def split_dataset_ref(ref: str) -> tuple[str, str | None]:
    name, _, spec = ref.strip().partition("@")
    check_name(name, "dataset name")
    return name, spec or None


class Datasets:
    """Dataset versions in one registry database and object store."""

    def __init__(self, db: Database, repo: Repository, user: str, cache: StatCache, meta_dir: Path | None = None) -> None:
        self.db = db
        self.repo = repo
        self.user = user
        self.cache = cache
        self.meta_dir = meta_dir  # the repository's .modelkeep folder: --prune never touches it or what holds it
        # Set by the workspace: raises PermissionDenied unless the actor holds (permission, dataset).
        self.authorize: Callable[[str, str], None] = lambda permission, name: None

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
        with self.db.reader() as session:
            dataset = self._dataset(session, name)
            rows = session.scalars(
                select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id).order_by(DatasetVersion.number.desc())
            ).all()
            return [_view(session, row, name) for row in rows]

    def list(self) -> list[dict[str, Any]]:
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
        self.authorize("data.write", name)
        path = Path(path)
        if partition_by is not None and partition is not None:
            raise InvalidInput("give --partition-by (a whole partitioned folder) or --partition (one partition), not both")
        items = scan(path)
        if on_total:
            on_total(sum(i.size for i in items))
        with self.db.reader() as session:
            existing = session.scalars(select(Dataset).where(Dataset.name == name)).first()
            latest = self._resolve(session, existing, None) if existing and self._has_versions(session, existing) else None
            latest_view = _view(session, latest, name) if latest else None
        key = partition_by or (existing.partition_key if existing else None)
        if partition is not None:
            key, value = _parse_partition(partition)
            if existing is not None and existing.partition_key not in (None, key):
                raise InvalidInput(f"dataset {name} is partitioned by {existing.partition_key!r}, not {key!r}")

        with Ingestor(self.repo, self.cache, progress) as ingest:
            if partition is not None:
                if not path.is_dir():
                    raise InvalidInput(f"a partition must be a folder; {path} is not")
                part_entry = ingest.build_tree(ingest.add_files(items))
                assert key is not None  # set from --partition above
                return self._commit_partition(
                    name, key, f"{key}={value}", part_entry, latest_view, message, str(path.resolve()), ingest)
            if key is not None and path.is_dir():
                entries = ingest.add_files(items)
                _check_partitioned(entries, key, path)
                root = ingest.build_tree(entries)
                parts = {e.name: e for e in self.repo.read_tree(root.id)}
            elif path.is_dir():
                root = ingest.build_tree(ingest.add_files(items))
                parts = {}
            else:
                if key is not None:
                    raise InvalidInput(f"--partition-by needs a folder of {key}=VALUE folders; {path} is a file")
                root = ingest.add_file(items[0])
                parts = {}
            self.repo.flush()  # packs and indexes are durable before the version row exists
            stats = ingest.stats

        if latest_view is not None and latest_view.digest == root.id:
            latest_view.unchanged = True
            return latest_view
        # A whole folder is a complete snapshot: it becomes the head whatever was committed meanwhile.
        return self._commit(self._new_version(name, key, root, parts, message, str(path.resolve()), stats), None)

    def _new_version(
        self, name: str, key: str | None, root: TreeEntry, parts: dict[str, TreeEntry], message: str, source: str,
        stats: IngestStats,
    ) -> _NewVersion:
        """The row to commit, measured by one walk of the tree (outside the write transaction):
        files and bytes in all, and files per partition."""
        files, total, part_files = 1, root.size, Counter[str]()
        if root.kind == "tree":
            files = total = 0
            for rel, entry in self.repo.walk(root.id):
                files, total = files + 1, total + entry.size
                part_files[rel.split("/", 1)[0]] += 1
        return _NewVersion(name, key, root, parts, dict(part_files), message, source, files, total, stats.bytes_new,
                           stats.bytes_stored)

    def _commit_partition(
        self, name: str, key: str, part: str, part_entry: TreeEntry, base: DatasetVersionView | None,
        message: str, source: str, ingest: Ingestor,
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
            root = ingest.build_tree_from_entries(parts)
            self.repo.flush()
            if base is not None and base.digest == root.id:
                base.unchanged = True
                return base
            new = self._new_version(name, key, root, parts, message, source, ingest.stats)
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

    # --- reading --------------------------------------------------------------------------

    def files(self, ref: str) -> dict[str, TreeEntry]:
        """``path -> entry`` of every file in a version (a file dataset has one, its name)."""
        view = self.get(ref)
        return self.files_of(view)

    def files_of(self, view: DatasetVersionView) -> dict[str, TreeEntry]:
        return recorded_files(self.repo, view.name, view.digest, view.root_kind, view.source, view.bytes)

    def cat(self, ref: str, file: str | None = None) -> Iterator[bytes | memoryview]:
        view = self.get(ref)
        files = self.files_of(view)
        if file is None:
            if len(files) != 1:
                raise InvalidInput(f"{view.ref} has {len(files)} files; name one (see 'mk data ls {view.ref}')")
            file = next(iter(files))
        entry = files.get(file.strip("/"))
        if entry is None:
            raise NotFound(f"{view.ref} has no file {file!r}", hint=f"see 'mk data ls {view.ref}'")
        return self.repo.iter_file(entry.kind, entry.id)

    def checkout(
        self,
        ref: str,
        dest: Path,
        progress: Progress | None = None,
        *,
        prune: bool = False,
        force: builtins.list[str] | None = None,
    ) -> tuple[DatasetVersionView, CheckoutResult]:
        """Write a version into the folder ``dest`` (a single-file dataset keeps its file name).

        Never loses what is not ours: see :func:`modelkeep.store.checkout.checkout_files`.
        ``prune`` is refused outright on ``/``, the home folder, and the repository's folder or
        any folder above it.
        """
        view = self.get(ref)
        if prune:
            self._check_prunable(dest)
        result = checkout_files(
            self.repo, view.root, dest, file_name=Path(view.source).name or view.name, owner=f"dataset:{view.name}",
            version=view.ref, progress=progress, cache=self.cache, prune=prune, force=force,
        )
        self.cache.save()
        return view, result

    def _check_prunable(self, dest: Path) -> None:
        target = dest.expanduser().resolve()
        refused = {Path("/"), Path.home().resolve()}
        if self.meta_dir is not None:
            meta_dir = self.meta_dir.resolve()
            project = meta_dir.parent
            if target in (project, meta_dir) or target in project.parents or meta_dir in target.parents:
                raise InvalidInput(f"--prune refuses {dest}: it is or holds this repository ({project})")
        if target in refused or target == target.parent:
            raise InvalidInput(
                f"--prune refuses {dest}: never prune the root or the home folder; check out into a folder of its own"
            )

    def cached_checkout(self, ref: str) -> Path:
        """A read-only-by-convention folder with the files of ``ref`` (made once, then reused)."""
        view = self.get(ref)
        if self.cache.path is None:
            raise InvalidInput("this repository has no cache folder")
        folder = self.cache.path.parent / "checkouts" / f"{view.name}@{view.number}-{view.digest[:12]}"
        if not folder.exists():
            tmp = folder.with_name(folder.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)  # a killed earlier attempt of ours, inside the cache
            self.checkout(view.ref, tmp)
            tmp.rename(folder)
        return folder

    def status(self, name: str, path: Path | None = None) -> dict[str, Any]:
        """What ``add`` would record for ``path`` (default: where the latest version came from),
        compared with the latest version. Reads only files the stat cache cannot vouch for."""
        latest = self.get(name)
        summary = {
            "number": latest.number,
            "digest": latest.digest,
            "root_kind": latest.root_kind,
            "source": latest.source,
            "bytes": latest.bytes,
        }
        return status_of(self.repo, self.cache, name, summary, path)


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


def _parse_partition(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) or not _PARTITION_VALUE.match(value):
        raise InvalidInput(f"invalid partition {text!r}: use KEY=VALUE, e.g. date=2026-11-01")
    return key, value


def _check_partitioned(entries: dict[str, TreeEntry], key: str, path: Path) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise InvalidInput(f"invalid partition key {key!r}: letters, digits and '_'")
    for rel in entries:
        top = rel.split("/", 1)[0]
        if "/" not in rel or not top.startswith(f"{key}=") or not _PARTITION_VALUE.match(top[len(key) + 1 :]):
            raise InvalidInput(
                f"{path / rel} is not inside a {key}=VALUE folder; a dataset partitioned by {key!r} holds only "
                f"{key}=VALUE folders at its top level"
            )


__all__ = ["DatasetVersionView", "Datasets", "compare_files", "split_dataset_ref"]
