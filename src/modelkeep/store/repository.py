"""A repository: content-addressed objects in packs on one backend.

Layers (restic-style): ``format`` (ids, records, trees) → ``packs`` (pack files and indexes)
→ this module (objects: put, get with verification, dedup against the index) → ``ingest``
(files and folders into objects) and ``transfer`` (push/pull). Knows bytes and hashes,
nothing about models or datasets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import zstandard

from modelkeep.errors import IntegrityError, InvalidInput, NotFound
from modelkeep.store import deltas, planes
from modelkeep.store.backends import Backend
from modelkeep.store.batch_reads import BatchReads
from modelkeep.store.format import (
    BLOB,
    DEFAULT_CONFIG,
    FLAG_DELTA,
    FLAG_PLANES,
    FLAG_ZSTD,
    FLAGS_KNOWN,
    FORMAT_VERSION,
    MANIFEST,
    TREE,
    IndexEntry,
    ObjectId,
    TreeEntry,
    check_id,
    decode_manifest,
    decode_tree,
    object_id,
)
from modelkeep.store.packs import PackWriter, index_key, pack_key, read_index

if TYPE_CHECKING:
    from modelkeep.store.leases import Lease

CONFIG_KEY = "config"
_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    dctx = getattr(_local, "dctx", None)
    if dctx is None:
        dctx = _local.dctx = zstandard.ZstdDecompressor()
    return dctx


class Repository(BatchReads):
    """Objects in packs on ``backend``. Create with :meth:`open`."""

    def __init__(self, backend: Backend, config: dict[str, Any]) -> None:
        self.backend = backend
        self.config = config
        self._index: dict[ObjectId, IndexEntry] | None = None
        self._known_indexes: set[str] = set()
        self._index_lock = threading.Lock()
        # object -> the pack of its copy a garbage collection condemned (store/gc.py): that copy is
        # never reused by dedup, so nothing new comes to depend on it before it is swept
        self.condemned: dict[str, str] = {}
        self.registry_id: str | None = None  # the registry writing through this object (store/leases.py)
        self.leases: set[Lease] = set()  # open leases of writers using this object, renewed as packs go out
        self.writer = PackWriter(backend, int(config["pack_target_size"]), self._merge)
        level = config["compression"].get("level")
        self._level: int | None = None if level is None else int(level)
        self._keep_ratio = float(config["compression"].get("keep_if_below", 0.97))
        # a backend behind a network (a round trip per request) reads by windows, not exact spans
        self._by_window = bool(getattr(getattr(backend, "inner", backend), "remote", False))

    @classmethod
    def open(cls, backend: Backend, *, create: bool = False) -> Repository:
        """Open the repository on ``backend``; with ``create``, initialize an empty one."""
        try:
            config = json.loads(backend.get(CONFIG_KEY))
        except NotFound:
            if not create:
                raise NotFound(f"no modelkeep store at {backend.url}", hint="check the URL, or push to create it") from None
            config = dict(DEFAULT_CONFIG)
            backend.put(CONFIG_KEY, json.dumps(config, indent=2).encode())
        except (ValueError, TypeError) as exc:
            raise IntegrityError(f"the store config at {backend.url} is not valid JSON") from exc
        if config.get("format") != FORMAT_VERSION:
            raise IntegrityError(f"store at {backend.url} has format {config.get('format')}, expected {FORMAT_VERSION}")
        return cls(backend, config)

    # --- the index ------------------------------------------------------------------------

    @property
    def index(self) -> dict[ObjectId, IndexEntry]:
        if self._index is None:
            self.refresh_index()
        assert self._index is not None
        return self._index

    def refresh_index(self) -> None:
        """Load index files not seen yet (others may have written packs since), and the list of
        condemned copies. Of two copies of one object, the one that is not condemned is used."""
        self.load_condemned()
        with self._index_lock:
            index = self._index if self._index is not None else {}
            names = {key.rsplit("/", 1)[-1] for key in self.backend.list("index/")}
            new = sorted(names - self._known_indexes)
            if new:
                condemned = self.condemned
                with ThreadPoolExecutor(max_workers=8) as pool:
                    for part in pool.map(lambda n: read_index(self.backend, n), new):
                        for oid, entry in part.items():
                            if oid in index and condemned.get(oid) == entry.pack:
                                continue
                            index[oid] = entry
            self._known_indexes |= set(new)
            self._index = index

    def load_condemned(self) -> None:
        from modelkeep.store.gc import read_condemned

        found = read_condemned(self)
        self.condemned = found.objects if found else {}

    def reload_index(self) -> None:
        """Forget the index and read it again (after packs were deleted, by this process or another)."""
        with self._index_lock:
            self._index, self._known_indexes = None, set()
        self.refresh_index()

    def has(self, oid: ObjectId) -> bool:
        """Whether the object is stored in a copy a writer may reuse (a condemned copy is not one)."""
        entry = self.index.get(oid)
        if entry is not None and (not self.condemned or self.condemned.get(oid) != entry.pack):
            return True
        return self.writer.pending(oid)

    def _merge(self, entries: dict[ObjectId, IndexEntry]) -> None:
        """Called by the pack writer once a pack and its index are stored."""
        if entries:
            index = self.index  # loads what is already stored, if not yet loaded
            with self._index_lock:
                index.update(entries)
                self._known_indexes |= {e.pack for e in entries.values()}

    def adopt(self, entries: dict[ObjectId, IndexEntry]) -> None:
        """Take into the index a pack stored by a copy of a whole pack (``store.transfer``), its
        index already written: its objects count as present from now on."""
        self._merge(entries)
        for held in list(self.leases):
            held.renew_if_due()

    def flush(self) -> None:
        """Write pending objects; after this, everything put so far is durable and indexed."""
        self.writer.flush()
        for held in list(self.leases):
            held.renew_if_due()

    # --- writing --------------------------------------------------------------------------

    def set_compression(self, level: int | None) -> None:
        """Override the store's zstd level for new objects (None: store raw). Ids do not depend on it."""
        self._level = None if level is None else validate_level(level)

    def _compressor(self) -> zstandard.ZstdCompressor:
        cctx = getattr(_local, "cctx", None)
        if cctx is None or getattr(_local, "level", None) != self._level:
            cctx = _local.cctx = zstandard.ZstdCompressor(level=self._level or 1)
            _local.level = self._level
        return cctx

    def compress(self, data: bytes | memoryview, width: int = 1) -> tuple[int, bytes | memoryview]:
        """(flags, stored bytes): zstd if that saves enough, else the raw bytes. Tensor bytes of
        ``width`` > 1 bytes an element are compressed as byte planes (``store/planes.py``)."""
        if self._level is None or len(data) < 64:
            return 0, data
        if width > 1:
            packed = planes.encode(data, width, self._compressor())
            flags = FLAG_PLANES
        else:
            packed = self._compressor().compress(data)
            flags = FLAG_ZSTD
        if len(packed) < self._keep_ratio * len(data):
            return flags, packed
        return 0, data

    def put_stored(self, oid: ObjectId, type_: int, flags: int, stored: bytes | memoryview, raw_length: int) -> bool:
        """Add an already hashed (and maybe compressed) object; False if it was present."""
        if self.has(oid):
            return False
        return self.writer.add(oid, type_, flags, stored, raw_length)

    def put(self, data: bytes | memoryview, type_: int = BLOB) -> tuple[ObjectId, int]:
        """Store ``data``; returns its id and the bytes newly stored (0 if it was present)."""
        oid = object_id(data)
        if self.has(oid):
            return oid, 0
        flags, stored = self.compress(data)
        self.put_stored(oid, type_, flags, stored, len(data))
        return oid, len(stored)

    # --- reading --------------------------------------------------------------------------

    def entry(self, oid: str) -> IndexEntry:
        entry = self.index.get(ObjectId(oid))
        if entry is None:
            self.flush()
            entry = self.index.get(ObjectId(oid))
        if entry is None:
            self.refresh_index()
            entry = self.index.get(ObjectId(oid))
        if entry is None:
            raise NotFound(f"object {oid} is not in the store {self.backend.url}")
        return entry

    def decode(
        self, oid: str, entry: IndexEntry, stored: bytes | memoryview, near: Callable[[str], bytes | None] | None = None
    ) -> bytes | memoryview:
        """The verified content of stored bytes read elsewhere (``iter_stored``): IntegrityError if
        damaged. ``near`` may give delta bases already read (see ``bases_of``)."""
        return self._decode_chain(oid, entry, stored, near)[0]

    def _decode(self, oid: str, entry: IndexEntry, stored: bytes | memoryview) -> bytes | memoryview:
        """The verified content of a stored object (a view into ``stored`` when it is raw)."""
        return self._decode_chain(oid, entry, stored)[0]

    def _decode_chain(
        self, oid: str, entry: IndexEntry, stored: bytes | memoryview, near: Callable[[str], bytes | None] | None = None
    ) -> tuple[bytes | memoryview, int]:
        """(verified content, how many delta bases lie under it) of a stored object. ``near`` may
        give a delta's base from somewhere closer than the store (a file being replaced): whatever
        it gives, the content built on it is checked against ``oid``."""
        if len(stored) != entry.stored_length:
            raise IntegrityError(f"object {oid} is damaged: pack {entry.pack} is truncated")
        if entry.flags & ~FLAGS_KNOWN:
            raise IntegrityError(f"object {oid} has flags {entry.flags:#x} this modelkeep does not know: upgrade it")
        depth = 0
        try:
            if entry.flags & FLAG_DELTA:
                base_id = deltas.base_of(stored)
                found = near(base_id) if near is not None else None
                if found is not None:
                    base: bytes | memoryview = found
                else:
                    base_entry, base_stored = self.get_stored(base_id)
                    base, depth = self._decode_chain(base_id, base_entry, base_stored)
                if depth >= 2 * deltas.MAX_DEPTH:  # never written so deep: a loop in a damaged store
                    raise IntegrityError(f"object {oid} is damaged: its chain of delta bases does not end")
                if entry.flags & FLAG_PLANES:
                    data: bytes | memoryview = planes.decode(stored[deltas.BASE_ID :], entry.raw_length, _decompressor(), base)
                else:
                    data = deltas.decode(stored, base, entry.raw_length)
                depth += 1
            elif entry.flags & FLAG_PLANES:
                data = planes.decode(stored, entry.raw_length, _decompressor())
            elif entry.flags & FLAG_ZSTD:
                data = _decompressor().decompress(stored, max_output_size=entry.raw_length)
            else:
                data = stored
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"object {oid} is damaged: {exc}") from exc
        except IntegrityError as exc:
            if near is not None and entry.flags & FLAG_DELTA:
                return self._decode_chain(oid, entry, stored)  # the near base was not it: the store's
            if entry.flags & FLAG_DELTA and not str(exc).startswith(f"object {oid}"):
                raise IntegrityError(f"object {oid} is damaged: {exc}") from exc
            raise
        if len(data) != entry.raw_length or object_id(data) != oid:
            if near is not None and entry.flags & FLAG_DELTA:
                return self._decode_chain(oid, entry, stored)  # the near base was not it: the store's
            raise IntegrityError(f"object {oid} is damaged: its content hash differs (pack {entry.pack})")
        return data, depth

    def delta_against(self, data: bytes | memoryview, base_id: str, width: int = 1) -> tuple[int, bytes] | None:
        """(flags, stored bytes) of ``data`` as a delta against the stored object ``base_id``, or
        None when there is no such object, no compression, or the base's chain is already
        ``MAX_DEPTH`` deep. Tensor bytes (``width`` > 1) are XORed with the base, in planes."""
        if self._level is None or not self.has(ObjectId(base_id)):
            return None
        try:
            entry, stored = self.get_stored(base_id)
            base, depth = self._decode_chain(base_id, entry, stored)
        except (NotFound, IntegrityError):
            return None
        if depth >= deltas.MAX_DEPTH:
            return None  # re-based: stored whole, so no read goes deeper
        if width > 1:
            return FLAG_DELTA | FLAG_PLANES, planes.encode(data, width, self._compressor(), base_id=base_id, base=base)
        return FLAG_DELTA, deltas.encode(data, base_id, base, self._level)

    def get(self, oid: str) -> bytes:
        """An object's content, verified against its id (never returns damaged data)."""
        check_id(oid)
        entry, stored = self.get_stored(oid)
        return bytes(self._decode(oid, entry, stored))

    def get_stored(self, oid: str) -> tuple[IndexEntry, bytes]:
        """The stored (possibly compressed) bytes of an object, for copying between stores. A pack
        swept away since the index was read sends us to the index again, once."""
        entry = self.entry(oid)
        try:
            return entry, self.backend.get_range(pack_key(entry.pack), entry.offset, entry.stored_length)
        except NotFound:
            self.reload_index()
            entry = self.entry(oid)
            return entry, self.backend.get_range(pack_key(entry.pack), entry.offset, entry.stored_length)

    @property
    def remote(self) -> bool:
        """Whether the store is behind a network (each request a round trip)."""
        return self._by_window

    def read_tree(self, oid: str) -> list[TreeEntry]:
        return decode_tree(self.get(oid))

    def read_manifest(self, oid: str) -> list[tuple[ObjectId, int]]:
        """A large file's chunks, as (id, length), its manifest's parts read and joined."""
        return self.manifest_with_parts(oid)[1]

    def manifest_with_parts(self, oid: str) -> tuple[list[ObjectId], list[tuple[ObjectId, int]]]:
        """(ids of the manifest's parts, the file's chunks): no parts for a manifest written whole."""
        parted, rows = decode_manifest(self.get(oid))
        if not parted:
            return [], rows
        parts = [part for part, _ in rows]
        chunks: list[tuple[ObjectId, int]] = []
        for (part, size), data in zip(rows, self.get_many(parts), strict=True):
            inner, some = decode_manifest(bytes(data))
            if inner or sum(n for _, n in some) != size:
                raise IntegrityError(f"manifest {oid} is damaged: its part {part} is not the {size} bytes it lists")
            chunks.extend(some)
        return parts, chunks

    def chunks_of(self, kind: str, oid: str) -> list[tuple[ObjectId, int]]:
        """The chunk list of a file entry (one chunk for a blob)."""
        if kind == "chunked":
            return self.read_manifest(oid)
        return [(ObjectId(oid), self.entry(oid).raw_length)]

    def iter_file(self, kind: str, oid: str) -> Iterator[bytes | memoryview]:
        """A file's content, chunk by chunk, verified."""
        yield from self.get_many([c for c, _ in self.chunks_of(kind, oid)])

    def walk(self, tree_id: str, prefix: str = "") -> Iterator[tuple[str, TreeEntry]]:
        """Every file under a tree, as (POSIX path, entry), in path order."""
        for entry in self.read_tree(tree_id):
            path = f"{prefix}{entry.name}"
            if entry.kind == "tree":
                yield from self.walk(entry.id, path + "/")
            else:
                yield path, entry

    def reachable(self, kind: str, oid: str, seen: set[str] | None = None) -> set[str]:
        """Ids of every object reachable from one root (tree, manifest or blob)."""
        seen = set() if seen is None else seen
        if oid in seen:
            return seen
        seen.add(oid)
        if kind == "tree":
            for entry in self.read_tree(oid):
                self.reachable(entry.kind, entry.id, seen)
        elif kind == "chunked":
            parts, rows = self.manifest_with_parts(oid)
            chunks = [c for c, _ in rows]
            seen.update(parts, chunks)
            self.add_bases(chunks, seen)
        else:
            self.add_bases([oid], seen)
        return seen

    def add_bases(self, oids: Iterable[str], seen: set[str]) -> None:
        """Add the delta bases ``oids`` are read through (a delta is unreadable without them). The
        deltas among them are read together, a level of their chains at a time."""
        index = self.index
        level = [oid for oid in oids if (entry := index.get(ObjectId(oid))) is not None and entry.flags & FLAG_DELTA]
        while level:
            read, groups = self._reads(sorted(set(level), key=self.position))
            level = []
            for group in map(read, groups):
                for _oid, _entry, stored in group:
                    base = deltas.base_of(stored)
                    if base not in seen:
                        seen.add(base)
                        entry = index.get(ObjectId(base))
                        if entry is not None and entry.flags & FLAG_DELTA:
                            level.append(base)

    def rescue(self, kind: str, oid: str) -> int:
        """Give every condemned object ``oid`` reaches a fresh copy (a writer holding a lease may
        then refer to it: the sweep deletes only the condemned copy); how many were copied."""
        self.refresh_index()
        copied = 0
        for member in sorted(self.reachable(self.kind_of(oid) if kind == "file" else kind, oid)):
            if not self.has(ObjectId(member)) and ObjectId(member) in self.index:
                entry, stored = self.get_stored(member)
                self.writer.add(ObjectId(member), entry.type, entry.flags, stored, entry.raw_length)
                copied += 1
        if copied:
            self.flush()
        return copied

    def kind_of(self, oid: str) -> str:
        """``blob``, ``chunked`` or ``tree``, from the index."""
        type_ = self.entry(oid).type
        return {BLOB: "blob", MANIFEST: "chunked", TREE: "tree"}[type_]

    def delete_pack(self, pack_id: str) -> None:
        """Remove a pack and its index (garbage collection only): the index first, so no reader
        finds an index entry whose pack is gone (a crash between leaves an unindexed pack)."""
        from modelkeep.store.gc import crash_point

        self.backend.delete(index_key(pack_id))
        crash_point()
        self.backend.delete(pack_key(pack_id))
        if self._index is not None:
            self._index = {k: v for k, v in self._index.items() if v.pack != pack_id}


def validate_level(level: Any) -> int:
    if not isinstance(level, int) or not -7 <= level <= 19:
        raise InvalidInput(f"compression level {level!r}: an integer from -7 (fastest) to 19")
    return level
