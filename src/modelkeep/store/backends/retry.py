"""Retries with exponential backoff and jitter, as a wrapper around any backend."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from modelkeep.store.backends import Backend, TransientError, put_file, put_while_alive, spool_dir

T = TypeVar("T")


class RetryBackend:
    """Retry :class:`TransientError` up to ``attempts`` times; other errors pass straight through."""

    def __init__(self, inner: Backend, attempts: int = 6, base_delay: float = 0.05, max_delay: float = 2.0) -> None:
        self.inner = inner
        self.url = inner.url
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.retried = 0  # how many retries happened (for tests and reports)

    def _call(self, fn: Callable[[], T]) -> T:
        for attempt in range(self.attempts):
            try:
                return fn()
            except TransientError:
                if attempt == self.attempts - 1:
                    raise
                self.retried += 1
                delay = min(self.max_delay, self.base_delay * 2**attempt)
                time.sleep(delay * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")

    def put(self, key: str, data: bytes) -> None:
        self._call(lambda: self.inner.put(key, data))

    def put_file(self, key: str, path: Path) -> None:
        self._call(lambda: put_file(self.inner, key, path))

    def put_while_alive(self, key: str, data: bytes) -> None:
        self._call(lambda: put_while_alive(self.inner, key, data))

    def spool_dir(self) -> Path:
        return spool_dir(self.inner)

    def presign(self, key: str, method: str, expires: int = 900) -> str:
        presign = getattr(self.inner, "presign", None)
        if presign is None:
            from modelkeep.errors import Conflict

            raise Conflict(f"the store {self.url} cannot hand out presigned URLs (only S3 stores can)")
        return str(presign(key, method, expires))

    def get(self, key: str) -> bytes:
        return self._call(lambda: self.inner.get(key))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self._call(lambda: self.inner.get_range(key, offset, length))

    def exists(self, key: str) -> bool:
        return self._call(lambda: self.inner.exists(key))

    def size(self, key: str) -> int:
        return self._call(lambda: self.inner.size(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        return iter(self._call(lambda: list(self.inner.list(prefix))))

    def delete(self, key: str) -> None:
        self._call(lambda: self.inner.delete(key))
