"""Sweeping unreferenced objects out of a store, in two phases a grace period apart.

Phase 1 (**condemn**): the objects no live version references are written down with the pack
each sits in (``gc/condemned``, one JSON document in the store, so every process and every
repository sharing the store sees it). From then on a writer that would reuse one of them
(dedup: ``Repository.has``) stores a fresh copy instead, in a new pack — so nothing that starts
after the list exists can come to depend on a condemned copy.

Phase 2 (**sweep**, at least a grace period later, when whatever started before phase 1 has
finished): with the live set computed again, a condemned copy is deleted if its object is still
unreferenced, or if a fresh copy exists elsewhere. An object that became live in between without
a fresh copy (its writer started before phase 1) is kept. A pack whose objects all go is deleted
(index first, so no reader finds an index entry without its pack); a pack that keeps some and is
more than ``REPACK_ABOVE`` dead is rewritten — its live objects copied into a new pack, written
and indexed before the old pack goes. A crash at any point leaves every live object readable.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from modelkeep.errors import NotFound
from modelkeep.store import leases
from modelkeep.store.format import ObjectId
from modelkeep.store.repository import Repository

CONDEMNED_KEY = "gc/condemned"
_steps = 0


def crash_point() -> None:
    """Fault injection for the crash tests: ``MODELKEEP_GC_CRASH_AT=N`` ends the process at once
    (as ``kill -9`` would) at the Nth step of a sweep that changes the store."""
    global _steps
    at = os.environ.get("MODELKEEP_GC_CRASH_AT")
    if at:
        _steps += 1
        if _steps == int(at):
            os._exit(137)


REPACK_ABOVE = 0.2  # dead fraction of a pack above which its live objects are copied out


@dataclass
class SweepResult:
    condemned_at: str | None = None  # the list acted upon (None: none was due)
    deleted_packs: int = 0
    repacked_packs: int = 0
    objects_deleted: int = 0
    bytes_freed: int = 0
    kept_revived: int = 0  # condemned, but live again without a fresh copy: kept
    condemned_now: int = 0
    condemned_bytes: int = 0
    waiting_on: list[dict[str, Any]] = field(default_factory=list)  # leases older than the list, still open

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Condemned:
    at: datetime
    objects: dict[str, str]  # object -> the pack of its condemned copy
    leases: list[str]  # leases open just after the list was published: it is acted on once they are gone


def register_registry(repo: Repository, registry_id: str, roots: Callable[[], list[tuple[str, str]]]) -> None:
    """Publish this registry's reference set in its store if it has none there yet (its first
    use, or a mark an older version left): every gc of the store then keeps what it references."""
    repo.registry_id = registry_id
    try:
        if repo.backend.size(leases.REGISTRIES + registry_id) > 2:  # a set, not an older version's ``{}``
            return
    except NotFound:
        pass
    leases.publish_references(repo, registry_id, roots(), time.time())


def read_condemned(repo: Repository) -> Condemned | None:
    try:
        doc = json.loads(repo.backend.get(CONDEMNED_KEY))
    except (NotFound, FileNotFoundError):
        return None
    return Condemned(datetime.fromisoformat(doc["at"]), dict(doc["objects"]), doc.get("leases"))


def condemn(repo: Repository, live: set[str], now: datetime) -> tuple[int, int]:
    """Phase 1: write down every indexed object outside ``live`` (with its pack), then the leases
    open at that moment; (count, bytes). A writer leasing later reads the list before any lookup."""
    repo.refresh_index()
    objects = {oid: entry.pack for oid, entry in repo.index.items() if oid not in live}
    size = sum(repo.index[ObjectId(oid)].stored_length for oid in objects)
    doc: dict[str, Any] = {"at": now.isoformat(), "objects": objects}
    repo.backend.put(CONDEMNED_KEY, json.dumps(doc).encode())  # no "leases" yet: a list never acted on
    doc["leases"] = sorted(leases.open_leases(repo, leases.epoch(now)))
    repo.backend.put(CONDEMNED_KEY, json.dumps(doc).encode())
    repo.load_condemned()
    return len(objects), size


class SweepProgress(Protocol):
    def set_total(self, n: int) -> None: ...

    def advance(self, n: int) -> None: ...


def sweep(repo: Repository, live: Callable[[], set[str]], now: datetime, grace_s: float,
          progress: SweepProgress | None = None) -> SweepResult:
    """Phase 2 on the list written at least ``grace_s`` ago (if any, and once the leases open when
    it was written are gone), then phase 1 anew.

    ``live()``: every object referenced by anything that must stay — computed after the leases
    are found gone, so it includes whatever their writers committed."""
    result = SweepResult()
    previous = read_condemned(repo)
    repo.refresh_index()
    if previous is not None and previous.leases is None:
        previous = None  # written by a gc that stopped before naming the leases: never acted on
    current: set[str] | None = None
    if previous is not None and (now - previous.at).total_seconds() >= grace_s:
        result.waiting_on = leases.still_open(repo, previous.leases, leases.epoch(now))
        if result.waiting_on:
            return result
        current = live()
        _act_and_clear(repo, current, previous, result, progress)
    if previous is None or result.condemned_at is not None:
        result.condemned_now, result.condemned_bytes = condemn(repo, current if current is not None else live(), now)
        listed = read_condemned(repo)
        if grace_s <= 0 and result.condemned_now and listed and listed.leases is not None:  # no grace: at once
            result.waiting_on = leases.still_open(repo, listed.leases, leases.epoch(now))
            if not result.waiting_on:
                crash_point()
                _act_and_clear(repo, live(), listed, result, progress)
                result.condemned_now = result.condemned_bytes = 0
    return result


def _act_and_clear(repo: Repository, live: set[str], listed: Condemned, result: SweepResult,
                   progress: SweepProgress | None = None) -> None:
    """Phase 2 on one list, then the list goes (after the work: a crash before leaves it to redo)."""
    result.condemned_at = listed.at.isoformat()
    _act(repo, live, listed.objects, result, progress)
    crash_point()
    repo.backend.delete(CONDEMNED_KEY)
    repo.load_condemned()


def _act(repo: Repository, live: set[str], condemned: dict[str, str], result: SweepResult,
         progress: SweepProgress | None = None) -> None:
    from modelkeep.store.packs import index_key, pack_key

    for pack in set(condemned.values()):  # a sweep that crashed between a pack's index and the pack itself
        try:
            repo.backend.size(index_key(pack))
        except NotFound:
            try:
                repo.backend.delete(pack_key(pack))
            except NotFound:
                pass
    index = repo.index
    by_pack: dict[str, list[ObjectId]] = defaultdict(list)
    for member, where in index.items():
        by_pack[where.pack].append(member)
    doomed: dict[str, set[str]] = defaultdict(set)  # pack -> objects whose copy there goes
    for oid, pack in condemned.items():
        entry = index.get(ObjectId(oid))
        if entry is None:
            continue  # gone already (another sweep, or a crash after deleting its pack)
        if entry.pack != pack:
            doomed[pack].add(oid)  # a fresh copy lives elsewhere: this one is a spare
        elif oid in live:
            result.kept_revived += 1  # referenced again by a writer that began before the list
        else:
            doomed[pack].add(oid)
    if progress is not None:  # the bytes of every pack this sweep looks at
        progress.set_total(sum(index[oid].stored_length for pack in doomed for oid in by_pack.get(pack, [])))
    for pack, gone in doomed.items():
        members = by_pack.get(pack, [])
        keep = [oid for oid in members if oid not in gone]
        total = sum(index[oid].stored_length for oid in members)
        if progress is not None:
            progress.advance(total)
        freed = sum(index[ObjectId(oid)].stored_length for oid in gone if ObjectId(oid) in index)
        crash_point()
        if not keep:
            repo.delete_pack(pack)
            result.deleted_packs += 1
        elif total and freed / total > REPACK_ABOVE:
            for oid in keep:  # copied into a new pack, written and indexed before the old one goes
                entry, stored = repo.get_stored(oid)
                repo.writer.add(oid, entry.type, entry.flags, stored, entry.raw_length)
            repo.flush()
            crash_point()
            repo.delete_pack(pack)
            result.repacked_packs += 1
        else:
            continue  # mostly live: left as it is (condemned again below, swept when it is worth it)
        result.objects_deleted += len(gone)
        result.bytes_freed += freed
