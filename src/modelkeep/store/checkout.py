"""Materializing stored files and trees on disk.

Every file is written fresh (temp file in the destination folder, then rename), from verified
chunks: a materialized file never shares bytes with the store or with another checkout, so a
later write to it cannot change stored data. (Packs hold compressed chunks, so there is
nothing a reflink or hardlink could point at.)
"""

from __future__ import annotations

import os
import stat as stat_mod
import threading
from collections.abc import Callable
from pathlib import Path

from modelkeep.errors import IntegrityError, InvalidInput
from modelkeep.store.format import TreeEntry, object_id
from modelkeep.store.ingest import StatCache
from modelkeep.store.repository import Repository

LARGE = 64 << 20  # files above this size are replaced with the unlink in the background


def _safe_target(dest: Path, rel: str) -> Path:
    target = (dest / rel).resolve()
    if target != dest and dest not in target.parents:
        raise IntegrityError(f"a stored path escapes its folder: {rel!r}")
    return target


def write_file(repo: Repository, entry: TreeEntry, target: Path, progress: Callable[[int], None] | None = None) -> None:
    """Write one file via a temporary name; a file it replaces is unlinked in the background
    meanwhile (freeing a large file's blocks takes as long as writing them, so overlap them)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.mk-tmp")
    remover = None
    if target.exists() and entry.size > LARGE:
        old = target.with_name(f".{target.name}.mk-old")
        os.replace(target, old)
        remover = threading.Thread(target=old.unlink, kwargs={"missing_ok": True}, daemon=True)
        remover.start()
    try:
        with open(tmp, "wb") as handle:
            for data in repo.iter_file(entry.kind, entry.id):
                handle.write(data)
                if progress:
                    progress(len(data))
        os.chmod(tmp, entry.mode or 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if remover is not None:
            remover.join()


def _write_bytes(target: Path, data: bytes, mode: int) -> None:
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


def _up_to_date(target: Path, entry: TreeEntry, cache: StatCache | None) -> bool:
    """Whether ``target`` already holds exactly ``entry`` (so a checkout may leave it alone)."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return False
    if not stat_mod.S_ISREG(st.st_mode) or st.st_size != entry.size:
        return False
    if cache is not None and cache.lookup(target, st) == (entry.kind, entry.id):
        return True
    if entry.kind == "blob":
        with open(target, "rb") as handle:
            return object_id(handle.read()) == entry.id
    return False


def materialize(
    repo: Repository,
    root: TreeEntry,
    dest: Path,
    progress: Callable[[int], None] | None = None,
    cache: StatCache | None = None,
    prune: bool = False,
) -> int:
    """Write a file entry to ``dest`` or a tree's files under the folder ``dest``; returns files written.

    Small files (one object each) are read in store order, a pack span at a time, and decoded on
    a thread pool, whatever order the tree lists them in; large files stream chunk by chunk.
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
    if prune:  # make the folder exactly the version: remove files it does not hold
        wanted = {target for target, _ in files}
        for folder, _dirs, names in os.walk(base):
            for name in names:
                path = Path(folder) / name
                if path not in wanted:
                    path.unlink()
    files = [(t, e) for t, e in files if not _up_to_date(t, e, cache)]  # switch versions in place
    for folder in sorted({target.parent for target, _ in files}):
        folder.mkdir(parents=True, exist_ok=True)
    small = sorted(
        ((t, e) for t, e in files if e.kind == "blob"),
        key=lambda f: (repo.entry(f[1].id).pack, repo.entry(f[1].id).offset),
    )
    for (target, entry), data in zip(small, repo.get_many([e.id for _, e in small]), strict=True):
        _write_bytes(target, data, entry.mode)
        if progress:
            progress(len(data))
    for target, entry in files:
        if entry.kind != "blob":
            write_file(repo, entry, target, progress)
    return total
