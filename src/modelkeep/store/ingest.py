"""Turning files and folders into objects: chunking, hashing, compression, the stat cache.

* A file up to ``small_file_limit`` bytes is one BLOB. A larger file is cut by FastCDC into
  chunks (parameters from the repository config) and described by a MANIFEST, so an append,
  an insertion or scattered edits store only the chunks they touch.
* A safetensors file is cut on its tensors instead (``store/tensor_layout.py``), and its tensor
  chunks are stored as byte planes, or as planes of their XOR with the previous version's chunk
  at the same offset (``store/planes.py``): a fine-tune that moves every weight stores 0.57-0.65
  of the raw bytes, not 0.93.
* Hashing and compression run on a thread pool (BLAKE3 and zstd release the GIL), so both cores
  work; chunks of a large file are processed in a bounded window, so memory stays flat
  whatever the file size. Files up to ``INLINE_LIMIT`` are done in the calling thread: their
  cost is Python and system calls, which threads only fight over.
* A chunk is stored zstd-compressed only when that saves at least 3 %; after a run of chunks
  that did not compress, only every 16th is tried, so incompressible data costs hashing only.
* A file whose size or mtime changes while it is read is refused (nothing is committed).
* The stat cache (``store/stat_cache.py``) maps (path, size, mtime, inode, ctime) to the entry
  made last time, so a repeated ``add`` or a ``status`` hashes only files that changed.
"""

from __future__ import annotations

import os
import stat as stat_mod
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pyfastcdc import FastCDC

from modelkeep.errors import IntegrityError, InvalidInput, NotFound
from modelkeep.store.blocks import Blocks, ChunkMap
from modelkeep.store.format import (
    BLOB,
    MANIFEST,
    RECORD,
    TREE,
    ObjectId,
    TreeEntry,
    encode_manifest,
    encode_parts,
    encode_tree,
    manifest_parts,
    object_id,
)
from modelkeep.store.leases import leased
from modelkeep.store.repository import Repository
from modelkeep.store.stat_cache import StatCache
from modelkeep.store.tensor_layout import layout

BLOCKS_IN_FLIGHT = 6  # blocks read ahead of the workers: what bounds an ingest's memory
# Files up to this size are read, hashed and compressed in the calling thread. Their cost is
# Python and system calls, which hold or fight for the GIL: on threads, every call's release and
# re-acquisition became futex traffic (2.85 million for 100,000 files of 232 bytes), and the add
# took 20.5 s and 8.4 s of system time on 3 threads against 11.9 s and 2.2 s on one. 5,000 files
# of 32 KB were no faster on 2 or 3 threads than on one either. Larger ones compress long enough
# (zstd releases the GIL) for the pool to pay.
INLINE_LIMIT = 64 << 10
OBJECT_OVERHEAD = 2 * RECORD.size  # an object's record in its pack and again in the pack's index file
Progress = Callable[[int], None]


@dataclass
class IngestStats:
    files: int = 0
    bytes: int = 0
    bytes_new: int = 0  # raw bytes of objects that were not in the store
    bytes_stored: int = 0  # what those objects take in the store: compressed, with their index records
    objects_new: int = 0
    hashed_files: int = 0  # files read and hashed (not answered by the stat cache)

    def add_object(self, raw: int, stored: int) -> None:
        self.bytes_new += raw
        self.bytes_stored += stored + OBJECT_OVERHEAD
        self.objects_new += 1


@dataclass(slots=True)  # one per file of a folder: 100,000 of them without a __dict__ each
class ScannedFile:
    path: str  # a plain string: building 5,000 Path objects costs more than the stat calls
    rel: str
    size: int
    st: os.stat_result

    @property
    def name(self) -> str:
        return self.rel.rpartition("/")[2]


