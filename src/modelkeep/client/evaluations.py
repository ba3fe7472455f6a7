"""The remote side of evaluations and notes (``api/evaluation_routes.py``)."""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from modelkeep.client.http import Transport
from modelkeep.errors import NotFound
from modelkeep.services.evaluation.records import EvaluationRecord, EvaluationView, NoteRequest, NoteView
from modelkeep.services.models.branches import BranchView, MergeRequest


def _version(ref: str) -> str:
    name, _, spec = ref.partition("@")
    return f"/api/v1/models/{quote(name, safe='')}/versions/{quote(spec or 'latest', safe='')}"


class RemoteEvaluations:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def record(self, req: EvaluationRecord) -> EvaluationView:
        return EvaluationView.from_dict(self.transport.call("POST", "/api/v1/evaluations", json=req.model_dump()))

    def find(self, ref: str, dataset_digest: str, split: str | None, slice_by: str | None,
             target: str) -> EvaluationView | None:
        params = {"dataset_digest": dataset_digest, "target": target}
        params |= {k: v for k, v in (("split", split), ("slice_by", slice_by)) if v is not None}
        try:
            doc = self.transport.call("GET", f"{_version(ref)}/evaluations/find", params=params)
        except NotFound:
            return None
        return EvaluationView.from_dict(doc)

    def list(self, ref: str) -> builtins.list[EvaluationView]:
        return [EvaluationView.from_dict(d) for d in self.transport.call("GET", f"{_version(ref)}/evaluations")]

    def note(self, req: NoteRequest) -> NoteView:
        return NoteView(**self.transport.call("POST", "/api/v1/notes", json=req.model_dump()))

    def notes(self, ref: str) -> builtins.list[NoteView]:
        return [NoteView(**d) for d in self.transport.call("GET", f"{_version(ref)}/notes")]


def _branch(doc: dict[str, Any]) -> BranchView:
    return BranchView(**{k: v for k, v in doc.items() if k != "line"})


class RemoteBranches:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def create(self, line: str, base: str | None = None) -> BranchView:
        return _branch(self.transport.call("POST", "/api/v1/branches", json={"line": line, "base": base}))

    def list(self, model: str) -> builtins.list[BranchView]:
        return [_branch(d) for d in self.transport.call("GET", f"/api/v1/models/{quote(model, safe='')}/branches")]

    def delete(self, line: str) -> None:
        self.transport.call("DELETE", f"/api/v1/branches/{quote(line, safe='')}")

    def protect(self, model: str, on: bool = True) -> BranchView:
        return _branch(self.transport.call("PUT", f"/api/v1/models/{quote(model, safe='')}/protected", json={"on": on}))

    def base_of(self, line: str) -> str | None:
        doc = self.transport.call("GET", f"/api/v1/branches/{quote(line, safe='')}/base")
        return None if doc.get("base") is None else str(doc["base"])

    def merge(self, req: MergeRequest) -> dict[str, Any]:
        return dict(self.transport.call("POST", "/api/v1/merges", json=req.model_dump()))
