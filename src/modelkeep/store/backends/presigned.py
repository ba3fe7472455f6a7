"""A backend that reaches an S3 store through URLs presigned by a modelkeep server.

The client asks the server (which checks its token and permissions) for short-lived URLs and then
moves bytes directly between itself and the object store: the server never carries artifact
bytes. Listing goes through the server. Used with :class:`~modelkeep.store.repository.Repository`,
so chunking, packing, compression and verification are the same as everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx

from modelkeep.errors import NotFound
from modelkeep.store.backends import TransientError, check_key

Presign = Callable[[list[str], str], dict[str, str]]
NOTES = ("leases/", "journal/")


class PresignedBackend:
    remote = True  # each request is a round trip: the repository reads by windows

    def __init__(self, url: str, presign: Presign, lister: Callable[[str], list[str]], notes: Any = None) -> None:
        self.url = url
        self._presign = presign
        self._list = lister
        self.notes = notes  # a backend through the server for leases and journal entries (store/leases.py)
        self.http = httpx.Client(timeout=120.0)

    def _noted(self, key: str) -> Any:
        return self.notes if self.notes is not None and key.startswith(NOTES) else None

    def _one(self, key: str, method: str) -> str:
        return self._presign([check_key(key)], method)[key]

    def _check(self, response: httpx.Response, key: str) -> httpx.Response:
        if response.status_code == 404:
            raise NotFound(f"{key} is not in the store {self.url}")
        if response.status_code >= 500:
            raise TransientError(f"the object store answered {response.status_code} for {key}")
        response.raise_for_status()
        return response

    def put(self, key: str, data: bytes) -> None:
        if self._noted(key):
            return self._noted(key).put(key, data)  # type: ignore[no-any-return]
        self._check(self.http.put(self._one(key, "PUT"), content=data), key)

    def get(self, key: str) -> bytes:
        if self._noted(key):
            return self._noted(key).get(key)  # type: ignore[no-any-return]
        return self._check(self.http.get(self._one(key, "GET")), key).content

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        return self._check(self.http.get(self._one(key, "GET"), headers=headers), key).content

    def exists(self, key: str) -> bool:
        try:
            self.get_range(key, 0, 1)
            return True
        except NotFound:
            return False

    def size(self, key: str) -> int:
        return len(self.get(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        yield from self._list(prefix)

    def delete(self, key: str) -> None:
        if self._noted(key):
            return self._noted(key).delete(key)  # type: ignore[no-any-return]
        raise NotFound("deleting through presigned URLs is not allowed")
