"""MLflow's proxied artifact store (``/api/2.0/mlflow-artifacts/artifacts``): upload, download,
list and delete files by path; their bytes go into the content-addressed store.

Paths start with the experiment's number (``7/RUN/artifacts/...``, ``7/models/m-ID/artifacts/...``),
so each is checked against that experiment's project. ``modelkeep/models/NAME/N/...`` is a model
version's own files (what ``get-download-uri`` answers), read from its tree object, checked like any
read of that version and audited as a download.
"""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from modelkeep.api.mlflow import errors, shapes
from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.artifact_files import check_path
from modelkeep.services.workspace import Workspace


def artifact_project(ws: Workspace, path: str) -> str | None:
    """The project an artifact path belongs to (its first segment is the experiment's number)."""
    head = path.split("/", 1)[0]
    if not head.isascii() or not head.isdigit() or int(head) > 2**31 - 1:
        raise NotFound(f"artifact path {path!r}: it starts with an experiment number (or {shapes.VIRTUAL_ROOT}/)")
    return ws.experiments.get(int(head)).project


def _version_files(ws: Workspace, path: str) -> tuple[Any, str]:
    """(the version, the path inside its files) for ``modelkeep/models/NAME/N[/...]``."""
    parts = path.split("/")
    if len(parts) < 4 or not parts[3].isascii() or not parts[3].isdigit() or int(parts[3]) > 2**31 - 1:
        raise NotFound(f"artifact path {path!r}: {shapes.VIRTUAL_ROOT}/NAME/NUMBER/...")
    view = ws.model_records.version(parts[2], int(parts[3]))
    return view, "/".join(parts[4:])


def artifact_routes(Ws: Any, max_upload: int) -> APIRouter:
    router = errors.router(errors.ARTIFACTS)

    @router.get("/artifacts")
    def listing(ws: Ws, path: str = "") -> dict[str, Any]:
        path = check_path(path)
        if path.startswith(shapes.VIRTUAL_ROOT + "/"):
            view, inner = _version_files(ws, path)
            files = ws.store.files_of(view.artifact_kind, view.digest)
            out: dict[str, dict[str, Any]] = {}
            for entry in files:
                if inner and not entry.path.startswith(inner + "/"):
                    continue
                rest = entry.path[len(inner) + 1:] if inner else entry.path
                head, sep, _ = rest.partition("/")  # names in the folder listed, as MLflow's server answers
                out.setdefault(head, {"path": head, "is_dir": True} if sep else
                               {"path": head, "is_dir": False, "file_size": entry.size})
            return {"files": [out[k] for k in sorted(out)]}
        if not path:
            return {"files": []}
        listed = ws.artifact_files.list(path, project=artifact_project(ws, path))
        return {"files": [{"path": f.path, "is_dir": True} if f.is_dir else {"path": f.path, "is_dir": False,
                                                                               "file_size": f.size} for f in listed]}

    @router.get("/artifacts/{path:path}", response_class=StreamingResponse,
                responses={200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"}})
    def download(ws: Ws, path: str) -> StreamingResponse:
        path = check_path(path)
        if path.startswith(shapes.VIRTUAL_ROOT + "/"):
            view, inner = _version_files(ws, path)
            entry = next((f for f in ws.store.files_of(view.artifact_kind, view.digest) if f.path == inner), None)
            if entry is None:
                raise NotFound(f"{view.ref} has no file {inner!r}")
            kind, digest = ws.store.repo.kind_of(entry.object_id), entry.object_id
            with ws.db.writer() as session, session.begin():
                from modelkeep.services.governance import audit

                audit.append(session, ws.access.actor, "artifact.read", f"model:{view.ref}", source=ws.registry.source,
                             detail={"digest": view.digest, "file": inner, "via": "mlflow"})
        else:
            row = ws.artifact_files.file(path, project=artifact_project(ws, path))
            if row is None:
                raise NotFound(f"no artifact file {path!r}")
            kind, digest = row.kind, row.digest
        return StreamingResponse(_bytes(ws.store.repo.iter_file(kind, digest)), media_type="application/octet-stream")

    @router.put("/artifacts/{path:path}")
    async def upload(ws: Ws, path: str, request: Request) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        path = check_path(path)
        project = await run_in_threadpool(artifact_project, ws, path)
        handle, name = tempfile.mkstemp(prefix=".mlflow-upload-")
        try:
            size = 0
            with os.fdopen(handle, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > max_upload:
                        raise InvalidInput(f"artifact {path!r} is over the server's limit of {max_upload} bytes")
                    out.write(chunk)
            await run_in_threadpool(ws.artifact_files.put, path, Path(name), project=project)
        finally:
            os.unlink(name)
        return {}

    @router.delete("/artifacts/{path:path}")
    def remove(ws: Ws, path: str) -> dict[str, Any]:
        path = check_path(path)
        ws.artifact_files.delete(path, project=artifact_project(ws, path))
        return {}

    return router


def _bytes(pieces: Iterator[bytes | memoryview]) -> Iterator[bytes]:
    for piece in pieces:
        yield bytes(piece)
