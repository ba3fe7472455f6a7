"""A content-addressed object folder and the canonical trees that name folders.

Knows bytes and hashes, nothing about models. Layout under the store root::

    objects/<first 2 hex>/<remaining 62 hex>    one object, its BLAKE3-256 id is its name
    tmp/                                         files being written (garbage after a crash)

A file is one object. A folder is a *tree*: the canonical JSON document
``{"entries": [[path, object_id, size], ...]}`` (entries sorted by POSIX path, separators
``,`` and ``:``, no spaces, UTF-8), stored as an object itself, so the same content always has
the same id. Writes are atomic (temp file, fsync, rename); a crash leaves only garbage in
``tmp/``. Every read verifies the hash.

The storage issue replaces the inside of this (chunks, packs, backends); callers use only
:class:`ObjectStore` and :class:`StoredArtifact`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NewType

from blake3 import blake3

from modelkeep.errors import IntegrityError, InvalidInput, NotFound

ObjectId = NewType("ObjectId", str)
BUFFER = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    path: str
    object_id: ObjectId
    size: int


@dataclass(frozen=True)
class StoredArtifact:
    """What :meth:`ObjectStore.put_path` stored: a file or a tree, and the files inside."""

    kind: str  # "file" or "tree"
    digest: ObjectId
    size: int
    files: tuple[FileEntry, ...] = field(default_factory=tuple)


def hash_file(path: Path) -> tuple[ObjectId, int]:
    """BLAKE3 id and size of a file, streamed (memory stays bounded)."""
    hasher = blake3(max_threads=blake3.AUTO)
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(BUFFER):
            hasher.update(chunk)
            size += len(chunk)
    return ObjectId(hasher.hexdigest()), size


def hash_bytes(data: bytes) -> ObjectId:
    return ObjectId(blake3(data).hexdigest())


def encode_tree(entries: list[FileEntry]) -> bytes:
    """The canonical encoding of a tree (see the module docstring)."""
    rows = sorted([e.path, e.object_id, e.size] for e in entries)
    return json.dumps({"entries": rows}, separators=(",", ":"), ensure_ascii=False).encode()


class ObjectStore:
    """Objects in a local folder, named by their BLAKE3 id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"

    def _path(self, object_id: str) -> Path:
        if len(object_id) != 64 or any(c not in "0123456789abcdef" for c in object_id):
            raise InvalidInput(f"invalid object id {object_id!r}: 64 lower-case hex digits")
        return self.objects / object_id[:2] / object_id[2:]

    def exists(self, object_id: str) -> bool:
        return self._path(object_id).exists()

    def _write_atomic(self, object_id: str, write: callable) -> None:  # type: ignore[valid-type]
        target = self._path(object_id)
        if target.exists():
            return
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def put_bytes(self, data: bytes) -> ObjectId:
        object_id = hash_bytes(data)
        self._write_atomic(object_id, lambda handle: handle.write(data))
        return object_id

    def put_file(self, path: Path) -> FileEntry:
        object_id, size = hash_file(path)

        def copy(handle: object) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, handle, BUFFER)  # type: ignore[arg-type]

        self._write_atomic(object_id, copy)
        if hash_file(self._path(object_id))[0] != object_id:
            self._path(object_id).unlink(missing_ok=True)
            raise IntegrityError(f"{path} changed while it was being stored; nothing was kept")
        return FileEntry(path.name, object_id, size)

    def put_path(self, path: Path) -> StoredArtifact:
        """Store a file or a folder (recursively; symlinks are refused, not followed)."""
        if not path.exists():
            raise InvalidInput(f"artifact path {path} does not exist")
        if path.is_file():
            entry = self.put_file(path)
            return StoredArtifact("file", entry.object_id, entry.size, (entry,))
        if not path.is_dir():
            raise InvalidInput(f"artifact path {path} is neither a file nor a folder")
        entries = []
        for file in sorted(_walk(path)):
            stored = self.put_file(file)
            entries.append(FileEntry(file.relative_to(path).as_posix(), stored.object_id, stored.size))
        tree_id = self.put_bytes(encode_tree(entries))
        total = sum(e.size for e in entries)
        return StoredArtifact("tree", tree_id, total, tuple(sorted(entries, key=lambda e: e.path)))

    def get_bytes(self, object_id: str) -> bytes:
        """Read an object whole, verifying its hash."""
        try:
            data = self._path(object_id).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"object {object_id} is not in the store at {self.root}") from None
        if hash_bytes(data) != object_id:
            raise IntegrityError(f"object {object_id} is damaged: its content hash differs")
        return data

    def read_tree(self, object_id: str) -> tuple[FileEntry, ...]:
        document = json.loads(self.get_bytes(object_id))
        return tuple(FileEntry(p, ObjectId(o), int(s)) for p, o, s in document["entries"])

    def files_of(self, kind: str | None, digest: str | None, name: str = "") -> tuple[FileEntry, ...]:
        """The files of a stored artifact (one entry for a file artifact)."""
        if not digest or kind not in ("file", "tree"):
            return ()
        if kind == "tree":
            return self.read_tree(digest)
        size = self._path(digest).stat().st_size if self.exists(digest) else 0
        return (FileEntry(name or "artifact", ObjectId(digest), size),)

    def materialize(self, kind: str, digest: str, dest: Path) -> Path:
        """Write an artifact's content to ``dest`` (a file, or a folder for a tree)."""
        if kind == "file":
            _write_verified(self, digest, dest)
            return dest
        for entry in self.read_tree(digest):
            target = (dest / entry.path).resolve()
            if dest.resolve() not in target.parents:
                raise IntegrityError(f"tree {digest} has an entry outside its folder: {entry.path}")
            _write_verified(self, entry.object_id, target)
        return dest


def _write_verified(store: ObjectStore, object_id: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    data = store.get_bytes(object_id)
    tmp = dest.with_name(dest.name + ".mk-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


def _walk(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        for name in dirs:
            if (base / name).is_symlink():
                raise InvalidInput(f"{base / name} is a symbolic link; artifacts may not hold links")
        for name in files:
            file = base / name
            if file.is_symlink():
                raise InvalidInput(f"{file} is a symbolic link; artifacts may not hold links")
            yield file
