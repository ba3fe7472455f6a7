"""Copying objects between two repositories (push and pull).

Only objects the destination lacks move, in their stored (compressed) form. A source pack all of
whose objects are wanted (a first push) is copied as it is, pack then index; the others are read
a span at a time and repacked into the destination's packs; the destination's pack-then-index ordering
makes an interrupted copy harmless. With ``verify`` (pulls: the source is not ours), every
object is decompressed and hashed before it is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from blake3 import blake3

from modelkeep.errors import IntegrityError, NotFound
from modelkeep.store.format import IndexEntry, ObjectId
from modelkeep.store.packs import index_key, pack_key, read_index
from modelkeep.store.repository import Repository

VERIFY_BATCH = 256  # objects of a pull checked together (their delta bases read in a few requests)


@dataclass
class TransferStats:
    objects: int = 0
    bytes: int = 0  # stored bytes moved


def missing(src: Repository, dst: Repository, ids: Iterable[str]) -> list[str]:
    """Ids present in ``src``'s index and absent from ``dst``, in ``src`` pack order (fast reads)."""
    need = [i for i in set(ids) if not dst.has(ObjectId(i))]
    return sorted(need, key=src.position)


def copy_objects(
    src: Repository,
    dst: Repository,
    ids: Iterable[str],
    *,
    verify: bool = False,
    progress: Callable[[int], None] | None = None,
) -> TransferStats:
    stats = TransferStats()
    todo = missing(src, dst, ids)
    if not verify:  # a pack all of whose objects are wanted moves as it is: two files, no repacking
        todo = _whole_packs(src, dst, todo, stats, progress)
    batch: list[tuple[str, IndexEntry, memoryview]] = []

    def accept(members: list[tuple[str, IndexEntry, memoryview]]) -> None:
        if verify:  # each object decoded and hashed; a batch's delta bases read together
            try:
                near = src.bases_of(members)
                for oid, entry, stored in members:
                    src.decode(oid, entry, stored, near)
            except (IntegrityError, NotFound) as exc:
                raise IntegrityError(f"refusing a damaged object from {src.backend.url}: {exc}") from exc
        for oid, entry, stored in members:
            if dst.put_stored(ObjectId(oid), entry.type, entry.flags, stored, entry.raw_length):
                stats.objects += 1
                stats.bytes += len(stored)
            if progress:
                progress(len(stored))

    for oid, entry, stored in src.iter_stored(todo):
        batch.append((oid, entry, memoryview(stored)))
        if len(batch) >= VERIFY_BATCH:
            accept(batch)
            batch = []
    accept(batch)
    dst.flush()
    return stats


def _whole_packs(src: Repository, dst: Repository, todo: list[str], stats: TransferStats,
                 progress: Callable[[int], None] | None) -> list[str]:
    """Copy the source packs every object of which is in ``todo`` (a first push: nearly all of
    them) as they are, the pack and then its index; returns what is left to copy object by object."""
    wanted: dict[str, int] = {}
    for oid in todo:
        pack = src.entry(oid).pack
        wanted[pack] = wanted.get(pack, 0) + 1
    if not wanted:
        return todo
    held: dict[str, int] = {}
    for entry in src.index.values():
        if entry.pack in wanted:
            held[entry.pack] = held.get(entry.pack, 0) + 1
    whole = {pack for pack, count in wanted.items() if count == held.get(pack)}
    for pack in sorted(whole):
        try:
            data = src.backend.get(pack_key(pack))
            index = src.backend.get(index_key(pack))
        except NotFound:  # swept since the index was read: those objects go one by one
            whole.discard(pack)
            continue
        if blake3(data).hexdigest() != pack:
            raise IntegrityError(f"pack {pack} in {src.backend.url} does not hash to its name; push refused")
        dst.backend.put(pack_key(pack), data)  # the pack first, then its index: a crash leaves garbage only
        dst.backend.put(index_key(pack), index)
        entries = read_index(dst.backend, pack)
        dst.adopt(entries)
        stats.objects += len(entries)
        stats.bytes += len(data)
        if progress:
            progress(len(data))
    return [oid for oid in todo if src.entry(oid).pack not in whole]
