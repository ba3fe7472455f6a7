"""The local cache of a remote store's chunks: content-checked, bounded, least recently read first out."""

from __future__ import annotations

import os
from pathlib import Path

from modelkeep.store.chunk_cache import ChunkCache
from modelkeep.store.format import object_id


def test_chunks_come_back_checked_and_the_folder_stays_bounded(tmp_path: Path) -> None:
    cache = ChunkCache(tmp_path / "chunks", limit=3 * 1000)
    chunks = [os.urandom(1000) for _ in range(5)]
    ids = [object_id(c) for c in chunks]
    assert cache.get(ids[0]) is None and cache.misses == 1
    for oid, chunk in zip(ids, chunks, strict=True):
        cache.put(oid, chunk)
    assert cache.get(ids[4]) == chunks[4] and cache.hits == 1
    damaged = tmp_path / "chunks" / ids[3][:2] / ids[3]
    damaged.write_bytes(b"x" * 1000)
    assert cache.get(ids[3]) is None and not damaged.exists()  # not believed, dropped
    for age, oid in enumerate(ids[:3]):  # the first three read long ago, oldest first
        path = tmp_path / "chunks" / oid[:2] / oid
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    assert cache.sweep() == 1000  # four left, 3,000 bytes allowed: the least recently read goes
    assert cache.get(ids[0]) is None and cache.get(ids[1]) == chunks[1] and cache.get(ids[4]) == chunks[4]
