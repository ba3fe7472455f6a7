"""The repository format: object ids, object types, index records, manifests and trees.

Written down for a second implementation in ``docs/format.md``; this module is the reference.

* Object id: BLAKE3-256 of the object's *uncompressed* content, 64 lower-case hex digits.
* Types: ``BLOB`` (a chunk or a whole small file), ``MANIFEST`` (the chunk list of a large
  file), ``TREE`` (a folder). The type is not part of the id.
* Manifest: canonical JSON ``{"chunks":[[id,size],...],"size":N}``; a long one (when the config
  has ``manifest_part_chunks``) is cut into such manifests, its *parts*, at chunk ids chosen by
  content, and listed as ``{"parts":[[id,size],...],"size":N}``: an edit stores the parts it
  touches and the short list, not the whole chunk list again.
* Tree: canonical JSON ``{"entries":[[name,kind,id,size,mode],...]}``, entries sorted by the
  UTF-8 bytes of ``name``; ``kind`` is ``"blob"`` (id of one BLOB: the file's content),
  ``"chunked"`` (id of a MANIFEST) or ``"tree"`` (a sub-folder); ``mode`` is 0o644 or 0o755
  (0 for trees). Canonical JSON: no spaces, separators ``,`` and ``:``, UTF-8, no escapes
  beyond what JSON requires.
* Index record (50 bytes, big-endian): id (32 raw bytes), type (1), flags (1; bit 0 = zstd,
  bit 1 = a delta: the base's raw id, then a zstd frame made with the base's content as its
  dictionary, see ``store/deltas.py``; bit 2 = tensor bytes in byte planes, see
  ``store/planes.py``: with bit 1, the planes of the content XOR its base's),
  offset in the pack (8), stored length (4), raw length (4).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import NewType

from blake3 import blake3

from modelkeep.errors import IntegrityError, InvalidInput

ObjectId = NewType("ObjectId", str)

BLOB, MANIFEST, TREE = 1, 2, 3
TYPE_NAMES = {BLOB: "blob", MANIFEST: "manifest", TREE: "tree"}
FLAG_ZSTD = 1
FLAG_DELTA = 2  # stored as a delta against another object (store/deltas.py)
FLAG_PLANES = 4  # tensor bytes grouped in planes; with FLAG_DELTA, XORed with the base (store/planes.py)
FLAGS_KNOWN = FLAG_ZSTD | FLAG_DELTA | FLAG_PLANES

RECORD = struct.Struct(">32sBBQII")
INDEX_MAGIC = b"MKIDX1\n\x00"
PACK_TRAILER_MAGIC = b"MKPACK1\x00"
TRAILER = struct.Struct(">I8s")  # record count, magic — the last 12 bytes of a pack

FORMAT_VERSION = 1
DEFAULT_CONFIG = {
    "format": FORMAT_VERSION,
    "hash": "blake3-256",
    # "tensors": safetensors files are cut on their tensors (store/tensor_layout.py); a store made
    # before this key existed chunks them by content, so its manifests keep their ids.
    "chunker": {
        "algorithm": "fastcdc-2020",
        "min_size": 16384,
        "avg_size": 65536,
        "max_size": 262144,
        "seed": 0,
        "tensors": "safetensors",
    },
    "compression": {"algorithm": "zstd", "level": 1, "keep_if_below": 0.97},
    # A file of more than 4x this many chunks gets a manifest in parts (encode_parts); a store
    # made before this key existed writes every manifest whole, so its manifests keep their ids.
    "manifest_part_chunks": 256,
    "small_file_limit": 262144,
    "pack_target_size": 33554432,
}


def object_id(data: bytes | memoryview) -> ObjectId:
    return ObjectId(blake3(data).hexdigest())


def check_id(text: str) -> ObjectId:
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInput(f"invalid object id {text!r}: 64 lower-case hex digits")
    return ObjectId(text)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """Where one object lives: which pack, where in it, and how it is stored."""

    pack: str
    type: int
    flags: int
    offset: int
    stored_length: int
    raw_length: int


def encode_records(entries: list[tuple[ObjectId, int, int, int, int, int]]) -> bytes:
    """Index records for (id, type, flags, offset, stored, raw) tuples."""
    return b"".join(RECORD.pack(bytes.fromhex(i), t, f, o, s, r) for i, t, f, o, s, r in entries)


def decode_records(data: bytes, pack: str) -> dict[ObjectId, IndexEntry]:
    if len(data) % RECORD.size:
        raise IntegrityError(f"index of pack {pack} is truncated ({len(data)} bytes)")
    out: dict[ObjectId, IndexEntry] = {}
    for raw_id, typ, flags, offset, stored, raw in RECORD.iter_unpack(data):
        out[ObjectId(raw_id.hex())] = IndexEntry(pack, typ, flags, offset, stored, raw)
    return out


def canonical(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class TreeEntry:
    name: str
    kind: str  # "blob", "chunked" or "tree"
    id: ObjectId
    size: int
    mode: int = 0o644


def encode_tree(entries: list[TreeEntry]) -> bytes:
    rows = sorted(entries, key=lambda e: e.name.encode())
    names = [e.name for e in rows]
    if len(set(names)) != len(names):
        raise InvalidInput("a tree may not hold two entries with the same name")
    return canonical({"entries": [[e.name, e.kind, e.id, e.size, e.mode] for e in rows]})


def decode_tree(data: bytes) -> list[TreeEntry]:
    try:
        rows = json.loads(data)["entries"]
        return [TreeEntry(n, k, ObjectId(i), int(s), int(m)) for n, k, i, s, m in rows]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"a tree object does not decode: {exc}") from exc


def encode_manifest(chunks: list[tuple[ObjectId, int]]) -> bytes:
    return canonical({"chunks": [[c, n] for c, n in chunks], "size": sum(n for _, n in chunks)})


def manifest_parts(chunks: list[tuple[ObjectId, int]], average: int) -> list[list[tuple[ObjectId, int]]]:
    """A long chunk list cut into parts of about ``average`` chunks (at most 4x that): a part
    ends after a chunk whose id, read as a number, is a multiple of ``average``. The cuts depend
    only on the ids around them, so an edit moves only the cuts next to the chunks it changed."""
    parts: list[list[tuple[ObjectId, int]]] = [[]]
    for chunk in chunks:
        parts[-1].append(chunk)
        if int(chunk[0][:8], 16) % average == 0 or len(parts[-1]) >= 4 * average:
            parts.append([])
    return [part for part in parts if part]


def encode_parts(parts: list[tuple[ObjectId, int]]) -> bytes:
    """The manifest listing a long file's manifest parts, as (part id, bytes of file it covers)."""
    return canonical({"parts": [[c, n] for c, n in parts], "size": sum(n for _, n in parts)})


def decode_manifest(data: bytes) -> tuple[bool, list[tuple[ObjectId, int]]]:
    """(whether it lists parts, its [id, size] rows): chunks of the file, or its manifest's parts."""
    try:
        doc = json.loads(data)
        parted = "parts" in doc
        return parted, [(ObjectId(c), int(n)) for c, n in doc["parts" if parted else "chunks"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"a manifest object does not decode: {exc}") from exc
