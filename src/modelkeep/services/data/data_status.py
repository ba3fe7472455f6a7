"""``mk data status``: what ``add`` would record, compared with the latest version.

Kept free of SQLAlchemy and pydantic imports: on a SQLite registry the latest version is read
with the standard library (``meta.sqlite_fast``), so a no-change status of a 5,000-file folder
costs little more than process start-up. Only files the stat cache cannot vouch for are read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput
from modelkeep.store import folder_watch
from modelkeep.store.format import ObjectId, TreeEntry
from modelkeep.store.ingest import Ingestor, StatCache, scan, scan_within
from modelkeep.store.repository import Repository
from modelkeep.store.status_index import StatusIndex, index_path


def compare_files(old: Mapping[str, Any], new: Mapping[str, Any],
                  id_of: Callable[[Any], str] = lambda entry: entry.id) -> dict[str, Any]:
    """Files added, removed and modified between two ``path -> entry`` maps (entries with ``size``;
    ``id_of`` reads their content id: ``TreeEntry.id`` by default, ``FileEntry.object_id`` too)."""
    added = [{"path": p, "size": new[p].size} for p in sorted(set(new) - set(old))]
    removed = [{"path": p, "size": old[p].size} for p in sorted(set(old) - set(new))]
    modified = [
        {"path": p, "size_a": old[p].size, "size_b": new[p].size}
        for p in sorted(set(old) & set(new))
        if id_of(old[p]) != id_of(new[p])
    ]
    return {"added": added, "removed": removed, "modified": modified, "clean": not (added or removed or modified)}


def recorded_files(repo: Repository, name: str, digest: str, root_kind: str, source: str, size: int) -> dict[str, TreeEntry]:
    """``path -> entry`` of a version (a single-file version holds its file under its name)."""
    if root_kind != "tree":
        file_name = Path(source).name or name
        return {file_name: TreeEntry(file_name, root_kind, ObjectId(digest), size)}
    return dict(repo.walk(digest))


def status_of(
    repo: Repository, cache: StatCache, name: str, latest: dict[str, Any], path: Path | None = None
) -> dict[str, Any]:
    """Compare ``path`` (default: the latest version's source) with ``latest`` (number, digest,
    root_kind, source, bytes): in one scan when the folder's status index is of that version
    (``store.status_index``), reading only what changed when a watcher of the folder vouches for the
    rest (``store.folder_watch``), else by computing every file's id and reading the version's tree."""
    source = Path(path) if path is not None else Path(latest["source"])
    status_dir = cache.path.parent / "status" if cache.path is not None else None
    kept = index_path(cache.path.parent, source) if cache.path is not None and source.is_dir() else None
    index = StatusIndex.load(kept) if kept is not None and latest["root_kind"] == "tree" else None
    where = {"version": f"{name}@{latest['number']}", "path": str(source)}
    started = time.time()
    if kept is not None and index is not None and index.digest == latest["digest"]:
        watched = folder_watch.changed_since(status_dir, source, index.watch)
        if watched is None:
            watch = folder_watch.token(status_dir, source)  # before the scan: what changes during it is after

        def hash_file(rel: str) -> TreeEntry:  # only for files whose stat moved (read now: they are few)
            found = scan_within(source, rel)
            if len(found) != 1:
                raise InvalidInput(f"{source / rel} changed while the status read it; run the status again")
            return ingest.add_file(found[0])

        with Ingestor(repo, None, dry_run=True) as ingest:  # (the index is this folder's stat cache)
            if watched is None:
                changes, refreshed = index.compare([(i.rel, i.st) for i in scan(source)], hash_file, started)
            else:
                changed, watch = watched
                changes, refreshed = index.compare_changed(source, changed, hash_file, started)
        # a token is kept only with a clean answer: every file's stat is then the one recorded
        if refreshed or (changes["clean"] and watch is not None and watch != index.watch):
            index.watch = watch if changes["clean"] else index.watch
            index.save(kept)
        return changes | where | ({"watched": True} if watched is not None else {})
    watch = folder_watch.token(status_dir, source) if kept is not None else None
    items = scan(source)
    with Ingestor(repo, cache, dry_run=True) as ingest:
        if source.is_dir():
            current = ingest.add_files(items)
        else:
            current = {Path(latest["source"]).name or name: ingest.add_file(items[0])}
    recorded = recorded_files(repo, name, latest["digest"], latest["root_kind"], latest["source"], latest["bytes"])
    result = compare_files(recorded, current)
    if kept is not None and result["clean"] and latest["root_kind"] == "tree":  # the next status takes one scan
        StatusIndex.of(latest["digest"], ((i.rel, i.st, current[i.rel]) for i in items), started, watch).save(kept)
    return result | where


def fast_status(name: str, path: Path | None = None) -> dict[str, Any] | None:
    """Status without opening the full workspace, or None when the fast path does not apply."""
    from modelkeep.config import find_root, load_config
    from modelkeep.meta.sqlite_fast import latest_dataset_version
    from modelkeep.store.backends import open_backend

    config = load_config(find_root())
    if config.get("store.compression") is not None:
        pass  # compression does not change ids; nothing to apply for a dry run
    latest = latest_dataset_version(config.db_url, name)
    if latest is None:
        return None
    repo = Repository.open(open_backend(config.store_url))
    return status_of(repo, StatCache(config.cache_dir / "stat.db"), name, latest, path)


def watch_folder(folder: Path | None, *, stop: bool = False) -> dict[str, Any]:
    """Start (or ``stop``) the watcher of a data folder (``store.folder_watch``) for this repository;
    without a folder, the running watchers (stopped with ``stop``)."""
    from modelkeep.config import find_root, load_config

    status_dir = load_config(find_root()).cache_dir / "status"
    if folder is None:
        watchers = [{"folder": w.get("folder"), "pid": w.get("pid"), "folders_watched": w.get("folders_watched")}
                    for w in folder_watch.running(status_dir)]
        if stop:
            for watcher in watchers:
                watcher["stopped"] = folder_watch.stop(status_dir, Path(str(watcher["folder"])))
        return {"watchers": watchers}
    where = str(Path(folder).resolve())
    if stop:
        return {"folder": where, "stopped": folder_watch.stop(status_dir, folder)}
    answer = folder_watch.start(status_dir, folder)
    return {"folder": where, "started": answer["started"], "pid": answer.get("pid"),
            "folders_watched": answer.get("folders_watched")}
