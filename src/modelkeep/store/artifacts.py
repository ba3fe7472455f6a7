"""Model artifacts in the repository: the narrow seam the registry uses.

An artifact is a file (its id is the BLOB or MANIFEST id of its content) or a folder (a TREE),
stored with the same chunking as datasets, so successive checkpoints of a model share their
unchanged chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput
from modelkeep.store.checkout import materialize
from modelkeep.store.format import BLOB, ObjectId, TreeEntry
from modelkeep.store.ingest import Ingestor, StatCache
from modelkeep.store.leases import leased
from modelkeep.store.repository import Repository


@dataclass(frozen=True)
class FileEntry:
    path: str
    object_id: ObjectId
    size: int


@dataclass(frozen=True)
class StoredArtifact:
    kind: str  # "file", "tree" or "composite"
    digest: ObjectId
    size: int
    files: tuple[FileEntry, ...] = field(default_factory=tuple)
    bytes_new: int = 0


class ArtifactStore:
    def __init__(self, repo: Repository, cache: StatCache | None = None) -> None:
        self.repo = repo
        self.cache = cache

    def put_path(self, path: Path) -> StoredArtifact:
        if not path.exists():
            raise InvalidInput(f"artifact path {path} does not exist")
        with Ingestor(self.repo, self.cache) as ingest:
            entry, _items = ingest.add_path(path)
            self.repo.flush()
        kind = "tree" if entry.kind == "tree" else "file"
        return StoredArtifact(kind, entry.id, entry.size, self.files_of(kind, entry.id, path.name), ingest.stats.bytes_new)

    def existing(self, ref: dict[str, Any]) -> StoredArtifact:
        """A stored artifact named by ``{"kind": "file"|"tree", "digest": ...}``, checked to exist."""
        from modelkeep.errors import NotFound
        from modelkeep.store.format import check_id

        kind, digest = ref.get("kind"), check_id(str(ref.get("digest", "")))
        if kind not in ("file", "tree"):
            raise InvalidInput(f"artifact kind {kind!r}: file or tree")
        with leased(self.repo, "register") as lease:  # held until the version is committed (in a scope)
            if not self.repo.has(digest):
                self.repo.refresh_index()
                if digest not in self.repo.index and not self.repo.writer.pending(digest):
                    raise NotFound(f"artifact {digest} is not in the store; upload it first")
            self.repo.rescue(kind, digest)  # a copy a gc condemned is not relied on: a fresh one is
            lease.record(kind, digest)
        files = self.files_of(kind, digest)
        return StoredArtifact(kind, digest, sum(f.size for f in files), files)

    def put_bytes(self, data: bytes) -> ObjectId:
        with leased(self.repo, "put") as lease:
            oid, _ = self.repo.put(data, BLOB)
            self.repo.flush()
            lease.record("file", oid)
        return oid

    def get_bytes(self, oid: str) -> bytes:
        return self.repo.get(oid)

    def _entry(self, kind: str, digest: str, name: str = "artifact") -> TreeEntry:
        if kind == "tree":
            return TreeEntry(name, "tree", ObjectId(digest), 0, 0)
        kind_ = self.repo.kind_of(digest)
        # a chunked file's size is its chunks' (the manifest object's own length is not)
        size = sum(n for _, n in self.repo.chunks_of(kind_, digest)) if kind_ == "chunked" else self.repo.entry(digest).raw_length
        return TreeEntry(name, kind_, ObjectId(digest), size)

    def files_of(self, kind: str | None, digest: str | None, name: str = "artifact") -> tuple[FileEntry, ...]:
        """The files of an artifact (one entry named ``name`` for a file artifact)."""
        if not digest or kind not in ("file", "tree"):
            return ()
        if kind == "tree":
            return tuple(FileEntry(p, e.id, e.size) for p, e in self.repo.walk(digest))
        entry = self._entry(kind, digest, name)
        return (FileEntry(name, ObjectId(digest), entry.size),)

    def sha256_of(self, kind: str | None, digest: str | None) -> list[tuple[str, str]]:
        """(path, SHA-256 hex) of every file of an artifact, read back from the store: a hash any
        outside tool can check against the files (BLAKE3 of a tree object is ours alone)."""
        import hashlib

        out = []
        for entry in self.files_of(kind, digest):
            hasher = hashlib.sha256()
            for piece in self.repo.iter_file(self.repo.kind_of(entry.object_id), entry.object_id):
                hasher.update(piece)
            out.append((entry.path, hasher.hexdigest()))
        return out

    def materialize(self, kind: str, digest: str, dest: Path, progress: Callable[[int], None] | None = None) -> Path:
        materialize(self.repo, self._entry(kind, digest, dest.name), dest, progress)
        return dest
