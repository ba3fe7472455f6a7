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
from typing import Any

from modelkeep.errors import IntegrityError, InvalidInput
from modelkeep.store.batch_reads import pwrite_all
from modelkeep.store.format import TreeEntry, object_id
from modelkeep.store.ingest import StatCache
from modelkeep.store.repository import Repository

LARGE = 64 << 20  # files above this size are replaced with the unlink in the background


def _safe_target(dest: Path, rel: str) -> Path:
    target = (dest / rel).resolve()
    if target != dest and dest not in target.parents:
        raise IntegrityError(f"a stored path escapes its folder: {rel!r}")
    return target


def placer(dest: Path) -> Callable[[str], Path]:
    """Where each stored path goes under ``dest`` (resolved): its folder resolved once for all its
    files (a symbolic link on the way must not lead outside ``dest``), its name checked. Resolving
    each file's path cost several ``lstat`` calls a file: 600,000 for a checkout of 100,000 files."""
    folders: dict[str, Path] = {"": dest}

    def place(rel: str) -> Path:
        parent, _, name = rel.rpartition("/")
        if name in ("", ".", ".."):
            raise IntegrityError(f"a stored path escapes its folder: {rel!r}")
        folder = folders.get(parent)
        if folder is None:
            folder = folders[parent] = _safe_target(dest, parent)
        return folder / name

    return place


def move_aside(target: Path, size: int) -> threading.Thread | None:
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
    remover = move_aside(target, entry.size)
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
    if fd >= 0:  # written by the descriptor: a buffered file object costs three more system calls a file
        try:
            pwrite_all(fd, data, 0)
        finally:
            os.close(fd)
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


def write_entries(
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


def up_to_date(
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
    if recorded is not None and stat_key(st) == recorded[:3] and recorded[3:5] == [entry.kind, entry.id]:
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
    place = placer(base)
    files = [(place(rel), entry) for rel, entry in repo.walk(root.id)]
    total = len(files)
    files = [(t, e) for t, e in files if up_to_date(t, e, cache) is None]
    for folder in sorted({target.parent for target, _ in files}):
        folder.mkdir(parents=True, exist_ok=True)
    write_entries(repo, files, progress)
    return total


def stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]
