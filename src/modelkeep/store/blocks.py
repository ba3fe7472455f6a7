"""A large file read in blocks and cut into chunks, and where its earlier version's chunks lay.

Ingest reads a large file into a few reused buffers, one block at a time, and hands each block's
chunks to a worker together; memory stays flat whatever the file's size. The chunks are cut by
FastCDC, or beforehand (the tensors of a safetensors file, ``store/tensor_layout.py``).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from typing import Any

from pyfastcdc import FastCDC

from modelkeep.errors import InvalidInput
from modelkeep.store.format import ObjectId
from modelkeep.store.tensor_layout import Cut

BLOCK = 4 << 20  # bytes of a large file read and cut at a time


class ChunkMap:
    """Which chunk of a file's earlier version held a given byte offset."""

    def __init__(self, chunks: list[tuple[ObjectId, int]]) -> None:
        self.ids = [chunk for chunk, _ in chunks]
        self.starts = list(itertools.accumulate((length for _, length in chunks), initial=0))

    def at(self, offset: int) -> ObjectId | None:
        """None past the old end: an appended chunk has no counterpart (no delta worth trying)."""
        if not 0 <= offset < self.starts[-1]:
            return None
        return self.ids[bisect.bisect_right(self.starts, offset) - 1]


class Blocks:
    """A large file read in blocks into a few reused buffers, each cut into chunks.

    Every chunk but the last of a block ends where FastCDC would end it in the whole file: its
    cut point lies within the block, and FastCDC decides a cut from the bytes since the chunk's
    start only. The last one may have been cut by the block's end, so it is carried to the front
    of the next block, unless the file ends there. A block is read into again ``count`` blocks
    later, so at most ``count - 1`` may be in use.
    """

    def __init__(self, max_chunk: int, count: int) -> None:
        self.size = BLOCK + max_chunk
        self.buffers = [bytearray(self.size) for _ in range(count)]

    def cut(self, handle: Any, cdc: FastCDC) -> Iterator[tuple[int, memoryview, list[tuple[int, int]], None]]:
        """(the block's offset in the file, the block, its chunks' (offset, length) in the block, None)."""
        carry = b""
        turn = 0
        start = 0
        while True:
            buffer = memoryview(self.buffers[turn % len(self.buffers)])
            turn += 1
            buffer[: len(carry)] = carry
            filled = len(carry)
            while filled < self.size:
                read = handle.readinto(buffer[filled:])
                if not read:
                    break
                filled += read
            end = filled < self.size
            if not filled:
                return
            cuts = [(c.offset, c.length) for c in cdc.cut_buf(buffer[:filled])]
            if not end:
                last_offset, _ = cuts.pop()
                carry = bytes(buffer[last_offset:filled])
            yield start, buffer, cuts, None
            if end:
                return
            start += filled - len(carry)

    def follow(self, handle: Any, cuts: list[Cut]) -> Iterator[tuple[int, memoryview, list[tuple[int, int]], list[int]]]:
        """The same for chunks cut beforehand (a file's tensors), with each chunk's element width.
        A block holds whole chunks, about ``BLOCK`` bytes of them (no chunk exceeds ``max_chunk``)."""
        turn = first = 0
        while first < len(cuts):
            last, total = first, 0
            while last < len(cuts) and total < BLOCK:
                total += cuts[last].length
                last += 1
            buffer = memoryview(self.buffers[turn % len(self.buffers)])
            turn += 1
            filled = 0
            while filled < total and (read := handle.readinto(buffer[filled:total])):
                filled += read
            if filled < total:
                raise InvalidInput(f"{handle.name} changed while it was being added; nothing was committed")
            start = cuts[first].offset
            yield start, buffer, [(c.offset - start, c.length) for c in cuts[first:last]], [c.width for c in cuts[first:last]]
            first = last
