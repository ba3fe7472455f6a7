"""Chunks of a store behind a network, kept on local disk once read, for byte-range reads that come
back to the same chunks (a Parquet footer read by every task of a Dask job, a row group read
twice). An object's id is the BLAKE3 of its content, so an entry never goes stale; it is checked
against its id when read, and a damaged one is dropped and fetched again. The folder is bounded:
past ``limit`` bytes the least recently read chunks go.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from modelkeep.store.cache_files import replace_whole
from modelkeep.store.format import object_id

DEFAULT_LIMIT = 2 << 30
SWEEP_EVERY = 64  # puts between checks of the folder's size


class ChunkCache:
    def __init__(self, folder: Path, limit: int = DEFAULT_LIMIT) -> None:
        self.folder, self.limit = folder, limit
        self._puts = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def _path(self, oid: str) -> Path:
        return self.folder / oid[:2] / oid

    def get(self, oid: str) -> bytes | None:
        path = self._path(oid)
        try:
            data = path.read_bytes()
        except OSError:
            self.misses += 1
            return None
        if object_id(data) != oid:  # damaged on disk: not believed
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        os.utime(path)  # recently read: swept last
        self.hits += 1
        return data

    def put(self, oid: str, data: bytes | memoryview) -> None:
        try:
            replace_whole(self._path(oid), [data])
        except OSError:  # a full or read-only disk only costs fetching again
            return
        with self._lock:
            self._puts += 1
            due = self._puts % SWEEP_EVERY == 0
        if due:
            self.sweep()

    def sweep(self) -> int:
        """Drop the least recently read chunks until the folder is within its limit; bytes freed."""
        found = []
        for path in self.folder.glob("*/*"):
            try:
                st = path.stat()
            except OSError:
                continue
            found.append((st.st_mtime, st.st_size, path))
        total, freed = sum(size for _, size, _ in found), 0
        for _, size, path in sorted(found):
            if total - freed <= self.limit:
                break
            path.unlink(missing_ok=True)
            freed += size
        return freed
