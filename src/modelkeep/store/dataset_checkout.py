"""Dataset checkouts into a user's folder: a manifest of what a checkout wrote, every file staged
(read and verified) before anything in the folder is touched, and nothing lost that is not ours.
Writing the files themselves is ``store.checkout``'s."""

from __future__ import annotations

import json
import os
import shutil
import stat as stat_mod
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelkeep.errors import Conflict, IntegrityError, InvalidInput, NotFound
from modelkeep.store.checkout import move_aside, placer, stat_key, up_to_date, write_entries
from modelkeep.store.format import TreeEntry, object_id
from modelkeep.store.ingest import MANIFEST_NAME, STAGING_PREFIX, StatCache
from modelkeep.store.repository import Repository


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
        if stat_key(st) == row[:3]:
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
       staging folder inside ``dest`` (beside it, where ``dest`` does not exist yet); any failure
       removes the staging folder and leaves ``dest`` exactly as it was.
    3. Commit: staged files are renamed into place, pruned files removed, the manifest written
       (a new ``dest`` is the staging folder renamed whole, manifest included).
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
    if not existed:
        return _fresh(repo, base, files, progress, owner, version)
    place = placer(base)
    targets = {rel: place(rel) for rel in files}
    to_write: list[tuple[str, Path, TreeEntry]] = []
    current: dict[str, os.stat_result] = {}  # files already holding the version, with their stat
    previous: dict[str, tuple[Path, str]] = {}  # files to replace that hold a known chunked file
    conflicts: list[str] = []
    for rel, entry in files.items():
        target = targets[rel]
        if not os.path.lexists(target):
            to_write.append((rel, target, entry))
            continue
        st = up_to_date(target, entry, cache, manifest.files.get(rel) if manifest is not None else None)
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

    staged = _stage(repo, base, to_write, progress, previous=previous)
    try:
        for folder in sorted({target.parent for _, target, _ in to_write}):
            folder.mkdir(parents=True, exist_ok=True)
        removers = []
        for (rel, target, entry), tmp in zip(to_write, staged.files, strict=True):
            remover = move_aside(target, entry.size)
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
    new = CheckoutManifest(owner, version)
    if manifest is not None and not prune:  # files an earlier checkout wrote stay ours while unchanged
        for rel, row in manifest.files.items():
            if rel not in files and manifest.unchanged(rel, base / rel):
                new.files[rel] = row
    for rel, entry in files.items():
        new.files[rel] = [*stat_key(current[rel]), entry.kind, entry.id]
    new.save(base)
    return CheckoutResult(len(files), len(to_write), sorted(rel for rel, _ in remove), sorted(kept))


def _fresh(repo: Repository, base: Path, files: dict[str, TreeEntry], progress: Callable[[int], None] | None,
           owner: str, version: str) -> CheckoutResult:
    """A checkout into a folder that does not exist yet: the files and the manifest are written into
    a staging folder beside it, which is then renamed to it whole (one rename, not one a file); any
    failure removes the staging folder, and the folder never appears."""
    base.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{base.name}-", dir=base.parent))
    try:
        place = placer(folder)
        staged = {rel: place(rel) for rel in files}
        for parent in sorted({path.parent for path in staged.values()}):
            parent.mkdir(parents=True, exist_ok=True)
        with _nothing_changed():
            write_entries(repo, [(staged[rel], entry) for rel, entry in files.items()], progress)
        manifest = CheckoutManifest(owner, version)
        for rel, entry in files.items():
            manifest.files[rel] = [*stat_key(os.stat(staged[rel])), entry.kind, entry.id]  # survive the rename
        manifest.save(folder)
        try:
            os.rename(folder, base)
        except OSError as exc:  # made meanwhile, and not empty
            raise Conflict(f"{base} appeared while it was being checked out; nothing in it was changed ({exc})") from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return CheckoutResult(len(files), len(files), [], [])


@dataclass
class _Staged:
    folder: Path | None  # None: nothing to write
    files: list[Path]


def _stage(repo: Repository, base: Path, to_write: list[tuple[str, Path, TreeEntry]],
           progress: Callable[[int], None] | None, previous: dict[str, tuple[Path, str]] | None = None) -> _Staged:
    """The files to write, read from the store into a staging folder inside ``base``; on any failure
    the staging folder is removed and ``base`` is as it was."""
    if not to_write:
        return _Staged(None, [])
    folder = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=base))
    paths = [folder / str(i) for i in range(len(to_write))]
    try:
        staged_from = {path: previous[rel] for path, (rel, _, _) in zip(paths, to_write, strict=True)
                       if previous and rel in previous}
        with _nothing_changed():
            write_entries(repo, [(path, entry) for path, (_, _, entry) in zip(paths, to_write, strict=True)], progress,
                           staged_from)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return _Staged(folder, paths)


@contextmanager
def _nothing_changed() -> Iterator[None]:
    """An object missing or damaged while staging, said as what it is: the folder was not touched."""
    try:
        yield
    except NotFound as exc:
        raise _unreadable(exc) from exc
    except IntegrityError as exc:
        raise IntegrityError(f"{exc}; nothing in the folder was changed", hint=exc.hint) from exc
