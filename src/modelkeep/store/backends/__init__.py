"""Storage backends: one narrow interface, one module per backend, chosen by URL.

A backend stores opaque byte strings under keys (``packs/ab/<id>``, ``index/<id>``,
``config``); it knows nothing about chunks, packs or models. Keys are relative POSIX paths of
``[A-Za-z0-9._-]`` segments; a backend refuses anything else, so no key can escape its root.

Contract every backend keeps (checked by ``tests/store/test_backend_conformance.py``):

* ``put(key, data)`` is atomic: a reader sees the old value, the new value, or nothing; never
  part of it. Putting an existing key replaces it (callers only ever put identical content
  under a content-derived key, so replacement is harmless).
* ``get(key)`` returns the whole value or raises :class:`~modelkeep.errors.NotFound`;
  ``get_range(key, offset, length)`` returns that slice (shorter only at the end).
* ``exists(key)``, ``size(key)``; ``list(prefix)`` yields every key under the prefix, in no
  particular order; ``delete(key)`` is idempotent.
* Transient failures raise :class:`TransientError`; :class:`RetryBackend` retries those.

URL schemes (see :func:`open_backend`): a path or ``file://`` (local folder), ``s3://BUCKET/PREFIX``
(any S3-compatible endpoint via ``?endpoint=`` or ``AWS_ENDPOINT_URL``), ``sql+postgresql://...``
(blobs in a database table), and any other fsspec protocol (``gs://``, ``az://``, ``memory://``,
``hdfs://``...) through fsspec.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from modelkeep.errors import InvalidInput, ModelKeepError

_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


class TransientError(ModelKeepError):
    """A failure that may succeed if tried again (timeout, throttling, connection reset)."""


def check_key(key: str) -> str:
    """Refuse keys that are not plain relative paths (no '..', no absolute paths, no odd bytes)."""
    parts = key.split("/")
    if not key or not all(_SEGMENT.match(p) for p in parts):
        raise InvalidInput(f"invalid storage key {key!r}: relative path of [A-Za-z0-9._-] segments")
    return key


@runtime_checkable
class Backend(Protocol):
    """Where a repository's files live (see the module docstring for the contract)."""

    url: str

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def get_range(self, key: str, offset: int, length: int) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def list(self, prefix: str = "") -> Iterator[str]: ...

    def delete(self, key: str) -> None: ...


def put_file(backend: Backend, key: str, path: Path) -> None:
    """Store the content of the local file ``path`` under ``key``; the file is the caller's to
    remove afterwards. A backend with a ``put_file`` method takes the file itself (a local store
    renames it into place); any other is sent its bytes."""
    mover = getattr(backend, "put_file", None)
    if mover is not None:
        mover(key, path)
    else:
        backend.put(key, path.read_bytes())


def put_while_alive(backend: Backend, key: str, data: bytes) -> None:
    """Store a value that matters only while the process writing it lives (a lease): whole when
    seen, but not forced to disk first, since a crash that loses it also ends the writer it spoke
    for. A backend with a ``put_while_alive`` method skips its fsync; any other stores it as usual."""
    writer = getattr(backend, "put_while_alive", None)
    if writer is not None:
        writer(key, data)
    else:
        backend.put(key, data)


def spool_dir(backend: Backend) -> Path:
    """Where to write a file that will become one of the backend's values: inside a local store
    (so that ``put_file`` is a rename), else the system's temporary folder."""
    folder = getattr(backend, "spool_dir", None)
    return Path(folder()) if folder is not None else Path(tempfile.gettempdir())


def open_backend(url: str, *, retry: bool = True) -> Backend:
    """The backend for ``url``, wrapped in :class:`RetryBackend` unless ``retry`` is False."""
    from modelkeep.store.backends.retry import RetryBackend

    backend = _open(url)
    return RetryBackend(backend) if retry else backend


def _open(url: str) -> Backend:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme in ("", "file"):
        from modelkeep.store.backends.local import LocalBackend

        return LocalBackend(url)
    if scheme == "s3":
        from modelkeep.store.backends.s3 import S3Backend

        return S3Backend(url)
    if scheme.startswith("sql+"):
        from modelkeep.store.backends.sql import SQLBackend

        return SQLBackend(url)
    from modelkeep.store.backends.fsspec_backend import FsspecBackend

    return FsspecBackend(url)


__all__ = ["Backend", "TransientError", "check_key", "open_backend", "put_file", "put_while_alive", "spool_dir"]
