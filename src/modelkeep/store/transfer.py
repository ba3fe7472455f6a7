"""Copying objects between two repositories (push and pull).

Only objects the destination lacks move, in their stored (compressed) form, read a span at a
time and repacked into the destination's packs; the destination's pack-then-index ordering
makes an interrupted copy harmless. With ``verify`` (pulls: the source is not ours), every
object is decompressed and hashed before it is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from modelkeep.errors import IntegrityError
from modelkeep.store.format import ObjectId
from modelkeep.store.repository import Repository


@dataclass
class TransferStats:
    objects: int = 0
    bytes: int = 0  # stored bytes moved


def missing(src: Repository, dst: Repository, ids: Iterable[str]) -> list[str]:
    """Ids present in ``src``'s index and absent from ``dst``, in ``src`` pack order (fast reads)."""
    need = [i for i in set(ids) if not dst.has(ObjectId(i))]
    return sorted(need, key=lambda i: (src.entry(i).pack, src.entry(i).offset))


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
    for oid, entry, stored in src.iter_stored(todo):
        if verify:
            try:
                src._decode(oid, entry, stored)
            except IntegrityError as exc:
                raise IntegrityError(f"refusing a damaged object from {src.backend.url}: {exc}") from exc
        if dst.put_stored(ObjectId(oid), entry.type, entry.flags, stored, entry.raw_length):
            stats.objects += 1
            stats.bytes += len(stored)
        if progress:
            progress(len(stored))
    dst.flush()
    return stats
