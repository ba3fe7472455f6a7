"""Materializing stored files and trees on disk.

Every file is written fresh (temp file in the destination folder, then rename), from verified
chunks: a materialized file never shares bytes with the store or with another checkout, so a
later write to it cannot change stored data. (Packs hold compressed chunks, so there is
nothing a reflink or hardlink could point at.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from modelkeep.errors import IntegrityError, InvalidInput
from modelkeep.store.format import TreeEntry
from modelkeep.store.repository import Repository


def _safe_target(dest: Path, rel: str) -> Path:
    target = (dest / rel).resolve()
    if target != dest and dest not in target.parents:
        raise IntegrityError(f"a stored path escapes its folder: {rel!r}")
    return target


def write_file(repo: Repository, entry: TreeEntry, target: Path, progress: Callable[[int], None] | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.mk-tmp")
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


def materialize(repo: Repository, root: TreeEntry, dest: Path, progress: Callable[[int], None] | None = None) -> int:
    """Write a file entry to ``dest`` or a tree's files under the folder ``dest``; returns files written."""
    if root.kind != "tree":
        write_file(repo, root, dest, progress)
        return 1
    if dest.exists() and not dest.is_dir():
        raise InvalidInput(f"{dest} exists and is not a folder")
    dest.mkdir(parents=True, exist_ok=True)
    base = dest.resolve()
    count = 0
    for rel, entry in repo.walk(root.id):
        write_file(repo, entry, _safe_target(base, rel), progress)
        count += 1
    return count