def _check_name(name: str, where: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{os.path.join(where, name)!r} has a name that is not valid UTF-8; rename it") from None


# Written by ``store.dataset_checkout`` into a checked-out folder (kept here: it imports ingest).
MANIFEST_NAME = ".modelkeep-checkout.json"
STAGING_PREFIX = ".mk-staging-"
_BOOKKEEPING = {MANIFEST_NAME, f"{MANIFEST_NAME}.tmp"}


def scan(root: Path) -> list[ScannedFile]:
    """Every regular file under ``root`` (following symlinks, refusing loops and specials)."""
    if not os.path.lexists(root):
        raise InvalidInput(f"{root} does not exist")
    try:
        st = root.stat()
    except FileNotFoundError:
        raise InvalidInput(f"{root} is a broken symbolic link") from None
    if stat_mod.S_ISREG(st.st_mode):
        return [ScannedFile(str(root), root.name, st.st_size, st)]
    if not stat_mod.S_ISDIR(st.st_mode):
        raise InvalidInput(f"{root} is neither a file nor a folder")
    out: list[ScannedFile] = []
    _walk(str(root), "", st, out, set())
    return out


def scan_within(root: Path, rel: str) -> list[ScannedFile]:
    """What ``scan(root)`` lists at or under ``rel`` (a relative POSIX path in ``root``, "" for all of
    it): nothing when it does not exist or is modelkeep's own, the file, or every file of the folder — with
    ``scan``'s rules, so a watcher's changed paths are read as a whole scan would read them."""
    if not rel:
        return scan(root) if os.path.isdir(root) else []
    folder, _, name = rel.rpartition("/")
    if any(part in _BOOKKEEPING or part.startswith(STAGING_PREFIX) for part in rel.split("/")):
        return []
    path = os.path.join(root, rel)
    if not os.path.lexists(path):
        return []
    if not name.isascii():
        _check_name(name, os.path.join(root, folder))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InvalidInput(f"{path} is a broken symbolic link") from None
    if stat_mod.S_ISREG(st.st_mode):
        return [ScannedFile(path, rel, st.st_size, st)]
    if not stat_mod.S_ISDIR(st.st_mode):
        raise InvalidInput(f"{path} is not a regular file (fifo, socket or device); remove it or add a subfolder")
    out: list[ScannedFile] = []
    _walk(path, rel + "/", st, out, set())
    return out


def _walk(folder: str, rel: str, dir_st: os.stat_result, out: list[ScannedFile], visiting: set[tuple[int, int]]) -> None:
    ident = (dir_st.st_dev, dir_st.st_ino)
    if ident in visiting:
        raise InvalidInput(f"symbolic link loop at {folder}: it leads back to a folder above it")
    visiting.add(ident)
    try:
        with os.scandir(folder) as listing:  # names and joined paths from C, one stat call a file
            found = sorted(listing, key=lambda e: e.name)
    except PermissionError:
        raise InvalidInput(f"cannot read folder {folder}: permission denied") from None
    for item in found:
        name, path = item.name, item.path
        if name in _BOOKKEEPING or name.startswith(STAGING_PREFIX):
            continue  # a checkout's manifest and staging folder are modelkeep's, not the data's
        if not name.isascii():
            _check_name(name, folder)
        try:
            item_st = item.stat()  # follows symlinks
        except FileNotFoundError:
            raise InvalidInput(f"{path} is a broken symbolic link") from None
        child = f"{rel}{name}"
        if stat_mod.S_ISDIR(item_st.st_mode):
            _walk(path, child + "/", item_st, out, visiting)
        elif stat_mod.S_ISREG(item_st.st_mode):
            out.append(ScannedFile(path, child, item_st.st_size, item_st))
        else:
            raise InvalidInput(f"{path} is not a regular file (fifo, socket or device); remove it or add a subfolder")
    visiting.discard(ident)


class Ingestor:
    """Adds files and folders to a repository (one instance per operation)."""

    def __init__(
        self,
        repo: Repository,
        cache: StatCache | None = None,
        progress: Progress | None = None,
        threads: int | None = None,
        *,
        dry_run: bool = False,
    ) -> None:
        self.repo = repo
        self.dry_run = dry_run  # compute ids only; store nothing (for status)
        self.cache = cache or StatCache(None)
        self.progress = progress or (lambda n: None)
        chunker = repo.config["chunker"]
        self.cdc = FastCDC(
            chunker["avg_size"], min_size=chunker["min_size"], max_size=chunker["max_size"], seed=chunker.get("seed", 0)
        )
        self.small_limit = int(repo.config["small_file_limit"])
        self.tensors = chunker.get("tensors") == "safetensors"  # cut safetensors files on their tensors
        self.stats = IngestStats()
        # One more worker than cores: a worker blocked on the pack queue leaves a core to the others.
        self.pool = ThreadPoolExecutor(max_workers=threads or (os.cpu_count() or 2) + 1)
        self.started = time.time()
        self._incompressible = 0
        self._delta_misses = 0
        self._stats_lock = threading.Lock()
        # a lease before the first dedup lookup: a gc does not sweep what this ingest may reuse
        self._leased = None if dry_run else leased(repo, "ingest")
        self.lease = None if self._leased is None else self._leased.__enter__()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.cache.save()
        if self._leased is not None:
            leased_, self._leased = self._leased, None
            leased_.__exit__(None, None, None)

    def _record(self, entry: TreeEntry) -> TreeEntry:
        if self.lease is not None:
            self.lease.record("tree" if entry.kind == "tree" else "file", entry.id)
        return entry

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- objects --------------------------------------------------------------------------

    def _store_chunk(self, data: bytes | memoryview, type_: int = BLOB) -> ObjectId:
        """Store one object (counted in the stats when it is new); its id."""
        oid, flags, stored = self._prepare(data, type_)
        if stored is not None and self.repo.put_stored(oid, type_, flags, stored, len(data)):
            self._account(len(data), len(stored))
        return oid

    def _prepare(
        self, data: bytes | memoryview, type_: int, base: ObjectId | None = None, width: int = 1
    ) -> tuple[ObjectId, int, bytes | memoryview | None]:
        """(id, flags, stored bytes) of an object; None for the bytes when the store has it. With
        a ``base`` (the previous version's chunk at this offset), a delta against it when smaller.
        ``width``: bytes per element of tensor data (stored in byte planes), 1 for anything else."""
        oid = object_id(data)
        if self.dry_run or self.repo.has(oid):
            return oid, 0, None
        # After 8 deltas in a row that did not pay (a file rewritten, not edited), try every 16th.
        misses = self._delta_misses
        has_base = base is not None and base != oid
        if has_base and misses >= 8 and misses % 16:
            self._delta_misses = misses + 1  # skipped: counts toward the next try
            has_base = False
        delta = self.repo.delta_against(data, base, width) if has_base and base is not None else None
        # Clearly small: no need to try compressing it whole. Weights' planes alone come to
        # 0.7-0.9 of their size, so an XOR under 0.8 wins without the second compression.
        if delta is not None and len(delta[1]) < len(data) * (0.8 if width > 1 else 0.125):
            self._delta_misses = 0
            return oid, *delta
        flags, stored = self._compressed(data, type_, width)
        if delta is not None and len(delta[1]) < len(stored):
            self._delta_misses = 0
            return oid, *delta
        if delta is not None:  # made, and not worth it (a base too deep, or missing, is no miss)
            self._delta_misses = misses + 1
        return oid, flags, stored

    def _compressed(self, data: bytes | memoryview, type_: int, width: int = 1) -> tuple[int, bytes | memoryview]:
        # After 8 chunks in a row that did not compress, try only every 16th one.
        # Trees and manifests (hex ids) always compress well: never skip them.
        skip = type_ == BLOB and self._incompressible >= 8 and self._incompressible % 16
        if skip:
            self._incompressible += 1
            return 0, data
        flags, stored = self.repo.compress(data, width)
        if type_ == BLOB:
            self._incompressible = self._incompressible + 1 if not flags else 0
        return flags, stored

    def _account(self, raw: int, stored: int) -> None:
        if raw:
            with self._stats_lock:  # workers count concurrently: += on an attribute is not atomic
                self.stats.add_object(raw, stored)

    # --- files ----------------------------------------------------------------------------

    def _read_small(self, item: ScannedFile) -> tuple[str, ObjectId, os.stat_result]:
        """(kind, id, its stat after the read) of a file read whole: four system calls (open, read,
        fstat, close) where a buffered ``open().read()`` makes seven; on a VM each costs 5-30 µs."""
        try:
            fd = os.open(item.path, os.O_RDONLY)
        except PermissionError:
            raise InvalidInput(f"cannot read {item.path}: permission denied") from None
        try:
            data = os.read(fd, item.size + 1)  # one byte more than the scan saw: a file that grew shows it
            while item.size > len(data) and (more := os.read(fd, item.size + 1 - len(data))):
                data += more  # a short read (some network file systems), not the end
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if len(data) != item.size:
            raise InvalidInput(f"{item.path} changed while it was being added; nothing was committed")
        oid = self._store_chunk(data)
        return "blob", oid, after

    def _cached_entry(self, item: ScannedFile, known: tuple[str, str] | None = None) -> TreeEntry | None:
        """The entry remembered for an unchanged file whose objects are stored: ``known`` (what the
        folder's status index vouches for), else what the stat cache remembers."""
        cached = known or self.cache.lookup(item.path, item.st)
        if cached is None or not (self.dry_run or self.repo.has(ObjectId(cached[1]))):
            return None
        self.stats.files += 1
        self.stats.bytes += item.size
        self.progress(item.size)
        mode = 0o755 if item.st.st_mode & 0o111 else 0o644
        return TreeEntry(item.name, cached[0], ObjectId(cached[1]), item.size, mode)

    def add_file(self, item: ScannedFile, *, looked_up: bool = False) -> TreeEntry:
        """One file → a tree entry (``blob`` or ``chunked``), using the stat cache (``looked_up``:
        the caller found nothing there for it)."""
        cached = None if looked_up else self._cached_entry(item)
        if cached is not None:
            return self._record(cached)
        mode = 0o755 if item.st.st_mode & 0o111 else 0o644
        self.stats.hashed_files += 1
        if item.size <= self.small_limit:
            kind, oid, after = self._read_small(item)
            self.progress(item.size)
        else:
            kind, oid = self._read_large(item)
            after = os.stat(item.path)
        if (after.st_size, after.st_mtime_ns) != (item.st.st_size, item.st.st_mtime_ns):
            raise InvalidInput(f"{item.path} changed while it was being added; nothing was committed")
        self.cache.remember(item.path, item.st, kind, oid, self.started)
        self.stats.files += 1
        self.stats.bytes += item.size
        return self._record(TreeEntry(item.name, kind, oid, item.size, mode))

    def _read_large(self, item: ScannedFile) -> tuple[str, ObjectId]:
        chunks: list[tuple[ObjectId, int]] = []
        blocks = Blocks(self.cdc.max_size, BLOCKS_IN_FLIGHT)
        window: deque[Future[list[tuple[ObjectId, int]]]] = deque()

        def drain_one() -> None:
            done = window.popleft().result()
            chunks.extend(done)
            self.progress(sum(n for _, n in done))

        before = self._previous_chunks(item)
        try:
            with open(item.path, "rb", buffering=0) as handle:
                tensors = layout(handle, item.size, self.cdc.max_size) if self.tensors else None
                handle.seek(0)
                source = blocks.cut(handle, self.cdc) if tensors is None else blocks.follow(handle, tensors)
                for start, block, cuts, widths in source:
                    if len(window) >= BLOCKS_IN_FLIGHT - 1:
                        drain_one()  # a block is free again once its task is done
                    bases = [before.at(start + offset) for offset, _ in cuts] if before else None
                    window.append(self.pool.submit(self._store_block, block, cuts, bases, widths))
            while window:
                drain_one()
        except PermissionError:
            raise InvalidInput(f"cannot read {item.path}: permission denied") from None
        finally:
            for future in window:
                future.cancel()
        if sum(n for _, n in chunks) != item.size:
            raise InvalidInput(f"{item.path} changed while it was being added; nothing was committed")
        return "chunked", self._store_manifest(chunks)

    def _store_manifest(self, chunks: list[tuple[ObjectId, int]]) -> ObjectId:
        """A large file's manifest: whole, or (a long one, where the store's config says so) as
        parts and their list, so a version that changes a few chunks stores only the parts it
        touches (about 25 KB per part instead of about 1 MB per GiB)."""
        average = int(self.repo.config.get("manifest_part_chunks") or 0)
        if not average or len(chunks) <= 4 * average:
            return self._store_chunk(encode_manifest(chunks), MANIFEST)
        parts = [(self._store_chunk(encode_manifest(part), MANIFEST), sum(n for _, n in part))
                 for part in manifest_parts(chunks, average)]
        return self._store_chunk(encode_parts(parts), MANIFEST)

    def _previous_chunks(self, item: ScannedFile) -> ChunkMap | None:
        """The chunks this path held when it was last added (the stat cache remembers its entry),
        as the bases a changed chunk may be stored as a delta against."""
        row = None if self.dry_run else self.cache.row(item.path)
        if row is None or row[4] != "chunked" or not self.repo.has(ObjectId(row[5])):
            return None
        try:
            return ChunkMap(self.repo.read_manifest(row[5]))
        except (NotFound, IntegrityError):
            return None

    def _store_block(
        self,
        block: memoryview,
        cuts: list[tuple[int, int]],
        bases: list[ObjectId | None] | None = None,
        widths: list[int] | None = None,
    ) -> list[tuple[ObjectId, int]]:
        """Hash, compress and store the chunks of one block (on a worker: one hand-off per block);
        ``bases`` are the chunks of the file's previous version at the same offsets, ``widths``
        the element widths of tensor chunks."""
        out, new = [], []
        for index, (offset, length) in enumerate(cuts):
            base = bases[index] if bases else None
            oid, flags, stored = self._prepare(block[offset : offset + length], BLOB, base, widths[index] if widths else 1)
            if stored is not None:
                new.append((oid, BLOB, flags, stored, length))
            out.append((oid, length))
        # One hand-over for the block: its chunks lie side by side in the pack, as the file has them.
        for _oid, _type, _flags, stored, length in self.repo.writer.add_many(new):
            self._account(length, len(stored))
        return out

    # --- folders --------------------------------------------------------------------------

    def add_files(self, items: list[ScannedFile], vouched: dict[str, tuple[str, str]] | None = None) -> dict[str, TreeEntry]:
        """Entries for many files, small ones read in parallel; keyed by relative path. ``vouched``:
        ``relative path -> (kind, id)`` of files known unchanged (``StatusIndex.vouched``)."""
        out: dict[str, TreeEntry] = {}
        todo = []
        vouched = vouched or {}
        self.cache.prefetch(item.path for item in items if item.rel not in vouched)
        for item in items:  # files the index or the stat cache vouches for need no thread and no read
            entry = self._cached_entry(item, vouched.get(item.rel))
            if entry is None:
                todo.append(item)
            else:
                out[item.rel] = entry
        tiny = [i for i in todo if i.size <= INLINE_LIMIT]
        small = [i for i in todo if INLINE_LIMIT < i.size <= self.small_limit]
        large = [i for i in todo if i.size > self.small_limit]
        # Batches, not one task per file: fewer hand-offs between threads (and of the GIL).
        batches = [small[i : i + 64] for i in range(0, len(small), 64)]
        done = self.pool.map(lambda b: [self.add_file(i, looked_up=True) for i in b], batches)
        for item in tiny:  # meanwhile, in this thread: see INLINE_LIMIT
            out[item.rel] = self.add_file(item, looked_up=True)
        for batch, entries in zip(batches, done, strict=True):
            for item, entry in zip(batch, entries, strict=True):
                out[item.rel] = entry
        for item in large:  # each large file already uses the whole pool
            out[item.rel] = self.add_file(item, looked_up=True)
        return out

    def build_tree(self, entries: dict[str, TreeEntry]) -> TreeEntry:
        """Nested trees (one per folder) from ``relative path -> file entry``; returns the root."""
        folders: dict[str, list[TreeEntry]] = {"": []}
        for rel, entry in entries.items():
            parent, _, name = rel.rpartition("/")
            listed = folders.get(parent)
            if listed is None:  # a new folder, and any of its folders not seen yet
                listed = folders[parent] = []
                above = parent.rpartition("/")[0]
                while above not in folders:
                    folders[above] = []
                    above = above.rpartition("/")[0]
            listed.append(entry if entry.name == name else TreeEntry(name, entry.kind, entry.id, entry.size, entry.mode))
        # Deepest folders first, so each subtree exists before its parent lists it.
        for folder in sorted(folders, key=lambda f: f.count("/") + (1 if f else 0), reverse=True):
            if not folder:
                continue
            tree_id, size = self.put_tree(folders[folder])
            parent = folder.rsplit("/", 1)[0] if "/" in folder else ""
            folders[parent].append(TreeEntry(folder.rsplit("/", 1)[-1], "tree", tree_id, size, 0))
        root_id, size = self.put_tree(folders[""])
        return self._covers(entries, TreeEntry("", "tree", root_id, size, 0))

    def _covers(self, entries: dict[str, TreeEntry], root: TreeEntry) -> TreeEntry:
        """The root a tree makes stands for the entries it lists (in this ingest's lease)."""
        if self.lease is not None:
            self.lease.forget({str(e.id) for e in entries.values()})
        return self._record(root)

    def build_tree_from_entries(self, entries: dict[str, TreeEntry]) -> TreeEntry:
        """A root tree holding ``name -> entry`` as its direct children (used for partitions)."""
        children = [TreeEntry(name, e.kind, e.id, e.size, e.mode) for name, e in entries.items()]
        root_id, size = self.put_tree(children)
        return self._covers(entries, TreeEntry("", "tree", root_id, size, 0))

    def put_tree(self, entries: list[TreeEntry]) -> tuple[ObjectId, int]:
        oid = self._store_chunk(encode_tree(entries), TREE)
        return oid, sum(e.size for e in entries)

    def add_path(self, path: Path) -> tuple[TreeEntry, list[ScannedFile]]:
        """A file (→ blob/chunked entry) or a folder (→ tree entry)."""
        items = scan(path)
        if path.is_dir():
            entries = self.add_files(items)
            return self.build_tree(entries), items
        entry = self.add_file(items[0])
        return entry, items
