"""Materializing stored files and trees on disk.

Every file is written fresh (temp file in the destination folder, then rename), from verified
chunks: a materialized file never shares bytes with the store or with another checkout, so a
later write to it cannot change stored data. (Packs hold compressed chunks, so there is
nothing a reflink or hardlink could point at.)
"""

from __future__ import annotations

import json
import os
import shutil
import stat as stat_mod
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelkeep.errors import Conflict, IntegrityError, InvalidInput, NotFound
from modelkeep.store.format import TreeEntry, object_id
from modelkeep.store.ingest import MANIFEST_NAME, STAGING_PREFIX, StatCache
from modelkeep.store.repository import Repository

LARGE = 64 << 20  # files above this size are replaced with the unlink in the background


def _safe_target(dest: Path, rel: str) -> Path:
    target = (dest / rel).resolve()
    if target != dest and dest not in target.parents:
        raise IntegrityError(f"a stored path escapes its folder: {rel!r}")
    return target


def _move_aside(target: Path, size: int) -> threading.Thread | None:
    """Before a large file is replaced, move the old one aside and unlink it on a thread: freeing a
    large file's blocks takes as long as writing them, so overlap the two."""
    if size <= LARGE or not os.path.lexists(target) or target.is_symlink():
        return None
    old = target.with_name(f".{target.name}.mk-old")
    os.replace(target, old)
    remover = threading.Thread(target=old.unlink, kwargs={"missing_ok": True}, daemon=True)
    remover.start()
    return remover


def write_file(
    repo: Repository,
    entry: TreeEntry,
    target: Path,
    progress: Callable[[int], None] | None = None,
    previous: tuple[Path, str] | None = None,
) -> None:
    """Write one file via a temporary name (a large file it replaces is unlinked meanwhile).

    ``previous`` is a file thought to hold the chunked file ``(path, manifest id)`` (an earlier
    checkout's, its stat unchanged since): the chunks both versions share are read from it and
    checked against their ids, only the others (and any that do not match) are read from the store.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.mk-tmp")
    remover = _move_aside(target, entry.size)
    source = -1
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, entry.size)  # chunks land at their offsets, from several threads
            reuse = None
            if previous is not None and entry.kind == "chunked":
                source = os.open(previous[0], os.O_RDONLY)
                reuse = (source, _chunk_offsets(repo, previous[1]))
            if repo.write_file_to(fd, entry.kind, entry.id, progress, reuse) != entry.size:
                raise IntegrityError(f"{entry.name}: its stored chunks do not add up to its size ({entry.size:,} bytes)")
        finally:
            os.close(fd)
            if source >= 0:
                os.close(source)
        os.chmod(tmp, entry.mode or 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if remover is not None:
            remover.join()


def _chunk_offsets(repo: Repository, manifest_id: str) -> dict[str, tuple[int, int]]:
    """``chunk -> (offset, length)`` of a chunked file's first copy of each chunk."""
    offsets: dict[str, tuple[int, int]] = {}
    position = 0
    for chunk, length in repo.read_manifest(manifest_id):
        offsets.setdefault(chunk, (position, length))
        position += length
    return offsets


def _write_bytes(target: Path, data: bytes | memoryview, mode: int) -> None:
    try:  # a new file: write it in place (nothing there to protect from a partial write)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode or 0o644)
    except FileExistsError:
        fd = -1
    if fd >= 0:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return
    tmp = target.with_name(f".{target.name}.mk-tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode or 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_entries(
    repo: Repository,
    pairs: list[tuple[Path, TreeEntry]],
    progress: Callable[[int], None] | None,
    previous: dict[Path, tuple[Path, str]] | None = None,
) -> None:
    """Write each entry to its path (folders exist). Small files (one object each) are read in
    store order, a pack span at a time, and decoded on a thread pool, whatever order the tree
    lists them in; large files chunk by chunk (see :func:`write_file`, and ``previous`` there)."""

    def store_order(pair: tuple[Path, TreeEntry]) -> tuple[str, int]:
        where = repo.entry(pair[1].id)
        return where.pack, where.offset

    small = sorted((pair for pair in pairs if pair[1].kind == "blob"), key=store_order)
    for (target, entry), data in zip(small, repo.get_many([e.id for _, e in small]), strict=True):
        _write_bytes(target, data, entry.mode)
        if progress:
            progress(len(data))
    for target, entry in pairs:
        if entry.kind != "blob":
            write_file(repo, entry, target, progress, (previous or {}).get(target))


