"""Evaluations and notes over HTTP: the routes behind ``client.evaluations.RemoteEvaluations``."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.errors import NotFound
from modelkeep.services.evaluation.records import EvaluationRecord, NoteRequest
from modelkeep.services.models.branches import MergeRequest


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

    Line = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}~[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
                                description="a branch line, MODEL~BRANCH")]

    @router.post("/branches", status_code=201)
    def create_branch(ws: Ws, body: BranchBody) -> dict[str, Any]:
        return LocalConnection(ws).branches.create(body.line, body.base).to_dict()

    @router.get("/models/{name}/branches")
    def branches(ws: Ws, name: Name) -> list[dict[str, Any]]:
        return [b.to_dict() for b in LocalConnection(ws).branches.list(name)]

    @router.delete("/branches/{line}", status_code=204)
    def delete_branch(ws: Ws, line: Line) -> None:
        LocalConnection(ws).branches.delete(line)

    @router.get("/branches/{line}/base")
    def branch_base(ws: Ws, line: Line) -> dict[str, Any]:
        return {"base": LocalConnection(ws).branches.base_of(line)}

    @router.put("/models/{name}/protected")
    def protect(ws: Ws, name: Name, body: ProtectBody) -> dict[str, Any]:
        """Versions reach the model's main line only by merge (``on``), or by register again."""
        return LocalConnection(ws).branches.protect(name, body.on).to_dict()

    @router.post("/merges", status_code=201)
    def merge(ws: Ws, body: MergeRequest) -> dict[str, Any]:
        """Record a merge the caller evaluated: checked against the heads and the recorded evaluations."""
        return LocalConnection(ws).branches.merge(body)

    return router


class BranchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line: str = Field(max_length=260, description="MODEL~BRANCH")
    base: str | None = Field(default=None, max_length=300, description="the version of main it forks from (default: latest)")


class ProtectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool = True
