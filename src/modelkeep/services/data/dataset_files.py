"""The bytes side of datasets, the same on both transports: staging a file or folder into the
store, and reading a version's files back (ls, cat, checkout, status).

Everything here works on a :class:`~modelkeep.store.repository.Repository`: the local one, or
the server's reached through the store protocol (``client.store``), where only chunks the server
lacks are sent and every chunk read is verified. The version rows stay with the registry
(``services.datasets`` records them, ``client.datasets`` asks the server to).
"""

from __future__ import annotations

import bisect
import builtins
import itertools
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.data.data_status import recorded_files, status_of
from modelkeep.services.data.version_reads import version_file
from modelkeep.store import folder_watch
from modelkeep.store.chunk_cache import ChunkCache
from modelkeep.store.dataset_checkout import CheckoutResult, checkout_files
from modelkeep.store.format import TreeEntry
from modelkeep.store.ingest import Ingestor, StatCache, scan
from modelkeep.store.repository import Repository
from modelkeep.store.status_index import StatusIndex, index_path

if TYPE_CHECKING:
    from modelkeep.services.data.views import DatasetVersionView

Progress = Callable[[int], None]
PARTITION_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*\Z")
PARTITION_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class StagedContent:
    """A file or folder already in the store, ready to be recorded as a dataset version: the whole
    version, or (``partition`` set) the content of one ``KEY=VALUE`` partition."""

    root: TreeEntry
    source: str
    partition_by: str | None
    partition: str | None
    bytes_new: int
    bytes_stored: int


