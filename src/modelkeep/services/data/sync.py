"""``mk push`` / ``mk pull``: move the objects the registry references to or from a remote store.

A remote is a name in the config (``remote.NAME = URL``; ``origin`` by default) or a URL.
Only missing objects move. After a push, the roots known to be complete in the remote are
remembered together with the remote's index listing; when neither the roots nor the listing
changed, a push is a single LIST request.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelkeep.config import RepoConfig
from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.data.roots import Root, resolve_kind
from modelkeep.store.backends import open_backend
from modelkeep.store.format import object_id
from modelkeep.store.leases import compact_journal, journal, leased, publish_references
from modelkeep.store.repository import Repository
from modelkeep.store.transfer import copy_objects


def remote_url(config: RepoConfig, remote: str | None) -> tuple[str, str]:
    """(name, URL) of a remote given by name or URL."""
    name = remote or "origin"
    if "://" in name or name.startswith(("/", ".")):
        return "url-" + object_id(name.encode())[:16], name
    url = config.get(f"remote.{name}")
    if not url:
        raise NotFound(f"no remote named {name!r}", hint=f"set one with 'mk config set remote.{name} URL'")
    return name, url


class RemoteState:
    """What the last push knew of a remote: its index listing and the roots complete in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        self.indexes: list[str] = data.get("indexes", [])
        self.roots: set[str] = set(data.get("roots", []))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"indexes": self.indexes, "roots": sorted(self.roots)}))
        os.replace(tmp, self.path)


def _listing(repo: Repository) -> list[str]:
    return sorted(key.rsplit("/", 1)[-1] for key in repo.backend.list("index/"))


def push(
    config: RepoConfig, roots: list[Root], local: Repository, remote: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Copy what ``roots`` reach (the registry's roots) to the remote; only missing objects move."""
    name, url = remote_url(config, remote)
    target = Repository.open(open_backend(url), create=True)
    state = RemoteState(config.cache_dir / f"remote-{name}.json")
    listing = _listing(target)
    todo = [r for r in roots if r.digest not in state.roots] if listing == state.indexes else roots
    if not todo:
        return {"remote": name, "url": url, "objects": 0, "bytes": 0, "roots": len(roots)}
    ids: set[str] = set()
    for root in todo:
        local.reachable(resolve_kind(local, root), root.digest, ids)
    target.registry_id = local.registry_id
    started, listed = time.time(), journal(target)
    with leased(target, "push") as lease:  # the remote's gc keeps what this push relies on
        stats = copy_objects(local, target, ids, progress=progress)
        for root in todo:
            lease.record(root.kind, root.digest)
    if local.registry_id:  # the roots this registry holds in the remote, for the remote's own gc
        publish_references(target, local.registry_id, [(r.kind, r.digest) for r in roots], started)
        compact_journal(target, local.registry_id, listed, started)  # earlier pushes: covered by this set
    state.indexes = _listing(target)
    state.roots |= {r.digest for r in roots}
    state.save()
    return {"remote": name, "url": url, "objects": stats.objects, "bytes": stats.bytes, "roots": len(roots)}


def pull(
    config: RepoConfig, roots: list[Root], local: Repository, remote: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Fetch from the remote what ``roots`` reach and this store lacks, verifying each object."""
    name, url = remote_url(config, remote)
    try:
        source = Repository.open(open_backend(url))
    except NotFound as exc:
        raise InvalidInput(f"remote {name} ({url}) holds no modelkeep store yet; push to it first") from exc
    ids: set[str] = set()
    missing_roots = []
    for root in roots:
        if root.digest in source.index or source.writer.pending(root.digest):  # type: ignore[arg-type]
            source.reachable(resolve_kind(source, root), root.digest, ids)
        elif not local.has(root.digest):  # type: ignore[arg-type]
            missing_roots.append(root.owner)
    with leased(local, "pull"):
        stats = copy_objects(source, local, ids, verify=True, progress=progress)
    return {"remote": name, "url": url, "objects": stats.objects, "bytes": stats.bytes, "unavailable": missing_roots}
