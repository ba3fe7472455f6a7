"""Evaluations and notes over HTTP: the routes behind ``client.evaluations.RemoteEvaluations``."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from modelkeep.errors import NotFound
from modelkeep.services.evaluation.records import EvaluationRecord, NoteRequest


def evaluation_routes(Ws: Any, Name: Any, Spec: Any) -> APIRouter:
    from modelkeep.services.connection import LocalConnection

    router = APIRouter(prefix="/api/v1", tags=["evaluations"])
    Digest = Annotated[str, Query(pattern=r"^[0-9a-f]{64}$")]
    Column = Annotated[str | None, Query(max_length=128)]

    @router.post("/evaluations", status_code=201)
    def record(ws: Ws, body: EvaluationRecord) -> dict[str, Any]:
        """Record what scoring a version on a pinned dataset version found (scored by the caller)."""
        return LocalConnection(ws).evaluations.record(body).to_dict()

    @router.get("/models/{name}/versions/{spec}/evaluations")
    def evaluations(ws: Ws, name: Name, spec: Spec) -> list[dict[str, Any]]:
        return [e.to_dict() for e in LocalConnection(ws).evaluations.list(f"{name}@{spec}")]

    @router.get("/models/{name}/versions/{spec}/evaluations/find")
    def find(ws: Ws, name: Name, spec: Spec, dataset_digest: Digest, target: Annotated[str, Query(max_length=128)],
             split: Column = None, slice_by: Column = None) -> dict[str, Any]:
        """The evaluation of this version on this dataset digest (and split, slice column, target), if any."""
        found = LocalConnection(ws).evaluations.find(f"{name}@{spec}", dataset_digest, split, slice_by, target)
        if found is None:
            raise NotFound(f"no evaluation of {name}@{spec} on {dataset_digest[:12]} yet")
        return found.to_dict()

    @router.post("/notes", status_code=201)
    def note(ws: Ws, body: NoteRequest) -> dict[str, Any]:
        """A note or decision on a version (audited)."""
        return LocalConnection(ws).evaluations.note(body).to_dict()

    @router.get("/models/{name}/versions/{spec}/notes")
    def notes(ws: Ws, name: Name, spec: Spec) -> list[dict[str, Any]]:
        return [n.to_dict() for n in LocalConnection(ws).evaluations.notes(f"{name}@{spec}")]

    return router
