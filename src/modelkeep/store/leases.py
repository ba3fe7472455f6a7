"""Leases and reference journals: how writers and a garbage collection share a store with no lock.

A **lease** (``leases/<id>``) is written before a writer first looks for an object it could reuse
(``Repository.has``) and deleted when its work is committed. After writing it, the writer reads
the condemned list again, so it never reuses a copy condemned before its lease existed. A gc
writes down the leases open just after it publishes a condemned list, and acts on that list only
once they are all gone (or expired): whatever those writers relied on is committed by then, and
so in the live set the gc computes next.

A lease lives :data:`LEASE_TTL_S` and is renewed while its writer keeps writing packs; a writer
that died leaves one that expires, so a crash can hold a sweep back an hour at most. A lease is
renamed into place whole but not fsynced (``backends.put_while_alive``): other processes see it
at once, and a crash that loses it ends its writer as well, whose durable commits the gc then
reads as references (every API request took two fsyncs of lease and journal; now one).

A **journal entry** (``journal/<lease id>``) is written as a lease closes: the roots its writer
stored (file and tree roots, each covering what it reaches). Together with each registry's
**reference set** (``registries/<id>``: every root it holds, written by its own gc) they tell a
gc what every *other* registry using the store needs, so a store shared by several repositories
or servers keeps one reference set across all of them. Journal entries stay at least a grace
period, so content uploaded now and registered later (through a server) outlives a gc between.

A **scope** (:func:`lease_scope`: a command, an API request) keeps the leases its writes take
open until it ends, after its database commits; outside a scope a lease ends with its ingest.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelkeep.errors import NotFound
from modelkeep.store.backends import put_while_alive

if TYPE_CHECKING:
    from modelkeep.store.repository import Repository

LEASES = "leases/"
JOURNAL = "journal/"
REGISTRIES = "registries/"
LEASE_TTL_S = 3600.0
RENEW_AFTER_S = 600.0
SKEW_S = 300.0  # clocks of two machines may differ this much: an expiry counts only this late


def _now() -> float:
    return time.time()


def epoch(when: datetime) -> float:
    """Seconds since the epoch of a UTC time (naive datetimes in this project are UTC), the scale
    of leases' and journal entries' times."""
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@dataclass(eq=False)
class Lease:
    repo: Repository
    purpose: str
    id: str = field(default_factory=lambda: f"{int(_now() * 1000):013d}-{os.urandom(6).hex()}")
    roots: set[tuple[str, str]] = field(default_factory=set)
    renewed: float = 0.0
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key(self) -> str:
        return LEASES + self.id

    def open(self) -> Lease:
        self._write()
        self.repo.load_condemned()  # after the lease exists: a list published before it is seen now
        self.repo.leases.add(self)
        return self

    def _write(self) -> None:
        self.renewed = _now()
        doc = {"purpose": self.purpose, "registry": self.repo.registry_id, "pid": os.getpid(),
               "renewed": self.renewed, "expires": self.renewed + LEASE_TTL_S}
        put_while_alive(self.repo.backend, self.key, json.dumps(doc).encode())  # a crash ends its writer too

    def renew_if_due(self) -> None:
        if not self.closed and _now() - self.renewed > RENEW_AFTER_S:
            self._write()

    def record(self, kind: str, digest: str) -> None:
        """A root this writer stored (what it reaches is covered by it)."""
        with self.lock:
            self.roots.add((kind, str(digest)))

    def forget(self, digests: set[str]) -> None:
        """Roots now covered by a tree that lists them."""
        with self.lock:
            self.roots = {r for r in self.roots if r[1] not in digests}

    def close(self) -> None:
        """Journal the roots (before the lease goes: at no moment is neither there), then the lease."""
        if self.closed:
            return
        self.closed = True
        self.repo.leases.discard(self)
        if self.roots:
            doc = {"registry": self.repo.registry_id, "at": _now(), "roots": sorted(self.roots)}
            self.repo.backend.put(JOURNAL + self.id, json.dumps(doc).encode())
        self.repo.backend.delete(self.key)


class LeaseScope:
    """The leases taken by one command or request, one per store, closed when it ends."""

    def __init__(self) -> None:
        self.leases: dict[int, Lease] = {}
        self.lock = threading.Lock()
        self.closed = False

    def lease(self, repo: Repository, purpose: str) -> Lease:
        with self.lock:
            held = self.leases.get(id(repo))
            if held is None or held.closed:
                held = self.leases[id(repo)] = Lease(repo, purpose).open()
            return held

    def close(self) -> None:
        with self.lock:
            self.closed = True
            leases, self.leases = list(self.leases.values()), {}
        for held in leases:
            held.close()


_scope: ContextVar[LeaseScope | None] = ContextVar("modelkeep_lease_scope", default=None)


@contextmanager
def lease_scope() -> Iterator[LeaseScope]:
    """Leases taken inside stay open until the block ends (after what it commits)."""
    scope = LeaseScope()
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
        scope.close()


def begin_scope() -> Callable[[], None]:
    """A scope for the rest of this context (a command); call what it returns to end it."""
    scope = LeaseScope()
    token = _scope.set(scope)

    def end() -> None:
        try:
            _scope.reset(token)
        except ValueError:  # ended from another context: leave its variable alone
            pass
        scope.close()

    return end


def without_scope() -> None:
    """A long-running process (``mk server``, ``mk serve``) takes leases per request or per write,
    never for its whole life: drop the scope its command began."""
    _scope.set(None)


@contextmanager
def leased(repo: Repository, purpose: str) -> Iterator[Lease]:
    """A lease for one write: the scope's if there is one (it outlives the block), else its own."""
    scope = _scope.get()
    if scope is not None and not scope.closed:  # (a context may still show a scope that ended)
        yield scope.lease(repo, purpose)
        return
    held = Lease(repo, purpose).open()
    try:
        yield held
    finally:
        held.close()


