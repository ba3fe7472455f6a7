"""Reading many objects at once: runs of neighbours in a pack (local stores) or windows of a few
ranges (stores behind a network), decoded on a thread pool; and writing a file's chunks straight
to their offsets (checkout). A mixin of :class:`~modelkeep.store.repository.Repository`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from modelkeep.errors import IntegrityError, NotFound
from modelkeep.store import deltas
from modelkeep.store.backends import Backend
from modelkeep.store.format import FLAG_DELTA, IndexEntry, ObjectId, object_id
from modelkeep.store.packs import pack_key

WRITE_THREADS = os.cpu_count() or 2  # a checkout's readers, decoders and writers (all release the GIL)
READ_SPAN = 8 << 20  # largest read: a span of neighbouring objects, or a window (remote stores)
COPY_GROUP = 64  # chunks of a file being replaced checked and copied per task (about 4 MB)
GAP = 64 << 10  # bytes between two wanted objects that are read rather than asked for separately


class _Store(Protocol):
    """What the reads use of the repository they are mixed into."""

    backend: Backend
    _by_window: bool

    def entry(self, oid: str) -> IndexEntry: ...

    def get_stored(self, oid: str) -> tuple[IndexEntry, bytes]: ...

    def chunks_of(self, kind: str, oid: str) -> list[tuple[ObjectId, int]]: ...

    def _decode_chain(
        self, oid: str, entry: IndexEntry, stored: bytes | memoryview, near: Callable[[str], bytes | None] | None = None
    ) -> tuple[bytes | memoryview, int]: ...


if TYPE_CHECKING:
    _Base = _Store
else:
    _Base = object


class BatchReads(_Base):
    """Reads of many objects at once, for the repository this is mixed into."""

    def position(self, oid: str) -> tuple[str, int]:
        """Where an object is stored: sorting by it reads packs front to back."""
        entry = self.entry(oid)
        return entry.pack, entry.offset

    def _reads(self, oids: Iterable[str]) -> tuple[Callable[[Any], list[tuple[str, IndexEntry, memoryview]]], list[Any]]:
        """(read, groups): ``read(group)`` fetches each group of ``oids`` (in the order given) in one
        go. A store behind a network (each request a round trip) reads windows of a few ranges, a
        local one runs of neighbours in a pack."""
        if self._by_window:
            return self._read_window, self._windows(oids)
        return self._read_span, self._spans(oids)

    def _spans(self, oids: Iterable[str]) -> list[tuple[str, int, int, list[tuple[str, IndexEntry]]]]:
        """Group objects that sit next to each other in one pack, in the order given."""
        spans: list[tuple[str, int, int, list[tuple[str, IndexEntry]]]] = []
        for oid in oids:
            entry = self.entry(oid)
            if spans:
                pack, start, end, members = spans[-1]
                if pack == entry.pack and entry.offset == end and end - start + entry.stored_length <= READ_SPAN:
                    members.append((oid, entry))
                    spans[-1] = (pack, start, end + entry.stored_length, members)
                    continue
            spans.append((entry.pack, entry.offset, entry.offset + entry.stored_length, [(oid, entry)]))
        return spans

    def _windows(self, oids: Iterable[str]) -> list[list[tuple[str, IndexEntry]]]:
        """The objects in the order given, cut into windows of about ``READ_SPAN`` stored bytes."""
        windows: list[list[tuple[str, IndexEntry]]] = []
        current: list[tuple[str, IndexEntry]] = []
        size = 0
        for oid in oids:
            entry = self.entry(oid)
            current.append((oid, entry))
            size += entry.stored_length
            if size >= READ_SPAN:
                windows.append(current)
                current, size = [], 0
        if current:
            windows.append(current)
        return windows

    @staticmethod
    def _ranges(members: list[tuple[str, IndexEntry]]) -> list[tuple[str, int, int]]:
        """Byte ranges that cover a window's objects: one per pack where the objects lie close
        together in any order (ingest threads pack a file's chunks slightly shuffled), else one per
        run of neighbours. Reading a few bytes between them costs less than another request."""
        by_pack: dict[str, set[tuple[int, int]]] = {}
        for _oid, entry in members:
            by_pack.setdefault(entry.pack, set()).add((entry.offset, entry.stored_length))
        ranges: list[tuple[str, int, int]] = []
        for pack, spots in by_pack.items():
            ordered = sorted(spots)
            start, end = ordered[0][0], max(offset + length for offset, length in ordered)
            needed = sum(length for _offset, length in ordered)
            if end - start <= needed + needed // 4 + GAP:
                ranges.append((pack, start, end))
                continue
            run_start, run_end = ordered[0][0], ordered[0][0] + ordered[0][1]
            for offset, length in ordered[1:]:
                if offset <= run_end + GAP:
                    run_end = max(run_end, offset + length)
                else:
                    ranges.append((pack, run_start, run_end))
                    run_start, run_end = offset, offset + length
            ranges.append((pack, run_start, run_end))
        return ranges

    def _again(self, members: list[tuple[str, IndexEntry]]) -> list[tuple[str, IndexEntry, memoryview]]:
        """The members one by one through a fresh index: a pack they were in was swept since."""
        out = []
        for oid, _stale in members:
            entry, stored = self.get_stored(oid)
            out.append((oid, entry, memoryview(stored)))
        return out

    def _read_window(self, members: list[tuple[str, IndexEntry]]) -> list[tuple[str, IndexEntry, memoryview]]:
        """(id, entry, stored bytes) of each object of a window, in the window's order."""
        try:
            read = [(pack, start, memoryview(self.backend.get_range(pack_key(pack), start, end - start)))
                    for pack, start, end in self._ranges(members)]
        except NotFound:
            return self._again(members)
        out = []
        for oid, entry in members:
            for pack, start, view in read:
                if pack == entry.pack and start <= entry.offset and entry.offset + entry.stored_length <= start + len(view):
                    out.append((oid, entry, view[entry.offset - start : entry.offset - start + entry.stored_length]))
                    break
            else:
                raise IntegrityError(f"pack {pack_key(entry.pack)} is shorter than its index says (object {oid})")
        return out

    def _read_span(self, span: tuple[str, int, int, list[tuple[str, IndexEntry]]]) -> list[tuple[str, IndexEntry, memoryview]]:
        """(id, entry, stored bytes) of each object of a run of neighbours in one pack: one read."""
        pack, start, end, members = span
        try:
            view = memoryview(self.backend.get_range(pack_key(pack), start, end - start))
        except NotFound:
            return self._again(members)
        return [(oid, e, view[e.offset - start : e.offset - start + e.stored_length]) for oid, e in members]

    def iter_stored(self, oids: Iterable[str], *, threads: int = 2) -> Iterator[tuple[str, IndexEntry, bytes]]:
        """(id, index entry, stored bytes) for each id, in order (see :meth:`get_many` for how it reads)."""
        read, groups = self._reads(oids)
        for oid, entry, view in _ordered_map(read, groups, threads):
            yield oid, entry, bytes(view)

    def get_many(self, oids: Iterable[str], *, threads: int = 2) -> Iterator[bytes | memoryview]:
        """Contents of ``oids`` in order, decompressed and verified on ``threads`` threads. On a
        local store each request is a run of neighbouring objects of a pack (exact bytes); on a
        store behind a network (``backend.remote``), where each request costs a round trip, a
        window of ``READ_SPAN`` stored bytes is read in a few ranges, a little waste included."""
        def decode(members: list[tuple[str, IndexEntry, memoryview]]) -> list[bytes | memoryview]:
            near = self.bases_of(members)
            return [self._decode_chain(oid, entry, view, near)[0] for oid, entry, view in members]

        read, groups = self._reads(oids)
        yield from _ordered_map(lambda group: decode(read(group)), groups, threads)

    def bases_of(
        self, members: list[tuple[str, IndexEntry, memoryview]], near: Callable[[str], bytes | None] | None = None
    ) -> Callable[[str], bytes | None] | None:
        """The delta bases of a group of stored objects, read together (a few requests, not one per
        delta) and decoded, as a lookup for decoding them (``near`` first, when given)."""
        wanted = {deltas.base_of(stored) for _, entry, stored in members if entry.flags & FLAG_DELTA}
        if not wanted:
            return near
        fetched = self.decoded(wanted)

        def lookup(base_id: str) -> bytes | None:
            found = near(base_id) if near is not None else None
            return found if found is not None else fetched.get(base_id)

        return lookup

    def decoded(self, oids: Iterable[str]) -> dict[str, bytes]:
        """Verified contents of ``oids``, read in store order by this thread (spans or windows)."""
        read, groups = self._reads(sorted(set(oids), key=self.position))
        out: dict[str, bytes] = {}
        for group in map(read, groups):
            near = self.bases_of(group)
            for oid, entry, stored in group:
                out[oid] = bytes(self._decode_chain(oid, entry, stored, near)[0])
        return out

    def write_file_to(
        self,
        fd: int,
        kind: str,
        oid: str,
        progress: Callable[[int], None] | None = None,
        reuse: tuple[int, dict[str, tuple[int, int]]] | None = None,
    ) -> int:
        """Write a file's content into the open file ``fd`` (sized by the caller or not), each chunk
        verified and written at its own offset by the thread that read and decoded it: reading,
        decompression, hashing and writing all release the GIL, so every core works. ``reuse`` is an
        open file thought to hold chunks (``chunk -> (offset, length)`` in it): those are read from
        it, checked against their ids and written, instead of read from the store and decoded (one
        that does not match is read from the store), and a delta whose base it holds is decoded
        against the base read from there. Returns bytes written."""
        where: dict[str, tuple[int, list[int]]] = {}  # chunk -> its length, its offsets (read once)
        position = 0
        for chunk, length in self.chunks_of(kind, oid):
            where.setdefault(chunk, (length, []))[1].append(position)
            position += length
        copied = 0
        near = None
        held: dict[str, tuple[int, int]] = {}
        if reuse is not None:
            source, held = reuse
            local = sorted((held[chunk][0], chunk) for chunk in where if chunk in held)

            def copy(group: list[tuple[int, str]]) -> list[tuple[int, list[str]]]:
                """Copy chunks from the file being replaced, each checked against its id first."""
                written, unlike = 0, []
                for start, chunk in group:
                    length, offsets = where[chunk]
                    data = os.pread(source, length, start)
                    if len(data) != length or object_id(data) != chunk:
                        unlike.append(chunk)  # changed under an unchanged stat: read it from the store
                        continue
                    for offset in offsets:
                        pwrite_all(fd, data, offset)
                        written += length
                return [(written, unlike)]

            groups = [local[i : i + COPY_GROUP] for i in range(0, len(local), COPY_GROUP)]
            unlike: set[str] = set()
            for written, missed in _ordered_map(copy, groups, WRITE_THREADS):
                copied += written
                unlike.update(missed)
                if progress and written:
                    progress(written)
            where = {chunk: spot for chunk, spot in where.items() if chunk not in held or chunk in unlike}

            def near(base_id: str) -> bytes | None:  # a delta's base held by the file being replaced
                spot = held.get(base_id)
                return None if spot is None else os.pread(source, spot[1], spot[0])

        def put(members: list[tuple[str, IndexEntry, memoryview]]) -> list[int]:
            written = 0
            elsewhere = [m for m in members if m[1].flags & FLAG_DELTA and deltas.base_of(m[2]) not in held]
            bases = self.bases_of(elsewhere, near) if elsewhere else near  # bases not in the file: read together
            for chunk, entry, stored in members:
                data = self._decode_chain(chunk, entry, stored, bases)[0]
                length, offsets = where[chunk]
                if len(data) != length:
                    raise IntegrityError(f"object {oid} is damaged: lists chunk {chunk} as {length:,} bytes, not {len(data):,}")
                for offset in offsets:
                    pwrite_all(fd, data, offset)
                    written += len(data)
            return [written]

        read, groups = self._reads(sorted(where, key=self.position))  # in store order: few, long reads
        found = _ordered_map(lambda group: put(read(group)), groups, WRITE_THREADS)
        total = copied
        for written in found:
            total += written
            if progress:
                progress(written)
        return total


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """All of ``data`` at ``offset`` of ``fd`` (a write may take less than it is given)."""
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _ordered_map(fn: Any, items: list[Any], threads: int) -> Iterator[Any]:
    """``fn`` over ``items`` on a thread pool with bounded look-ahead; flattens the results in order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > threads * 2:
                yield from pending.pop(0).result()
        for future in pending:
            yield from future.result()
