"""The store over HTTP: the server's packs and indexes, read and written by clients.

A client runs the same :class:`~modelkeep.store.repository.Repository` as the server, on a
backend that speaks these routes (``client.store.ServerStoreBackend``): it reads the indexes to
learn which chunks the server already holds and uploads packs of only the missing ones, so data
moves as chunks, deduplicated, and every chunk it downloads is verified against its id.

Writes are checked, not trusted: a pack must hash to its name (BLAKE3), an index must parse and
point inside a pack that is already stored; existing keys are never replaced; ``config`` is
read-only. Reads need ``model.read``, writes ``model.write``.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response

from modelkeep.errors import InvalidInput, NotFound

LEASE_ID = r"[0-9]{13}-[0-9a-f]{12}"
KEY = (r"^(packs/[0-9a-f]{2}/[0-9a-f]{64}|index/[0-9a-f]{64}|config|gc/condemned"  # the last two: read-only
       rf"|leases/{LEASE_ID}|journal/{LEASE_ID})$")
WRITABLE = re.compile(rf"^(packs/([0-9a-f]{{2}})/([0-9a-f]{{64}})|index/([0-9a-f]{{64}})|(leases|journal)/{LEASE_ID})$")
MAX_NOTE = 16 << 20  # a lease, or the roots one write journals
MAX_OBJECT = 64 << 20  # a pack is about 32 MiB (pack_target_size); chunks are at most 256 KiB
StoreKey = Annotated[str, Path(pattern=KEY, description="packs/XX/<id>, index/<id>, leases/<id>, journal/<id>, "
                                                        "config or gc/condemned")]
_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def store_routes(Ws: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1/store", tags=["store"])

    @router.get("/objects/{key:path}", response_class=Response,
                responses={200: {"content": {"application/octet-stream": {}}}})
    def get_object(ws: Ws, key: StoreKey, range: Annotated[str | None, Header()] = None) -> Response:
        """One stored file, whole or a byte range (``Range: bytes=A-B``)."""
        ws.access.check("model.read")
        if range:
            match = _RANGE.match(range)
            if match is None:
                raise InvalidInput(f"Range {range!r}: only 'bytes=START-END'")
            start, end = int(match[1]), int(match[2])
            if end < start:
                raise InvalidInput(f"Range {range!r}: END before START")
            data = ws.repo.backend.get_range(key, start, end - start + 1)
            return Response(data, status_code=206, media_type="application/octet-stream")
        return Response(ws.repo.backend.get(key), media_type="application/octet-stream")

    @router.head("/objects/{key:path}", response_class=Response,
                 responses={200: {"content": {"application/octet-stream": {}}}})
    def stat_object(ws: Ws, key: StoreKey) -> Response:
        """200 with ``X-Modelkeep-Size`` if the key is stored, else 404."""
        ws.access.check("model.read")
        size = str(ws.repo.backend.size(key))
        return Response(headers={"X-Modelkeep-Size": size}, media_type="application/octet-stream")

    @router.put("/objects/{key:path}", status_code=201, response_model=None)
    async def put_object(request: Request, ws: Ws, key: StoreKey) -> dict[str, Any]:
        """Store a new pack (its BLAKE3 must be its name) or its index (after the pack)."""
        from starlette.concurrency import run_in_threadpool

        ws.access.check("model.write")
        match = WRITABLE.match(key)
        if match is None:
            raise InvalidInput(f"{key} is read-only; clients write packs/XX/<id>, index/<id>, leases/<id> and journal/<id>")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_OBJECT:
                raise InvalidInput(f"{key}: over {MAX_OBJECT:,} bytes; packs are about 32 MiB")
            chunks.append(chunk)
        data = b"".join(chunks)
        if match[5] == "leases":  # a lease is its taker's: signed with the token's user, renewed only by them
            data = await run_in_threadpool(_own_lease, ws, key, data)
        await run_in_threadpool(_store_checked, ws.repo.backend, key, match, data)
        return {"key": key, "size": len(data)}

    @router.delete("/objects/{key:path}", status_code=204, response_class=Response)
    def end_lease(ws: Ws, key: Annotated[str, Path(pattern=rf"^leases/{LEASE_ID}$")]) -> Response:
        """End a writer's lease (store/leases.py); nothing else is deleted through this route."""
        ws.access.check("model.write")
        _own_lease(ws, key, None)
        ws.repo.backend.delete(key)
        return Response(status_code=204)

    @router.get("/info")
    def store_info(ws: Ws) -> dict[str, Any]:
        """How a client should move bytes: through this server, or straight to S3 (presigned URLs)."""
        ws.access.check("model.read")
        backend = ws.repo.backend
        direct = getattr(getattr(backend, "inner", backend), "presign", None) is not None
        return {"presigned": direct, "max_object": MAX_OBJECT}

    @router.get("/keys")
    def store_keys(ws: Ws, prefix: Annotated[str, Query(pattern=r"^(index/|packs/[0-9a-f]{2}/)$")] = "index/") -> list[str]:
        """Every key under ``index/`` or one ``packs/XX/`` folder."""
        ws.access.check("model.read")
        return sorted(ws.repo.backend.list(prefix))

    return router


def _own_lease(ws: Any, key: str, data: bytes | None) -> bytes:
    """A lease another user took may not be renewed or ended by this one (admins excepted);
    ``data`` (a new lease body) comes back signed with the caller's name."""
    import json

    from modelkeep.errors import PermissionDenied

    try:
        held = json.loads(ws.repo.backend.get(key))
    except (NotFound, ValueError):
        held = None
    owner = held.get("owner") if isinstance(held, dict) else None
    actor = ws.access.actor
    if owner not in (None, actor) and not ws.access.allowed(actor, "admin"):
        raise PermissionDenied(f"{key} is {owner}'s lease; only {owner} (or an admin) may renew or end it")
    if data is None:
        return b""
    try:
        doc = json.loads(data)
    except ValueError:
        raise InvalidInput(f"{key}: a JSON object; nothing stored") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"{key}: a JSON object; nothing stored")
    return json.dumps(doc | {"owner": actor}).encode()


def _store_checked(backend: Any, key: str, match: re.Match[str], data: bytes) -> None:
    from blake3 import blake3

    from modelkeep.store.format import INDEX_MAGIC, decode_records
    from modelkeep.store.packs import pack_key

    if match[5]:  # a lease (written again as it is renewed) or a journal entry: a small JSON object
        import json

        try:
            doc = json.loads(data) if len(data) <= MAX_NOTE else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise InvalidInput(f"{key}: a JSON object of at most {MAX_NOTE:,} bytes; nothing stored")
        backend.put(key, data)
        return
    if match[3]:  # a pack
        if match[2] != match[3][:2] or blake3(data).hexdigest() != match[3]:
            raise InvalidInput(f"{key}: the content does not hash to its name (BLAKE3); nothing stored")
    else:
        pack_id = match[4]
        if not data.startswith(INDEX_MAGIC):
            raise InvalidInput(f"{key}: not an index (magic missing); nothing stored")
        entries = decode_records(data[len(INDEX_MAGIC):], pack_id)
        try:
            pack_size = backend.size(pack_key(pack_id))
        except NotFound:
            raise InvalidInput(f"{key}: its pack is not stored; upload the pack first") from None
        if any(e.offset + e.stored_length > pack_size for e in entries.values()):
            raise InvalidInput(f"{key}: an entry points past the end of its pack; nothing stored")
    if backend.exists(key):  # content-addressed: what is there is the same bytes (checked when written)
        return
    backend.put(key, data)