def _up_to_date(
    target: Path, entry: TreeEntry, cache: StatCache | None, recorded: list[Any] | None = None
) -> os.stat_result | None:
    """The stat of ``target`` if it already holds exactly ``entry`` (so a checkout may leave it
    alone), else None. ``recorded`` is the row a checkout manifest keeps for it, if any."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    if not stat_mod.S_ISREG(st.st_mode) or st.st_size != entry.size:
        return None
    if recorded is not None and _stat_key(st) == recorded[:3] and recorded[3:5] == [entry.kind, entry.id]:
        return st  # the checkout that wrote it, untouched since
    if cache is not None and cache.lookup(target, st) == (entry.kind, entry.id):
        return st
    if entry.kind == "blob":
        with open(target, "rb") as handle:
            return st if object_id(handle.read()) == entry.id else None
    return None


def materialize(
    repo: Repository,
    root: TreeEntry,
    dest: Path,
    progress: Callable[[int], None] | None = None,
    cache: StatCache | None = None,
) -> int:
    """Write a file entry to ``dest`` or a tree's files under the folder ``dest`` (a folder of
    modelkeep's own: model artifacts into a cache or download folder); returns files written.
    Dataset checkouts into a user's folder go through :func:`checkout_files`.
    """
    if root.kind != "tree":
        write_file(repo, root, dest, progress)
        return 1
    if dest.exists() and not dest.is_dir():
        raise InvalidInput(f"{dest} exists and is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    base = dest.resolve()
    files = [(_safe_target(base, rel), entry) for rel, entry in repo.walk(root.id)]
    total = len(files)
    files = [(t, e) for t, e in files if _up_to_date(t, e, cache) is None]
    for folder in sorted({target.parent for target, _ in files}):
        folder.mkdir(parents=True, exist_ok=True)
    _write_entries(repo, files, progress)
    return total


# ---- dataset checkouts: a manifest of what we wrote, staged before anything is touched --------


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


@dataclass
class CheckoutManifest:
    """What an earlier checkout wrote into a folder: ``rel -> [size, mtime_ns, ino, kind, id]``.

    A file is ours to replace or remove only while it is listed here and unchanged since
    (same stat, or for a one-object file the same content).
    """

    owner: str
    version: str
    files: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> CheckoutManifest | None:
        path = folder / MANIFEST_NAME
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text())
            return cls(str(doc["owner"]), str(doc["version"]), {str(k): list(v) for k, v in doc["files"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"{path} is not a modelkeep checkout manifest ({exc}); remove it or check out elsewhere") from None

    def save(self, folder: Path) -> None:
        tmp = folder / f"{MANIFEST_NAME}.tmp"
        tmp.write_text(json.dumps({"owner": self.owner, "version": self.version, "files": self.files},
                                  separators=(",", ":"), sort_keys=True))
        os.replace(tmp, folder / MANIFEST_NAME)

    def unchanged(self, rel: str, path: Path) -> bool:
        row = self.files.get(rel)
        if row is None:
            return False
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        if not stat_mod.S_ISREG(st.st_mode) or st.st_size != row[0]:
            return False
        if _stat_key(st) == row[:3]:
            return True
        if row[3] == "blob":  # touched but maybe not changed: one object is cheap to re-hash
            with open(path, "rb") as handle:
                return object_id(handle.read()) == row[4]
        return False


@dataclass
class CheckoutResult:
    files: int
    written: int
    removed: list[str]
    kept: list[str]


def _forced(rel: str, force: list[str]) -> bool:
    return any(f in ("", ".") or rel == f or rel.startswith(f + "/") for f in force)


def _user_files(base: Path) -> Iterator[tuple[str, Path]]:
    """Every file (or symbolic link) under ``base`` but modelkeep's own bookkeeping, never following links."""
    for folder, dirs, names in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(STAGING_PREFIX)]
        for name in names:
            path = Path(folder) / name
            rel = path.relative_to(base).as_posix()
            if rel in (MANIFEST_NAME, f"{MANIFEST_NAME}.tmp"):
                continue
            yield rel, path


