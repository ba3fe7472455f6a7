"""Any fsspec file system (GCS, Azure, HDFS, memory, ...) through its fsspec package.

Writes go to a temporary name and are renamed into place where the file system supports it;
object stores (gs, az) give atomic PUTs on their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.store.backends import TransientError, check_key


class FsspecBackend:
    remote = True  # each request is a round trip: the repository reads by windows

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:  # pragma: no cover - fsspec is a dependency
            raise InvalidInput(f"{url!r} needs fsspec: pip install fsspec") from None
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise InvalidInput(
                f"unsupported store URL {url!r}: {exc}; use a folder, s3://, sql+postgresql:// or an "
                "fsspec URL whose package is installed (gcsfs for gs://, adlfs for az://)"
            ) from exc
        self.root = root.rstrip("/")
        self.url = url
        self.atomic_rename = self.fs.protocol not in ("gs", "gcs", "az", "abfs", "s3")

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            if self.atomic_rename:
                tmp = f"{self.root}/.tmp-{uuid.uuid4().hex}"
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, path)
            else:
                self.fs.pipe_file(path, data)
        except (TimeoutError, ConnectionError) as exc:
            raise TransientError(f"writing {key} to {self.url}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._path(key)))
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the store {self.url}") from None
        except (TimeoutError, ConnectionError) as exc:
            raise TransientError(f"reading {key} from {self.url}: {exc}") from exc

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._path(key), start=offset, end=offset + length))
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the store {self.url}") from None

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(key)))
        except FileNotFoundError:
            raise NotFound(f"{key} is not in the store {self.url}") from None

    def list(self, prefix: str = "") -> Iterator[str]:
        base = f"{self.root}/{prefix}".rstrip("/") if prefix else self.root
        if not self.fs.exists(base):
            return
        strip = len(self.root.lstrip("/")) + 1
        for path in self.fs.find(base):
            rel = path.lstrip("/")[strip:]
            if not rel.startswith(".tmp-"):
                yield rel

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            pass
