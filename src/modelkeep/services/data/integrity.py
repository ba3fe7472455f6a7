"""``mk verify``: check every object the registry can reach, and say what damage affects.

Every reachable object is read and hashed (``sample`` checks a random share of the objects
instead). A damaged or missing object is never returned as data; the report names the object
and every dataset and model version whose content reaches it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from modelkeep.errors import IntegrityError, InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.services.data.roots import Root, registry_roots, resolve_kind
from modelkeep.store.format import FLAG_DELTA, IndexEntry
from modelkeep.store.repository import Repository

DELTA_BATCH = 256  # deltas checked together: their bases are read in a few requests


def _reach(repo: Repository, kind: str, oid: str, seen: set[str], damaged: dict[str, str]) -> None:
    """Like Repository.reachable, but a tree or manifest that cannot be read is damage, not a crash."""
    if oid in seen:
        return
    seen.add(oid)
    try:
        if kind == "tree":
            for entry in repo.read_tree(oid):
                _reach(repo, entry.kind, entry.id, seen, damaged)
        elif kind == "chunked":
            parts, rows = repo.manifest_with_parts(oid)
            chunks = [c for c, _ in rows]
            seen.update(parts, chunks)
            repo.add_bases(chunks, seen)  # a delta is read through its bases: they are reachable too
        else:
            repo.add_bases([oid], seen)
    except (IntegrityError, NotFound) as exc:
        damaged[oid] = str(exc)


def _check(repo: Repository, oids: list[str], damaged: dict[str, str], progress: Callable[[int], None] | None) -> None:
    """Read and hash ``oids`` in pack order, neighbours coalesced into one request (a remote store
    reads windows: a few requests per pack, not one per object); a pack that cannot be read sends
    its objects to be checked one by one, so each damaged object is named."""
    index = repo.index
    for oid in oids:
        if oid not in index:
            damaged[oid] = f"{oid} is not in the store {repo.backend.url}"
    present = sorted((o for o in oids if o in index), key=repo.position)
    done: set[str] = set()
    waiting: list[tuple[str, IndexEntry, memoryview]] = []  # deltas, checked a batch at a time

    def check(members: list[tuple[str, IndexEntry, memoryview]]) -> None:
        try:
            near = repo.bases_of(members)  # the batch's bases read together, not one request each
        except (IntegrityError, NotFound):
            near = None  # a damaged base is named when it is checked itself; here each delta alone
        for oid, entry, stored in members:
            try:
                data = repo.decode(oid, entry, stored, near)
            except (IntegrityError, NotFound) as exc:
                damaged[oid] = str(exc)
                continue
            if progress:
                progress(len(data))

    try:
        for oid, entry, stored in repo.iter_stored(present):
            done.add(oid)
            if entry.flags & FLAG_DELTA:
                waiting.append((oid, entry, memoryview(stored)))
                if len(waiting) >= DELTA_BATCH:
                    check(waiting)
                    waiting = []
                continue
            check([(oid, entry, memoryview(stored))])
        check(waiting)
    except (IntegrityError, NotFound):  # a pack gone or cut short: object by object, naming each
        for oid in present:
            if oid in done:
                continue
            try:
                data = repo.get(oid)
            except (IntegrityError, NotFound) as exc:
                damaged[oid] = str(exc)
                continue
            if progress:
                progress(len(data))


def verify(
    db: Database, repo: Repository, *, sample: float | None = None, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    if sample is not None and not 0 < sample <= 100:
        raise InvalidInput(f"--sample takes a percentage in (0, 100], got {sample}")
    repo.refresh_index()
    damaged: dict[str, str] = {}
    reach: dict[Root, set[str]] = {}
    for root in registry_roots(db):
        seen: set[str] = set()
        try:
            kind = resolve_kind(repo, root)
        except NotFound as exc:
            damaged[root.digest] = str(exc)
            reach[root] = {root.digest}
            continue
        _reach(repo, kind, root.digest, seen, damaged)
        reach[root] = seen
    everything = sorted(set().union(*reach.values())) if reach else []
    to_check = everything
    if sample is not None and sample < 100:
        count = max(1, round(len(everything) * sample / 100)) if everything else 0
        to_check = sorted(random.sample(everything, count))
    _check(repo, [oid for oid in to_check if oid not in damaged], damaged, progress)
    affected = sorted({root.owner for root, ids in reach.items() if damaged.keys() & ids})
    return {
        "ok": not damaged,
        "checked": len(to_check),
        "reachable": len(everything),
        "damaged": [{"object": oid, "error": err} for oid, err in sorted(damaged.items())],
        "affected": affected,
    }
