"""A store backend that reaches the server's packs and indexes through ``mk server`` itself.

With it, a client runs the ordinary :class:`~modelkeep.store.repository.Repository`: it reads
the server's indexes to learn which chunks exist, writes packs of only the missing ones, and
verifies every chunk it reads against its id. The server checks every pack and index it is sent
(``api/store_routes.py``). Where the server's store is S3, ``RemoteConnection`` uses presigned
URLs instead (``store.backends.presigned``) and the bytes bypass the server.
"""

from __future__ import annotations

from collections.abc import Iterator

from modelkeep.client.http import Transport
from modelkeep.errors import InvalidInput, NotFound
from modelkeep.store.backends import check_key


class ServerStoreBackend:
    remote = True  # each request is a round trip: the repository reads by windows

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.url = f"{transport.url} (store)"

    def _path(self, key: str) -> str:
        return f"/api/v1/store/objects/{check_key(key)}"

    def put(self, key: str, data: bytes) -> None:
        self.transport.send("PUT", self._path(key), content=data, headers={"Content-Type": "application/octet-stream"})

    def get(self, key: str) -> bytes:
        return self.transport.send("GET", self._path(key)).content

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        return self.transport.send("GET", self._path(key), headers=headers).content

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except NotFound:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self.transport.send("HEAD", self._path(key)).headers["X-Modelkeep-Size"])

    def list(self, prefix: str = "") -> Iterator[str]:
        if prefix == "packs/":  # the server lists one fan-out folder at a time
            for fan in range(256):
                yield from self.transport.call("GET", "/api/v1/store/keys", params={"prefix": f"packs/{fan:02x}/"})
            return
        yield from self.transport.call("GET", "/api/v1/store/keys", params={"prefix": prefix})

    def delete(self, key: str) -> None:
        if not key.startswith("leases/"):
            raise InvalidInput("a client cannot delete from the server's store (retention and gc run on the server)")
        self.transport.send("DELETE", self._path(key))
