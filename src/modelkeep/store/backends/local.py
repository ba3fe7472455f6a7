"""A folder on a local (or mounted) file system. Writes: temp file, fsync, rename."""

from __future__ import annotations

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
        self.put_parts(key, [data])

    def put_parts(self, key: str, parts: list[bytes | memoryview]) -> None:
        """Like ``put`` of the parts joined, written in sequence (no large copy)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                for part in parts:
                    handle.write(part)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
