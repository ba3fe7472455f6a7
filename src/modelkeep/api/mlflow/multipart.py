"""MLflow's multipart upload through the server (``MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true``):
large artifacts go up in parts, several at once, each retried on its own.

``mpu/create/FOLDER`` (authenticated, checked like an upload of FOLDER/NAME, NAME being the name of
the client's local file, as MLflow's own server does) answers an upload id and one
signed URL per part; the client PUTs each part there *without* its token (MLflow's client sends
parts as it would to S3's presigned URLs), so the URL itself carries the authority: an HMAC of the
upload id, the part number and an expiry, keyed from the repository's secret. Each part is stored
under the repository's cache and answered with its BLAKE3 digest as ETag. ``mpu/complete/PATH``
(authenticated, by the user who created the upload) checks every part is there with the ETag the
client saw, joins them and stores the file as a plain upload would — content-addressed, so it
dedups like any other; ``mpu/abort/PATH`` drops the parts, and an upload left neither completed
nor aborted is dropped an hour after its URLs expired, when the next upload is created. The parts
of an upload live on the server that created it: with replicas, route an upload's requests to one
of them (or share the cache folder).
"""

import hashlib
import hmac
import json
import os
import posixpath
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

from blake3 import blake3
from fastapi import APIRouter, Request, Response
from fastapi import Path as FastPath
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.api.mlflow import errors
from modelkeep.errors import InvalidInput, NotFound, PermissionDenied
from modelkeep.services.artifact_files import check_path
from modelkeep.services.workspace import Workspace

URL_LIFETIME_S = 6 * 3600  # how long a part's signed URL is good for
MAX_PARTS = 10_000  # as S3
ABANDONED_AFTER_S = 3600  # after its URLs expire, an upload neither completed nor aborted is dropped
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(default=None, max_length=4096,
                             description="the client's local file: its name is the artifact's, under the URL's folder")

    def target(self, folder: str) -> str:
        """The artifact's path: MLflow names the folder in the URL and the file by its local path's name."""
        name = posixpath.basename(self.path.replace("\\", "/")) if self.path else ""
        return check_path(f"{folder}/{name}" if name else folder)


class CreateUpload(_Body):
    num_parts: int = Field(default=1, ge=1, le=MAX_PARTS)


