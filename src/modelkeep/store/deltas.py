"""Chunks stored as deltas against a chunk of the version before (zstd ``--patch-from``).

A scattered edit (a few digits every 75 KB of a CSV) changes nearly every chunk a little: each
changed chunk would be stored again whole. A chunk whose counterpart in the parent version is
known (the chunk that held the same bytes offset) is instead compressed with that counterpart's
content as zstd's dictionary (raw content: matches are found in it as in a preceding window), and
stored that way when it is smaller.

Stored form (``FLAG_DELTA`` in the index record): the base object's id (32 raw bytes), then the
zstd frame. Reading one resolves its base first (verified against its own id), so a chain is
read base first; ``MAX_DEPTH`` bounds chains: a chunk whose base is already that deep is stored
whole (re-based). Garbage collection and transfers keep a delta's base with it
(``Repository.reachable``).
"""

from __future__ import annotations

import zstandard

from modelkeep.errors import IntegrityError

MAX_DEPTH = 4  # bases under a delta: reading a chunk costs at most this many extra decodes
BASE_ID = 32  # raw bytes of the base's id at the start of a delta's stored bytes
WINDOW_LOG = 19  # 512 KiB: the largest base and the largest chunk, side by side
HASH_LOG = 15


def base_of(stored: bytes | memoryview) -> str:
    """The id of the object a delta's stored bytes were made against."""
    if len(stored) < BASE_ID:
        raise IntegrityError("a delta object is shorter than its base id")
    return bytes(stored[:BASE_ID]).hex()


def encode(data: bytes | memoryview, base_id: str, base: bytes | memoryview, level: int) -> bytes:
    """The stored bytes of ``data`` as a delta against ``base`` (the content of ``base_id``)."""
    dictionary = zstandard.ZstdCompressionDict(bytes(base), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    # The level's own tables are sized for the chunk alone and find few matches in the base
    # (level 1: a 64 KiB chunk with two edits came out at 6 KB); a window over base and chunk and
    # a larger hash table find them all (about 90 bytes) at the cost of compressing the chunk whole.
    params = zstandard.ZstdCompressionParameters.from_level(level, source_size=len(data), window_log=WINDOW_LOG,
                                                            hash_log=HASH_LOG)
    frame = zstandard.ZstdCompressor(compression_params=params, dict_data=dictionary).compress(data)
    return bytes.fromhex(base_id) + frame


def decode(stored: bytes | memoryview, base: bytes | memoryview, raw_length: int) -> bytes:
    """The content a delta's stored bytes stand for, given its base's content (not yet verified)."""
    dictionary = zstandard.ZstdCompressionDict(bytes(base), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    try:
        return zstandard.ZstdDecompressor(dict_data=dictionary).decompress(stored[BASE_ID:], max_output_size=raw_length)
    except zstandard.ZstdError as exc:
        raise IntegrityError(f"a delta does not decode against its base: {exc}") from exc
