"""Logged models: a model a run logged, with its files, before (or without) registering it
(MLflow 3's ``LoggedModel``). Its files live under ``EXPERIMENT/models/ID/artifacts`` in the
artifact files; registering it as a model version makes them one tree object in the store."""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.tables import LoggedModel
from modelkeep.services.clock import utcnow
from modelkeep.services.governance.access import Access
from modelkeep.services.models.inputs import merge_tags
from modelkeep.services.runs.experiments import Experiments

STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


@dataclass
class LoggedModelView:
    id: str
    experiment_id: int
    run_id: int | None
    name: str
    model_type: str
    status: str
    created_at: datetime
    updated_at: datetime
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def artifact_prefix(self) -> str:
        return f"{self.experiment_id}/models/{self.id}/artifacts"


def _view(row: LoggedModel) -> LoggedModelView:
    return LoggedModelView(row.id, row.experiment_id, row.run_id, row.name, row.model_type, row.status, row.created_at,
                           row.updated_at, dict(row.params or {}), dict(row.tags or {}))


class LoggedModels:
    def __init__(self, db: Database, access: Access, experiments: Experiments) -> None:
        self.db, self.access, self.experiments = db, access, experiments

    def create(self, experiment_id: int, name: str, *, run_id: int | None = None, model_type: str = "",
               params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> LoggedModelView:
        experiment = self.experiments.get(experiment_id)
        self.access.check("model.write", project=experiment.project)
        if not name or len(name) > 255:
            raise InvalidInput("a logged model needs a name of 1 to 255 characters")
        now = utcnow()
        row = LoggedModel(id=f"m-{uuid.uuid4().hex}", experiment_id=experiment_id, run_id=run_id, name=name,
                          model_type=model_type or "", status="LOGGED_MODEL_PENDING", params=dict(params or {}),
                          tags=dict(tags or {}), created_at=now, updated_at=now, created_by=self.access.actor)
        with self.db.writer() as session, session.begin():
            session.add(row)
            session.flush()
            return _view(row)

    def get(self, model_id: str) -> LoggedModelView:
        with self.db.reader() as session:
            row = session.get(LoggedModel, model_id)
            if row is None:
                raise NotFound(f"logged model {model_id!r} does not exist")
            view = _view(row)
        self.experiments.get(view.experiment_id)  # checks model.read on its project
        return view

    def update(self, model_id: str, *, status: str | None = None, tags: dict[str, Any] | None = None) -> LoggedModelView:
        """Finalize (``status``) or set tags (a value of None deletes the tag)."""
        current = self.get(model_id)
        self.access.check("model.write", project=self.experiments.get(current.experiment_id).project)
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"logged model status {status!r}: one of {', '.join(STATUSES)}")
        with self.db.writer() as session, session.begin():
            row = session.get(LoggedModel, model_id)
            assert row is not None
            if status is not None:
                row.status = status
            if tags:
                row.tags = merge_tags(row.tags, tags)
            row.updated_at = utcnow()
            return _view(row)

    def search(self, experiment_ids: builtins.list[int], *, name: str | None = None,
               limit: int = 100) -> builtins.list[LoggedModelView]:
        readable = [e for e in experiment_ids if self._readable(e)]
        with self.db.reader() as session:
            query = select(LoggedModel).where(LoggedModel.experiment_id.in_(readable))
            if name is not None:
                query = query.where(LoggedModel.name == name)
            rows = session.scalars(query.order_by(LoggedModel.created_at.desc()).limit(limit))
            return [_view(r) for r in rows]

    def _readable(self, experiment_id: int) -> bool:
        try:
            self.experiments.get(experiment_id)
            return True
        except (NotFound, PermissionError):
            return False
