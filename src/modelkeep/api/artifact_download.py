"""Streaming a version's artifact file to a person or a client: permission-checked, audited, verified."""

from __future__ import annotations

from starlette.responses import StreamingResponse

from modelkeep.errors import InvalidInput
from modelkeep.services.governance import audit
from modelkeep.services.models.views import VersionView
from modelkeep.services.workspace import Workspace


def stream_artifact(ws: Workspace, view: VersionView, *, filename: str | None = None) -> StreamingResponse:
    """The artifact of ``view`` (already read with the caller's permission), chunk by chunk, each
    chunk verified on the way; the read is audited first."""
    if view.artifact_kind != "file" or not view.digest:
        raise InvalidInput(
            f"{view.ref} has a {view.artifact_kind or 'missing'} artifact; only files stream here "
            "(pull folders from the shared store)"
        )
    with ws.db.writer() as session, session.begin():
        audit.append(session, ws.access.actor, "artifact.read", f"model:{view.ref}", source=ws.registry.source,
                     detail={"digest": view.digest})
    headers = {"X-Modelkeep-Digest": view.digest}
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    kind = ws.repo.kind_of(view.digest)
    return StreamingResponse(ws.repo.iter_file(kind, view.digest), media_type="application/octet-stream",
                             headers=headers)
