"""Evaluation records and notes on versions (the local side of ``EvaluationsService``).

Scoring runs where the caller is (``scoring.py``: the model is loaded there, through its flavor,
never on the server on someone else's behalf); what it found is recorded here. An evaluation is
found again by (version, dataset digest, split, slice column, target), so ``mk eval`` does not
score the same version on the same data twice.
"""

from __future__ import annotations

import builtins
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from modelkeep.meta.collaboration_tables import Evaluation, VersionNote
from modelkeep.meta.db import Database
from modelkeep.services.clock import utcnow
from modelkeep.services.evaluation.views import EvaluationView, NoteView
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.models.views import VersionView

NoteKind = Literal["note", "decision", "limitation", "intended-use", "risk"]


class EvaluationRecord(BaseModel):
    """What scoring one version on one pinned dataset version found."""

    model_config = ConfigDict(extra="forbid")
    ref: str = Field(max_length=200, description="NAME@VERSION (or an alias) of the version scored")
    dataset: str = Field(max_length=200, description="NAME@N of the dataset version")
    dataset_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    split: str | None = Field(default=None, max_length=64)
    slice_by: str | None = Field(default=None, max_length=128)
    target: str = Field(max_length=128)
    task: Literal["classification", "regression"]
    metrics: dict[str, dict[str, float]] = Field(description='slice ("all", "COL=VALUE") -> {metric: value, "n": rows}')
    environment: dict[str, Any] = Field(default_factory=dict)


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(max_length=200)
    text: str = Field(min_length=1, max_length=20_000)
    kind: NoteKind = "note"


def _evaluation(row: Evaluation, reused: bool = False) -> EvaluationView:
    return EvaluationView(row.id, row.model, row.version, row.dataset, row.dataset_digest, row.split, row.slice_by,
                          row.target, row.task, row.metrics, row.environment, row.created_by,
                          row.created_at.isoformat() + "Z", reused)


def _note(row: VersionNote) -> NoteView:
    return NoteView(row.id, row.model, row.version, row.kind, row.text, row.created_by, row.created_at.isoformat() + "Z")


class Evaluations:
    def __init__(self, db: Database, versions: Any, access: Access, source: str = "local") -> None:
        self.db, self.versions, self.access, self.source = db, versions, access, source

    def _version(self, ref: str, permission: str) -> VersionView:
        view: VersionView = self.versions.get(ref)  # checks read access
        self.access.check(permission, model=view.name)
        return view

    def record(self, req: EvaluationRecord) -> EvaluationView:
        view = self._version(req.ref, "model.write")
        with self.db.writer() as session, session.begin():
            row = Evaluation(model=view.name, version=view.version, dataset=req.dataset, dataset_digest=req.dataset_digest,
                             split=req.split, slice_by=req.slice_by, target=req.target, task=req.task,
                             metrics=req.metrics, environment=req.environment, created_by=self.access.actor,
                             created_at=utcnow())
            session.add(row)
            session.flush()
            audit.append(session, self.access.actor, "evaluation.record", f"model:{view.ref}", source=self.source,
                         detail={"evaluation": row.id, "dataset": req.dataset, "digest": req.dataset_digest,
                                 "all": req.metrics.get("all", {})})
            return _evaluation(row)

    def find(self, ref: str, dataset_digest: str, split: str | None, slice_by: str | None, target: str) -> EvaluationView | None:
        view = self._version(ref, "model.read")
        with self.db.reader() as session:
            row = session.scalars(select(Evaluation).where(
                Evaluation.model == view.name, Evaluation.version == view.version,
                Evaluation.dataset_digest == dataset_digest, Evaluation.target == target,
                Evaluation.split.is_(None) if split is None else Evaluation.split == split,
                Evaluation.slice_by.is_(None) if slice_by is None else Evaluation.slice_by == slice_by,
            ).order_by(Evaluation.id.desc()).limit(1)).first()
            return _evaluation(row, reused=True) if row is not None else None

    def list(self, ref: str) -> builtins.list[EvaluationView]:
        view = self._version(ref, "model.read")
        with self.db.reader() as session:
            rows = session.scalars(select(Evaluation).where(Evaluation.model == view.name, Evaluation.version == view.version)
                                   .order_by(Evaluation.id))
            return [_evaluation(r) for r in rows]

    def note(self, req: NoteRequest) -> NoteView:
        view = self._version(req.ref, "model.write")
        with self.db.writer() as session, session.begin():
            row = VersionNote(model=view.name, version=view.version, kind=req.kind, text=req.text,
                              created_by=self.access.actor, created_at=utcnow())
            session.add(row)
            session.flush()
            audit.append(session, self.access.actor, f"version.{req.kind}", f"model:{view.ref}", source=self.source,
                         detail={"note": row.id, "text": req.text[:500]})
            return _note(row)

    def notes(self, ref: str) -> builtins.list[NoteView]:
        view = self._version(ref, "model.read")
        with self.db.reader() as session:
            rows = session.scalars(select(VersionNote).where(VersionNote.model == view.name,
                                                             VersionNote.version == view.version).order_by(VersionNote.id))
            return [_note(r) for r in rows]