class UploadedPart(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the client also sends the part's URL
    part_number: int = Field(ge=1, le=MAX_PARTS)
    etag: str | None = None


class CompleteUpload(_Body):
    upload_id: str
    parts: list[UploadedPart]


class AbortUpload(_Body):
    upload_id: str


class Uploads:
    """The uploads in progress: a folder each (``upload.json`` and the parts) under the cache."""

    def __init__(self, workspace: Workspace, max_upload: int, clock: Any = time.time) -> None:
        self.root = workspace.config.cache_dir / "mlflow-uploads"
        self.max_upload, self.clock = max_upload, clock
        secret = workspace.db.audit_key or secrets.token_bytes(32)  # without one, URLs last as long as the process
        self.key = hmac.new(secret, b"modelkeep mlflow multipart upload", hashlib.sha256).digest()

    def sign(self, upload_id: str, part: int, expires: int) -> str:
        return hmac.new(self.key, f"{upload_id}/{part}/{expires}".encode(), hashlib.sha256).hexdigest()

    def folder(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise NotFound(f"no multipart upload {upload_id!r}")
        found = self.root / upload_id
        if not (found / "upload.json").is_file():
            raise NotFound(f"no multipart upload {upload_id!r} (completed, aborted, or never created here)")
        return found

    def create(self, path: str, project: str | None, user: str, parts: int) -> tuple[str, int]:
        self.sweep()
        upload_id = secrets.token_hex(16)
        folder = self.root / upload_id
        folder.mkdir(parents=True)
        expires = int(self.clock()) + URL_LIFETIME_S
        (folder / "upload.json").write_text(json.dumps({"path": path, "project": project, "user": user, "parts": parts,
                                                        "expires": expires}))
        return upload_id, expires

    def sweep(self) -> list[str]:
        """Drop the uploads nobody completed or aborted: those whose part URLs expired more than
        :data:`ABANDONED_AFTER_S` ago (a client that has sent every part completes within
        seconds). A folder whose record is missing or unreadable counts from when it was made."""
        if not self.root.is_dir():
            return []
        now, dropped = self.clock(), []
        for folder in self.root.iterdir():
            if not (folder.is_dir() and _UPLOAD_ID.fullmatch(folder.name)):
                continue
            try:
                expires = float(json.loads((folder / "upload.json").read_text())["expires"])
            except (OSError, ValueError, KeyError, TypeError):
                try:
                    expires = folder.stat().st_mtime + URL_LIFETIME_S
                except OSError:
                    continue
            if expires + ABANDONED_AFTER_S < now:
                shutil.rmtree(folder, ignore_errors=True)
                dropped.append(folder.name)
        return dropped

    def started(self, upload_id: str, path: str, user: str) -> tuple[Path, dict[str, Any]]:
        """The upload's folder and record, for its creator and its path only."""
        folder = self.folder(upload_id)
        record = json.loads((folder / "upload.json").read_text())
        if record["path"] != path:
            raise InvalidInput(f"multipart upload {upload_id} is for {record['path']!r}, not {path!r}")
        if record["user"] != user:
            raise PermissionDenied(f"multipart upload {upload_id} was started by another user")
        return folder, record

    def check_signature(self, upload_id: str, part: int, expires: int, signature: str) -> None:
        if not hmac.compare_digest(self.sign(upload_id, part, expires).encode(), signature.encode("utf-8", "replace")):
            raise PermissionDenied("this part's upload URL is not one the server signed (or it was altered)")
        if expires < self.clock():
            raise PermissionDenied("this part's upload URL has expired: start the upload again")

    def join(self, folder: Path, record: dict[str, Any], parts: list[UploadedPart]) -> Path:
        """The parts as one file, after checking each is there with the digest the client was told."""
        numbers = sorted(p.part_number for p in parts)
        if numbers != list(range(1, record["parts"] + 1)):
            raise InvalidInput(f"a multipart upload of {record['parts']} parts completes with parts 1 to "
                               f"{record['parts']}, each once; got {numbers[:10]}{' ...' if len(numbers) > 10 else ''}")
        for number in numbers:
            if not (folder / f"{number}.part").is_file():
                raise InvalidInput(f"part {number} of multipart upload {folder.name} was never uploaded")
        total = sum((folder / f"{number}.part").stat().st_size for number in numbers)
        if total > self.max_upload:
            raise InvalidInput(f"artifact {record['path']!r} is over the server's limit of {self.max_upload} bytes")
        told = {p.part_number: p.etag.strip('"') for p in parts if p.etag}
        whole = folder / "whole"
        with whole.open("wb") as out:
            for number in numbers:  # each part's ETag taken from the bytes as they are joined
                digest = blake3()
                with (folder / f"{number}.part").open("rb") as piece:
                    while chunk := piece.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                if number in told and told[number] != digest.hexdigest():
                    raise InvalidInput(f"part {number}: its ETag is not that of the bytes the server received")
        return whole


def multipart_routes(Ws: Any, workspace: Workspace, max_upload: int, project_of: Any) -> APIRouter:
    """The routes, mounted under the ``mlflow-artifacts`` prefix. ``project_of(ws, path)``: the
    project an artifact path belongs to (checked as an upload's is)."""
    router = errors.router(errors.ARTIFACTS)
    uploads = Uploads(workspace, max_upload)

    @router.post("/mpu/create/{path:path}")
    def create(ws: Ws, path: str, body: CreateUpload, request: Request) -> dict[str, Any]:
        path = body.target(check_path(path))
        project = project_of(ws, path)
        ws.access.check("model.write", project=project)  # as the upload itself will be
        upload_id, expires = uploads.create(path, project, ws.access.actor, body.num_parts)
        here = request.url.path
        base = str(request.base_url).rstrip("/") + here[:here.index("/mpu/create/")]
        return {"upload_id": upload_id, "credentials": [
            {"url": f"{base}/mpu/part/{upload_id}/{n}?expires={expires}&signature={uploads.sign(upload_id, n, expires)}",
             "part_number": n, "headers": {}} for n in range(1, body.num_parts + 1)]}

    @router.put("/mpu/part/{upload_id}/{part_number}")
    async def part(upload_id: str, part_number: Annotated[int, FastPath(ge=1, le=MAX_PARTS)], expires: int,
                   signature: str, request: Request) -> Response:
        """One part, authorized by its signed URL (no token: MLflow's client sends none here)."""
        from starlette.concurrency import run_in_threadpool

        uploads.check_signature(upload_id, part_number, expires, signature)
        folder = await run_in_threadpool(uploads.folder, upload_id)
        partial = folder / f"{part_number}.part.{secrets.token_hex(4)}"
        digest, size = blake3(), 0
        try:
            with partial.open("wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_upload:
                        raise InvalidInput(f"a part over the server's limit of {max_upload} bytes")
                    digest.update(chunk)
                    out.write(chunk)
            os.replace(partial, folder / f"{part_number}.part")  # a retried part replaces the earlier try
        finally:
            partial.unlink(missing_ok=True)
        return Response(headers={"ETag": f'"{digest.hexdigest()}"'})

    @router.post("/mpu/complete/{path:path}")
    def complete(ws: Ws, path: str, body: CompleteUpload) -> dict[str, Any]:
        folder, record = uploads.started(body.upload_id, body.target(check_path(path)), ws.access.actor)
        whole = uploads.join(folder, record, body.parts)
        ws.artifact_files.put(record["path"], whole, project=record["project"])
        shutil.rmtree(folder, ignore_errors=True)
        return {}

    @router.post("/mpu/abort/{path:path}")
    def abort(ws: Ws, path: str, body: AbortUpload) -> dict[str, Any]:
        folder, _ = uploads.started(body.upload_id, body.target(check_path(path)), ws.access.actor)
        shutil.rmtree(folder, ignore_errors=True)
        return {}

    return router
