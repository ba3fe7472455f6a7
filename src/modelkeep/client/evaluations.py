"""The remote side of evaluations and notes (``api/evaluation_routes.py``)."""

from __future__ import annotations

import builtins
from urllib.parse import quote

from modelkeep.client.http import Transport
from modelkeep.errors import NotFound
from modelkeep.services.evaluation.records import EvaluationRecord, EvaluationView, NoteRequest, NoteView


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