# --- what a gc reads ----------------------------------------------------------------------


def _read(repo: Repository, key: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(repo.backend.get(key))
    except (NotFound, FileNotFoundError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def open_leases(repo: Repository, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Leases not expired, by id (an expired one is deleted: its writer is gone)."""
    now = _now() if now is None else now
    found = {}
    for key in list(repo.backend.list(LEASES)):
        doc = _read(repo, key)
        if doc is None:
            continue  # closed meanwhile
        if float(doc.get("expires", 0)) + SKEW_S < now:
            repo.backend.delete(key)
            continue
        found[key[len(LEASES):]] = doc
    return found


def still_open(repo: Repository, ids: list[str], now: float | None = None) -> list[dict[str, Any]]:
    """Of the leases ``ids``, those still open (not closed, not expired)."""
    now = _now() if now is None else now
    out = []
    for lease_id in ids:
        doc = _read(repo, LEASES + lease_id)
        if doc is not None and float(doc.get("expires", 0)) + SKEW_S >= now:
            out.append(doc | {"id": lease_id})
    return out


def journal(repo: Repository) -> dict[str, dict[str, Any]]:
    """Every journal entry, by lease id."""
    out = {}
    for key in list(repo.backend.list(JOURNAL)):
        doc = _read(repo, key)
        if doc is not None:
            out[key[len(JOURNAL):]] = doc
    return out


def reference_set(repo: Repository, registry: str) -> dict[str, Any] | None:
    """A registry's published reference set (``None``: it published none — an older version's mark)."""
    doc = _read(repo, REGISTRIES + registry)
    return doc if doc is not None and "roots" in doc else None


def publish_references(repo: Repository, registry: str, roots: list[tuple[str, str]], at: float) -> None:
    repo.backend.put(REGISTRIES + registry, json.dumps({"at": at, "roots": sorted(set(roots))}).encode())


def registries(repo: Repository) -> list[str]:
    return sorted(k[len(REGISTRIES):] for k in repo.backend.list(REGISTRIES))


def compact_journal(repo: Repository, registry: str, entries: dict[str, dict[str, Any]], before: float,
                    *, orphans: bool = False) -> int:
    """Delete ``registry``'s entries (of those listed) older than ``before``, once its reference
    set published after the listing covers them; with ``orphans``, also entries no registry
    signed (a client writing straight to a server's store); how many went."""
    gone = 0
    for lease_id, doc in entries.items():
        mine = doc.get("registry") == registry or (orphans and doc.get("registry") is None)
        if mine and float(doc.get("at", 0)) < before:
            repo.backend.delete(JOURNAL + lease_id)
            gone += 1
    return gone
