"""Pack files: many objects in one backend file, with an index written after the pack.

A pack is the concatenation of stored objects (zstd frames or raw bytes) followed by a trailer:
the pack's own index records and ``TRAILER`` (record count, magic), so an index can always be
rebuilt from the pack alone. The pack is named by the BLAKE3 of its bytes:
``packs/<first 2 hex>/<pack id>``; its index is ``index/<pack id>``
(``INDEX_MAGIC`` + records).

Write ordering, which makes a crash harmless: the pack is stored (atomically) first, then its
index; only then may anything that references its objects (a dataset version in the registry)
be committed. A pack without an index is garbage; an index never names a missing pack.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from blake3 import blake3

from modelkeep.store.backends import Backend, put_parts
from modelkeep.store.format import (
    INDEX_MAGIC,
    PACK_TRAILER_MAGIC,
    TRAILER,
    IndexEntry,
    ObjectId,
    decode_records,
    encode_records,
)


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


def index_key(pack_id: str) -> str:
    return f"index/{pack_id}"


class PackWriter:
    """Collects stored objects and writes them out as packs of about ``target_size`` bytes.

    Thread-safe: workers may ``add`` concurrently. Full packs are written by one background
    thread (pack, then index), so hashing and compression go on while the disk works; at most
    ``QUEUE`` packs wait, which bounds memory. ``on_written`` receives each pack's index
    entries once both files are stored; until then the objects count as pending. ``flush``
    writes the partial pack, waits for the queue and re-raises any write error.
    """

    QUEUE = 1

    def __init__(
        self,
        backend: Backend,
        target_size: int,
        on_written: Callable[[dict[ObjectId, IndexEntry]], None],
    ) -> None:
        self.backend = backend
        self.target_size = target_size
        self.on_written = on_written
        self._parts: list[bytes | memoryview] = []
        self._size = 0
        self._records: list[tuple[ObjectId, int, int, int, int, int]] = []
        self._pending: set[ObjectId] = set()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[list[bytes | memoryview], bytes, list[ObjectId]] | None] = queue.Queue(self.QUEUE)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.packs_written = 0
        self.bytes_written = 0

    def pending(self, oid: ObjectId) -> bool:
        return oid in self._pending

    def add(self, oid: ObjectId, type_: int, flags: int, stored: bytes | memoryview, raw_length: int) -> bool:
        """Queue one object; False if it is already pending."""
        sealed = None
        with self._lock:
            self._raise_error()
            if oid in self._pending:
                return False
            self._records.append((oid, type_, flags, self._size, len(stored), raw_length))
            self._parts.append(stored)
            self._size += len(stored)
            self._pending.add(oid)
            if self._size >= self.target_size:
                sealed = self._seal_locked()
        if sealed is not None:
            self._enqueue(sealed)  # outside the lock: the writer thread needs it to finish
        return True

    def flush(self) -> None:
        sealed = None
        with self._lock:
            if self._records:
                sealed = self._seal_locked()
        if sealed is not None:
            self._enqueue(sealed)
        if self._thread is not None:
            self._queue.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _seal_locked(self) -> tuple[list[bytes | memoryview], bytes, list[ObjectId]]:
        records = encode_records(self._records)
        data = [*self._parts, records, TRAILER.pack(len(self._records), PACK_TRAILER_MAGIC)]
        oids = [r[0] for r in self._records]
        self._parts, self._size, self._records = [], 0, []
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="modelkeep-pack-writer", daemon=True)
            self._thread.start()
        return data, records, oids

    def _enqueue(self, sealed: tuple[list[bytes | memoryview], bytes, list[ObjectId]]) -> None:
        self._queue.put(sealed)  # blocks while QUEUE packs wait: bounded memory

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                parts, records, oids = item
                if self._error is None:
                    hasher = blake3()
                    for part in parts:
                        hasher.update(part)
                    pack_id = hasher.hexdigest()
                    put_parts(self.backend, pack_key(pack_id), parts)  # the pack first ...
                    self.backend.put(index_key(pack_id), INDEX_MAGIC + records)  # ... then its index
                    self.packs_written += 1
                    self.bytes_written += sum(len(p) for p in parts)
                    self.on_written(decode_records(records, pack_id))
                with self._lock:
                    self._pending.difference_update(oids)
            except BaseException as exc:  # surfaced to the caller by the next add/flush
                self._error = exc
            finally:
                self._queue.task_done()


def read_index(backend: Backend, pack_id: str) -> dict[ObjectId, IndexEntry]:
    data = backend.get(index_key(pack_id))
    if not data.startswith(INDEX_MAGIC):
        from modelkeep.errors import IntegrityError

        raise IntegrityError(f"index/{pack_id} does not start with the index magic")
    return decode_records(data[len(INDEX_MAGIC) :], pack_id)