def parse_partition(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not PARTITION_KEY.match(key) or not PARTITION_VALUE.match(value):
        raise InvalidInput(f"invalid partition {text!r}: use KEY=VALUE, e.g. date=2026-11-01")
    return key, value


def partition_key_for(partition_by: str | None, partition: str | None, existing: Callable[[], str | None]) -> str | None:
    """The key an add stages with: ``--partition``'s, else ``--partition-by``, else the dataset's own."""
    if partition_by is not None and partition is not None:
        raise InvalidInput("give --partition-by (a whole partitioned folder) or --partition (one partition), not both")
    if partition is not None:
        return parse_partition(partition)[0]
    return partition_by or existing()


def check_partitioned(entries: dict[str, TreeEntry], key: str, path: Path | str) -> None:
    if not PARTITION_KEY.match(key):
        raise InvalidInput(f"invalid partition key {key!r}: letters, digits and '_'")
    for rel in entries:
        top = rel.split("/", 1)[0]
        if "/" not in rel or not top.startswith(f"{key}=") or not PARTITION_VALUE.match(top[len(key) + 1 :]):
            raise InvalidInput(
                f"{Path(path) / rel} is not inside a {key}=VALUE folder; a dataset partitioned by {key!r} holds only "
                f"{key}=VALUE folders at its top level"
            )


def stage(
    repo: Repository,
    cache: StatCache | None,
    path: Path,
    *,
    key: str | None,
    partition: str | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
) -> StagedContent:
    """Chunk, deduplicate and store ``path`` (only chunks the store lacks are written); flushed,
    so packs and indexes are durable before anything refers to them."""
    path = Path(path)
    started = time.time()
    keeps_index = cache is not None and cache.path is not None and partition is None and path.is_dir()
    # the folder watcher's token before the scan (what changes during it counts as after): the next status
    watch = folder_watch.token(cache.path.parent / "status", path) if keeps_index and cache and cache.path else None
    items = scan(path)
    if on_total:
        on_total(sum(i.size for i in items))
    with Ingestor(repo, cache, progress) as ingest:
        if partition is not None:
            if not path.is_dir():
                raise InvalidInput(f"a partition must be a folder; {path} is not")
            root = ingest.build_tree(ingest.add_files(items))
        elif path.is_dir():
            known = StatusIndex.load(index_path(cache.path.parent, path)) if cache is not None and cache.path else None
            entries = ingest.add_files(items, known.vouched([(i.rel, i.st) for i in items]) if known else None)
            if key is not None:
                check_partitioned(entries, key, path)
            root = ingest.build_tree(entries)
            if cache is not None and cache.path is not None:  # the next status of this folder takes one scan
                StatusIndex.of(root.id, ((i.rel, i.st, entries[i.rel]) for i in items), started, watch).save(
                    index_path(cache.path.parent, path))
        else:
            if key is not None:
                raise InvalidInput(f"--partition-by needs a folder of {key}=VALUE folders; {path} is a file")
            root = ingest.add_file(items[0])
        repo.flush()
        stats = ingest.stats
    return StagedContent(root, str(path.resolve()), key if partition is None else None, partition, stats.bytes_new,
                         stats.bytes_stored)


class DatasetFiles:
    """Reading a version's files; mixed into the local and the remote datasets service, which
    provide ``repo``, ``cache``, ``meta_dir`` and ``get``."""

    repo: Repository
    cache: StatCache
    meta_dir: Path | None
    chunk_folder: Path | None = None  # where chunks of a store behind a network are kept once read

    def get(self, ref: str) -> DatasetVersionView:
        raise NotImplementedError

    def files(self, ref: str) -> dict[str, TreeEntry]:
        """``path -> entry`` of every file in a version (a file dataset has one, its name)."""
        return self.files_of(self.get(ref))

    def files_of(self, view: DatasetVersionView) -> dict[str, TreeEntry]:
        return recorded_files(self.repo, view.name, view.digest, view.root_kind, view.source, view.bytes)

    def cat(self, ref: str, file: str | None = None) -> Iterator[bytes | memoryview]:
        return version_file(self, ref, file)

    def read_range(self, ref: str, file: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of one file of a version, reading only the chunks
        that hold them (a Parquet footer, a row group): what the fsspec filesystem serves."""
        if start < 0 or end < start:
            raise InvalidInput(f"byte range {start}-{end}: start at 0 or after, end at start or after")
        entry = self.files(ref).get(file.strip("/"))
        if entry is None:
            raise NotFound(f"{ref} has no file {file!r}", hint=f"see 'mk data ls {ref}'")
        return self.entry_range(entry, start, end)

    def entry_range(self, entry: TreeEntry, start: int, end: int) -> bytes:
        ids, offsets = self._chunk_offsets(entry)
        end = min(end, offsets[-1])
        if start >= end:
            return b""
        first = bisect.bisect_right(offsets, start) - 1
        last = bisect.bisect_left(offsets, end)  # chunks first .. last-1 overlap [start, end)
        data = b"".join(self._chunks(ids[first:last]))
        return data[start - offsets[first]:end - offsets[first]]

    def _chunks(self, ids: builtins.list[str]) -> builtins.list[bytes]:
        """The chunks' contents: from the store, through the local chunk cache when it is remote."""
        cache = self._chunk_cache
        if cache is None:
            return [bytes(part) for part in self.repo.get_many(ids)]
        found = {oid: cache.get(oid) for oid in dict.fromkeys(ids)}
        missing = [oid for oid, content in found.items() if content is None]
        for oid, content in zip(missing, self.repo.get_many(missing), strict=True):  # one batch of requests
            found[oid] = bytes(content)
            cache.put(oid, content)
        return [found[oid] or b"" for oid in ids]

    @cached_property
    def _chunk_cache(self) -> ChunkCache | None:
        if not self.repo.remote or self.chunk_folder is None:
            return None  # a local store is read as fast as a cache would be
        return ChunkCache(self.chunk_folder)

    @cached_property
    def _offsets(self) -> dict[str, tuple[builtins.list[str], builtins.list[int]]]:
        return {}

    def _chunk_offsets(self, entry: TreeEntry) -> tuple[builtins.list[str], builtins.list[int]]:
        """The file's chunk ids and where each begins (and, last, the file's size); a few files' kept."""
        cache = self._offsets
        found = cache.get(entry.id)
        if found is None:
            chunks = self.repo.chunks_of(entry.kind, entry.id)
            found = [str(c) for c, _ in chunks], [0, *itertools.accumulate(size for _, size in chunks)]
            if len(cache) >= 64:
                cache.clear()
            cache[entry.id] = found
        return found

    def checkout(
        self,
        ref: str,
        dest: Path,
        progress: Progress | None = None,
        *,
        prune: bool = False,
        force: builtins.list[str] | None = None,
    ) -> tuple[DatasetVersionView, CheckoutResult]:
        """Write a version into the folder ``dest`` (a single-file dataset keeps its file name).

        Never loses what is not ours: see :func:`modelkeep.store.dataset_checkout.checkout_files`.
        ``prune`` is refused outright on ``/``, the home folder, and the repository's folder or
        any folder above it.
        """
        view = self.get(ref)
        if prune:
            self._check_prunable(dest)
        result = checkout_files(
            self.repo, view.root, dest, file_name=Path(view.source).name or view.name, owner=f"dataset:{view.name}",
            version=view.ref, progress=progress, cache=self.cache, prune=prune, force=force,
        )
        self.cache.save()
        return view, result

    def _check_prunable(self, dest: Path) -> None:
        target = dest.expanduser().resolve()
        refused = {Path("/"), Path.home().resolve()}
        if self.meta_dir is not None:
            meta_dir = self.meta_dir.resolve()
            project = meta_dir.parent
            if target in (project, meta_dir) or target in project.parents or meta_dir in target.parents:
                raise InvalidInput(f"--prune refuses {dest}: it is or holds this repository ({project})")
        if target in refused or target == target.parent:
            raise InvalidInput(
                f"--prune refuses {dest}: never prune the root or the home folder; check out into a folder of its own"
            )

    def cached_checkout(self, ref: str) -> Path:
        """A read-only-by-convention folder with the files of ``ref`` (made once, then reused)."""
        view = self.get(ref)
        if self.cache.path is None:
            raise InvalidInput("this repository has no cache folder")
        folder = self.cache.path.parent / "checkouts" / f"{view.name}@{view.number}-{view.digest[:12]}"
        if not folder.exists():
            tmp = folder.with_name(folder.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)  # a killed earlier attempt of ours, inside the cache
            self.checkout(view.ref, tmp)
            tmp.rename(folder)
        return folder

    def status(self, name: str, path: Path | None = None) -> dict[str, Any]:
        """What ``add`` would record for ``path`` (default: where the latest version came from),
        compared with the latest version. Reads only files the stat cache cannot vouch for."""
        latest = self.get(name)
        summary = {
            "number": latest.number,
            "digest": latest.digest,
            "root_kind": latest.root_kind,
            "source": latest.source,
            "bytes": latest.bytes,
        }
        return status_of(self.repo, self.cache, name, summary, path)
