"""Where the tensors of a safetensors file lie, so that its chunks follow them.

Content-defined chunking cuts where the bytes say: when a fine-tune moves every weight, every cut
moves too, and no chunk of the new version lines up with one of the old. A safetensors file says
where each tensor lies (an 8-byte little-endian header length, a JSON header of
``name -> {dtype, shape, data_offsets}``, then the data), so its chunks can be cut on the tensors
instead: the header, then each tensor in pieces of at most ``piece`` bytes (small neighbours of
one element width share a chunk). The same tensors then give the same cuts in every version, an
unchanged tensor is the same chunks, and a changed one has a counterpart of the same length to be
stored against (``store/planes.py``).

Anything that does not parse as a safetensors header (wrong length, not JSON, tensors
overlapping or past the end) is chunked by content, as any other file.
"""

from __future__ import annotations

import itertools
import json
import struct
from dataclasses import dataclass
from typing import BinaryIO

HEADER_LIMIT = 100 << 20  # safetensors' own limit on the JSON header
# Bytes per element: the planes a tensor's chunks are grouped into (1: stored as any chunk).
WIDTHS = {
    "F64": 8, "I64": 8, "U64": 8,
    "F32": 4, "I32": 4, "U32": 4,
    "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cut:
    offset: int
    length: int
    width: int  # element width of the tensor bytes it holds; 1 for the header and unknown dtypes


def tensor_spans(handle: BinaryIO, size: int) -> list[tuple[int, int, int]] | None:
    """(start, end, element width) of each tensor in file order, or None when ``handle`` (at its
    start) is not a safetensors file of ``size`` bytes."""
    head = handle.read(8)
    if len(head) < 8:
        return None
    (length,) = struct.unpack("<Q", head)
    if not 2 <= length <= min(HEADER_LIMIT, size - 8):
        return None
    if handle.read(1) != b"{":  # before reading what may be 100 MB of some other file
        return None
    text = b"{" + handle.read(length - 1)
    if len(text) != length:
        return None
    try:
        header = json.loads(text)
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    data = 8 + length
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = info["data_offsets"]
            width = WIDTHS.get(info["dtype"], 1)
        except (TypeError, KeyError, ValueError):
            return None
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= size - data):
            return None
        spans.append((data + begin, data + end, width))
    spans.sort()
    if any(a[1] > b[0] for a, b in itertools.pairwise(spans)):
        return None  # overlapping tensors: not a file safetensors would write
    return spans


def cuts(spans: list[tuple[int, int, int]], size: int, piece: int) -> list[Cut]:
    """Chunks of at most ``piece`` bytes covering ``[0, size)`` that follow the tensors: the
    header (and any gap) on its own, a large tensor in pieces from its start, small neighbours
    of one width together."""
    out: list[Cut] = []
    position = 0
    joinable = False  # the last chunk holds tensor bytes (not the header, not a gap)

    def plain(end: int, width: int) -> None:
        nonlocal position
        while position < end:
            length = min(piece - piece % width, end - position)
            out.append(Cut(position, length, width))
            position += length

    for start, end, width in spans:
        if start == end:
            continue
        if start > position:
            plain(start, 1)  # the header, or bytes between tensors
            joinable = False
        last = out[-1] if out else None
        if joinable and last is not None and last.width == width and last.length + (end - start) <= piece:
            out[-1] = Cut(last.offset, last.length + end - start, width)
            position = end
            continue
        plain(end, width)
        joinable = True
    plain(size, 1)
    return out


def layout(handle: BinaryIO, size: int, piece: int) -> list[Cut] | None:
    """The chunks of a safetensors file (``handle`` at its start), or None for any other file."""
    spans = tensor_spans(handle, size)
    return None if spans is None else cuts(spans, size, piece)
