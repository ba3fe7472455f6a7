"""Pack files: many objects in one backend file, with an index written after the pack.

A pack is the concatenation of stored objects (zstd frames or raw bytes) followed by a trailer:
the pack's own index records and ``TRAILER`` (record count, magic), so an index can always be
rebuilt from the pack alone. The pack is named by the BLAKE3 of its bytes:
``packs/<first 2 hex>/<pack id>``; its index is ``index/<pack id>``
(``INDEX_MAGIC`` + records).

Write ordering, which makes a crash harmless: the pack is stored (atomically) first, then its
index; only then may anything that references its objects (a dataset version in the registry)
be committed. A pack without an index is garbage; an index never names a missing pack.

Objects are written to a temporary *spool* file as they arrive, not held in memory: on a local
store the spool lies in the store's own temporary folder and becomes the pack by a rename; a
store behind a network is sent the finished file.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from blake3 import blake3

from modelkeep.store.backends import Backend, put_file, spool_dir
from modelkeep.store.format import (
    INDEX_MAGIC,
    PACK_TRAILER_MAGIC,
    TRAILER,
    IndexEntry,
    ObjectId,
    decode_records,
    encode_records,
)

SPOOL_BUFFER = 1 << 20  # small objects are written to a spool this many bytes at a time
WRITE_DIRECTLY = 64 << 10  # an object this large is written as it is (a chunk stored raw: no copy)
PackObject = tuple[ObjectId, int, int, "bytes | memoryview", int]  # id, type, flags, stored bytes, raw length


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


def index_key(pack_id: str) -> str:
    return f"index/{pack_id}"


class _Spool:
    """One pack being written: a temporary file, the running BLAKE3 of its bytes, its records."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix="pack-", suffix=".spool")
        self._fd: list[int | None] = [fd]  # shared with the finalizer, which must not close a number reused since
        self.path = Path(name)
        self.hasher = blake3()
        self._buffer = bytearray()
        self.size = 0
        self.records: list[tuple[ObjectId, int, int, int, int, int]] = []
        self.oids: list[ObjectId] = []
        # a spool left by an error or an interrupted command is removed when it is dropped
        self._cleanup = weakref.finalize(self, _remove, self._fd, name)

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``: small objects gather in a buffer (one system call for many files' worth),
        a large one goes out at once (no copy)."""
        if len(data) >= WRITE_DIRECTLY:
            self._drain()
            self._out(data)
        else:
            self._buffer += data
            if len(self._buffer) >= SPOOL_BUFFER:
                self._drain()
        self.size += len(data)

    def _drain(self) -> None:
        if self._buffer:
            self._out(self._buffer)
            self._buffer = bytearray()

    def _out(self, data: bytes | bytearray | memoryview) -> None:
        fd = self._fd[0]
        assert fd is not None
        view = memoryview(data).cast("B")
        while view:
            view = view[os.write(fd, view) :]
        self.hasher.update(data)

    def seal(self) -> bytes:
        """Append the records and the trailer; returns the records (the index's body)."""
        records = encode_records(self.records)
        self.write(records)
        self.write(TRAILER.pack(len(self.records), PACK_TRAILER_MAGIC))
        self._drain()
        return records

    def finish(self) -> str:
        """Make the file durable and close it; returns the pack's id."""
        self._drain()
        fd, self._fd[0] = self._fd[0], None
        assert fd is not None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return self.hasher.hexdigest()

    def discard(self) -> None:
        self._cleanup()


def _remove(fd: list[int | None], name: str) -> None:
    if fd[0] is not None:
        os.close(fd[0])
        fd[0] = None
    Path(name).unlink(missing_ok=True)


class PackWriter:
    """Collects stored objects and writes them out as packs of about ``target_size`` bytes.

    Thread-safe: workers may ``add`` concurrently. Each object goes straight to the open spool
    file, so memory stays flat whatever is added. A full spool is finished by one background
    thread (fsync, pack stored, then its index), so hashing and compression go on while the disk
    works; at most ``QUEUE`` full spools wait. ``on_written`` receives each pack's index entries
    once both files are stored; until then the objects count as pending. ``flush`` finishes the
    partial pack, waits for the queue and re-raises any write error.
    """

    QUEUE = 2

    def __init__(
        self,
        backend: Backend,
        target_size: int,
        on_written: Callable[[dict[ObjectId, IndexEntry]], None],
    ) -> None:
        self.backend = backend
        self.target_size = target_size
        self.on_written = on_written
        self._folder = spool_dir(backend)
        self._spool: _Spool | None = None
        self._pending: set[ObjectId] = set()
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[_Spool, bytes] | None] = queue.Queue(self.QUEUE)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.packs_written = 0
        self.bytes_written = 0

    def pending(self, oid: ObjectId) -> bool:
        return oid in self._pending

    def add(self, oid: ObjectId, type_: int, flags: int, stored: bytes | memoryview, raw_length: int) -> bool:
        """Write one object to the open pack; False if it is already pending."""
        return bool(self.add_many([(oid, type_, flags, stored, raw_length)]))

    def add_many(self, objects: list[PackObject]) -> list[PackObject]:
        """Write objects side by side in the open pack (one lock for all); returns those written
        (not already pending)."""
        sealed = []
        written = []
        with self._lock:
            self._raise_error()
            for item in objects:
                oid, type_, flags, stored, raw_length = item
                if oid in self._pending:
                    continue
                spool = self._spool
                if spool is None:
                    spool = self._spool = _Spool(self._folder)
                spool.records.append((oid, type_, flags, spool.size, len(stored), raw_length))
                spool.write(stored)
                spool.oids.append(oid)
                self._pending.add(oid)
                written.append(item)
                if spool.size >= self.target_size:
                    sealed.append(self._seal_locked())
        for one in sealed:
            self._enqueue(one)  # outside the lock: the writer thread needs it to finish
        return written

    def flush(self) -> None:
        sealed = None
        with self._lock:
            if self._spool is not None and self._spool.records:
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

    def _seal_locked(self) -> tuple[_Spool, bytes]:
        spool, self._spool = self._spool, None
        assert spool is not None
        records = spool.seal()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="modelkeep-pack-writer", daemon=True)
            self._thread.start()
        return spool, records

    def _enqueue(self, sealed: tuple[_Spool, bytes]) -> None:
        self._queue.put(sealed)  # blocks while QUEUE spools wait for the disk

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                spool, records = item
                try:
                    if self._error is None:
                        pack_id = spool.finish()
                        put_file(self.backend, pack_key(pack_id), spool.path)  # the pack first ...
                        self.backend.put(index_key(pack_id), INDEX_MAGIC + records)  # ... then its index
                        self.packs_written += 1
                        self.bytes_written += spool.size
                        self.on_written(decode_records(records, pack_id))
                finally:
                    spool.discard()
                    with self._lock:
                        self._pending.difference_update(spool.oids)
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
