"""A folder on a local (or mounted) file system. Writes: temp file, fsync, rename."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.store.backends import check_key


class LocalBackend:
    def __init__(self, url: str) -> None:
        path = url[len("file://") :] if url.startswith("file://") else url
        if not path:
            raise InvalidInput(f"invalid local store URL {url!r}: give a folder path or file:///path")
        self.root = Path(path).expanduser().resolve()
        self.url = f"file://{self.root}"
        if self.root.exists() and not self.root.is_dir():
            raise InvalidInput(f"store location {self.root} exists and is not a folder")
        self._tmp = self.root / ".tmp"

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        self._put(key, data, durable=True)

    def put_while_alive(self, key: str, data: bytes) -> None:
        """A lease: renamed into place whole, without the fsync (``backends.put_while_alive``)."""
        self._put(key, data, durable=False)

    def _put(self, key: str, data: bytes, *, durable: bool) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.spool_dir())
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def spool_dir(self) -> Path:
        """The store's temporary folder: a file written there becomes a value by a rename."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        return self._tmp

    def put_file(self, key: str, path: Path) -> None:
        """Move a finished, durable file into place (a copy when it lies on another file system)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self.put(key, path.read_bytes())

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the store {self.url}") from None

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            with open(self.path(key), "rb") as handle:
                return os.pread(handle.fileno(), length, offset)
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the store {self.url}") from None

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the store {self.url}") from None

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self.root / prefix if prefix else self.root
        if not base.exists():
            return
        for folder, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if d != ".tmp"]
            rel = Path(folder).relative_to(self.root)
            for name in files:
                yield (rel / name).as_posix() if str(rel) != "." else name

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