def version_files(repo: Repository, root: TreeEntry, file_name: str) -> dict[str, TreeEntry]:
    """``rel -> entry`` of a version: a tree's files, or the one file ``file_name`` of a file version."""
    if root.kind != "tree":
        return {file_name: TreeEntry(file_name, root.kind, root.id, root.size, root.mode or 0o644)}
    try:
        return dict(repo.walk(root.id))
    except NotFound as exc:
        raise _unreadable(exc) from exc


def _unreadable(exc: NotFound) -> IntegrityError:
    """A version that exists whose objects do not: damage, not a bad reference."""
    return IntegrityError(
        f"the version cannot be checked out: {exc}; nothing in the folder was changed",
        hint="run 'mk verify' to see which versions are damaged, or 'mk pull' to fetch missing objects",
    )


def checkout_files(
    repo: Repository,
    root: TreeEntry,
    dest: Path,
    *,
    file_name: str,
    owner: str,
    version: str,
    progress: Callable[[int], None] | None = None,
    cache: StatCache | None = None,
    prune: bool = False,
    force: list[str] | None = None,
) -> CheckoutResult:
    """Make ``dest`` hold the files of ``root`` (a file version: one file, ``file_name``) without
    losing anything that is not ours.

    1. Plan: an existing file is replaced only when it already matches, when the folder's
       manifest says an earlier checkout of ``owner`` wrote it and it is unchanged since, or
       when ``force`` names it; otherwise nothing is touched and :class:`Conflict` lists it.
       With ``prune``, files the version lacks are removed under the same rule and the rest
       are kept and reported; a non-empty folder with no manifest of ``owner`` is refused.
    2. Stage: every file to write is read from the store (each object verified) into a
       staging folder inside ``dest``; any failure removes the staging folder and leaves
       ``dest`` exactly as it was.
    3. Commit: staged files are renamed into place, pruned files removed, the manifest written.
    """
    force = [f.strip("/") for f in (force or [])]
    existed = dest.exists()
    if existed and not dest.is_dir():
        raise InvalidInput(f"{dest} exists and is not a folder; --to takes a folder")
    base = dest.resolve()
    manifest = CheckoutManifest.load(base) if existed else None
    if manifest is not None and manifest.owner != owner:
        if prune:
            raise InvalidInput(f"{dest} holds a checkout of {manifest.owner}, not of {owner}; --prune removes only "
                               f"files an earlier checkout of {owner} wrote")
        manifest = None
    others = list(_user_files(base)) if existed and prune else []
    if prune and manifest is None and others:
        raise InvalidInput(
            f"{dest} holds files but no checkout manifest ({MANIFEST_NAME}); --prune removes only files an earlier "
            f"'mk data checkout' of {owner} wrote there",
            hint="check out into a new or empty folder, or drop --prune",
        )
    files = version_files(repo, root, file_name)
    targets = {rel: _safe_target(base, rel) for rel in files}
    to_write: list[tuple[str, Path, TreeEntry]] = []
    current: dict[str, os.stat_result] = {}  # files already holding the version, with their stat
    previous: dict[str, tuple[Path, str]] = {}  # files to replace that hold a known chunked file
    conflicts: list[str] = []
    for rel, entry in files.items():
        target = targets[rel]
        if not os.path.lexists(target):
            to_write.append((rel, target, entry))
            continue
        st = _up_to_date(target, entry, cache, manifest.files.get(rel) if manifest is not None else None)
        if st is not None:
            current[rel] = st
        elif target.is_dir() and not target.is_symlink():
            conflicts.append(f"{rel} (a folder where the version has a file)")
        elif manifest is not None and manifest.unchanged(rel, target):
            to_write.append((rel, target, entry))
            row = manifest.files[rel]
            if row[3] == "chunked" and entry.kind == "chunked":
                previous[rel] = (target, str(row[4]))  # ours and unchanged: its shared chunks are near
        elif _forced(rel, force):
            to_write.append((rel, target, entry))
        else:
            conflicts.append(rel)
    if conflicts:
        shown = ", ".join(conflicts[:10]) + (f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
        raise Conflict(
            f"checkout of {version} would overwrite files in {dest} that it did not write or that changed since: {shown}",
            hint="move them away, or name them with --force PATH to overwrite them",
        )
    remove: list[tuple[str, Path]] = []
    kept: list[str] = []
    for rel, path in others:
        if rel in files:
            continue
        if (manifest is not None and manifest.unchanged(rel, path)) or _forced(rel, force):
            remove.append((rel, path))
        else:
            kept.append(rel)

    staged = _stage(repo, base, to_write, progress, created=not existed, previous=previous)
    try:
        for folder in sorted({target.parent for _, target, _ in to_write}):
            folder.mkdir(parents=True, exist_ok=True)
        removers = []
        for (rel, target, entry), tmp in zip(to_write, staged.files, strict=True):
            remover = _move_aside(target, entry.size)
            if remover is not None:
                removers.append(remover)
            elif target.is_symlink():
                target.unlink()
            current[rel] = os.stat(tmp)  # the inode and times survive the rename
            os.replace(tmp, target)
        for _rel, path in remove:
            path.unlink(missing_ok=True)
        for folder in sorted({p.parent for _, p in remove}, key=lambda p: len(p.parts), reverse=True):
            while folder != base and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
        for thread in removers:
            thread.join()
    finally:
        if staged.folder is not None:
            shutil.rmtree(staged.folder, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)  # an empty version still leaves its (empty) checkout
    new = CheckoutManifest(owner, version)
    if manifest is not None and not prune:  # files an earlier checkout wrote stay ours while unchanged
        for rel, row in manifest.files.items():
            if rel not in files and manifest.unchanged(rel, base / rel):
                new.files[rel] = row
    for rel, entry in files.items():
        new.files[rel] = [*_stat_key(current[rel]), entry.kind, entry.id]
    new.save(base)
    return CheckoutResult(len(files), len(to_write), sorted(rel for rel, _ in remove), sorted(kept))


@dataclass
class _Staged:
    folder: Path | None  # None: nothing to write
    files: list[Path]


def _stage(repo: Repository, base: Path, to_write: list[tuple[str, Path, TreeEntry]],
           progress: Callable[[int], None] | None, *, created: bool,
           previous: dict[str, tuple[Path, str]] | None = None) -> _Staged:
    if not to_write:
        return _Staged(None, [])
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=base))
    paths = [folder / str(i) for i in range(len(to_write))]
    try:
        staged_from = {path: previous[rel] for path, (rel, _, _) in zip(paths, to_write, strict=True)
                       if previous and rel in previous}
        _write_entries(repo, [(path, entry) for path, (_, _, entry) in zip(paths, to_write, strict=True)], progress,
                       staged_from)
    except NotFound as exc:
        _discard(folder, base if created else None)
        raise _unreadable(exc) from exc
    except IntegrityError as exc:
        _discard(folder, base if created else None)
        raise IntegrityError(f"{exc}; nothing in the folder was changed", hint=exc.hint) from exc
    except BaseException:
        _discard(folder, base if created else None)
        raise
    return _Staged(folder, paths)


def _discard(folder: Path, created: Path | None) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    if created is not None:
        try:
            created.rmdir()  # it did not exist before: leave no empty folder behind
        except OSError:
            pass
