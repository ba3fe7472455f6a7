"""Experiments: named groups of runs with a number, tags and a lifecycle (MLflow's experiments).

Each experiment is one project of modelkeep's runs: a run created in experiment 7 belongs to its
project, and every permission check on it is the project's. Experiment 0 is MLflow's "Default"
(project ``default``); it exists from the first time anyone asks. Renaming an experiment keeps
its project, so the runs stay where they were.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select

from modelkeep.errors import Conflict, InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.tables import Experiment
from modelkeep.services.clock import utcnow
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.models.inputs import KEY_PATTERN, merge_tags

DEFAULT_ID, DEFAULT_NAME, DEFAULT_PROJECT = 0, "Default", "default"


@dataclass
class ExperimentView:
    id: int
    name: str
    project: str
    lifecycle_stage: str
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str] = field(default_factory=dict)


def _view(row: Experiment) -> ExperimentView:
    return ExperimentView(row.id, row.name, row.project, row.lifecycle_stage, row.created_at, row.updated_at,
                          dict(row.tags or {}))


_OF_PROJECT = select(Experiment).where(Experiment.project == bindparam("project"))  # built once: each MLflow create asks


class Experiments:
    def __init__(self, db: Database, access: Access) -> None:
        self.db, self.access = db, access

    def _ensure_default(self) -> None:
        with self.db.reader() as session:
            if session.get(Experiment, DEFAULT_ID) is not None:
                return
        try:
            with self.db.writer() as session, session.begin():
                now = utcnow()
                session.add(Experiment(id=DEFAULT_ID, name=DEFAULT_NAME, project=DEFAULT_PROJECT, lifecycle_stage="active",
                                       tags={}, created_at=now, updated_at=now))
        except Exception:  # another request made it first
            with self.db.reader() as session:
                if session.get(Experiment, DEFAULT_ID) is None:
                    raise

    def create(self, name: str, tags: dict[str, str] | None = None) -> ExperimentView:
        name = name.strip()
        if not name or len(name) > 255:
            raise InvalidInput("an experiment needs a name of 1 to 255 characters")
        project = name if KEY_PATTERN.match(name) and len(name) <= 128 else None
        self.access.check("model.write", project=project)
        self._ensure_default()
        with self.db.writer() as session, session.begin():
            if session.scalar(select(Experiment.id).where(Experiment.name == name)) is not None:
                raise Conflict(f"experiment {name!r} already exists")
            new_id = (session.scalar(select(func.max(Experiment.id))) or 0) + 1
            now = utcnow()
            row = Experiment(id=new_id, name=name, project=project or f"experiment-{new_id}", lifecycle_stage="active",
                             tags=dict(tags or {}), created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            audit.append(session, self.access.actor, "experiment.create", f"experiment:{new_id}", detail={"name": name})
            return _view(row)

    def _readable(self, where: Any, missing: str, default: bool) -> ExperimentView:
        """The one experiment ``where`` selects, read-checked; "Default" is made the first time it is asked for."""
        for attempt in (1, 2):
            with self.db.reader() as session:
                row = session.scalars(select(Experiment).where(where)).first()
                view = _view(row) if row is not None else None
            if view is not None or not default or attempt == 2:
                break
            self._ensure_default()
        if view is None:
            raise NotFound(missing)
        self.access.check("model.read", project=view.project)
        return view

    def get(self, experiment_id: int) -> ExperimentView:
        return self._readable(Experiment.id == experiment_id, f"experiment {experiment_id} does not exist",
                              experiment_id == DEFAULT_ID)

    def by_name(self, name: str) -> ExperimentView:
        return self._readable(Experiment.name == name, f"experiment {name!r} does not exist", name == DEFAULT_NAME)

    def by_project(self, project: str) -> ExperimentView:
        """The experiment over ``project`` (one is made for a project that runs used before any experiment)."""
        with self.db.reader() as session:  # the common case: one query
            row = session.scalars(_OF_PROJECT, {"project": project}).first()
            if row is not None:
                return _view(row)
        self._ensure_default()
        if project == DEFAULT_PROJECT:
            return self.get(DEFAULT_ID)
        try:
            return self.create(project)
        except Conflict:  # a concurrent request, or an experiment of that name over another project
            return self.by_name(project)

    def list(self, *, stage: str = "active") -> builtins.list[ExperimentView]:
        """Experiments the caller may read, by id; ``stage``: active, deleted or all."""
        self._ensure_default()
        with self.db.reader() as session:
            query = select(Experiment).order_by(Experiment.id)
            if stage != "all":
                query = query.where(Experiment.lifecycle_stage == stage)
            rows = [_view(r) for r in session.scalars(query)]
        return [r for r in rows if self.access.allowed(self.access.actor, "model.read", project=r.project)]

    def update(self, experiment_id: int, *, name: str | None = None, stage: str | None = None,
               tags: dict[str, Any] | None = None) -> ExperimentView:
        """Rename, delete or restore (``stage``), or set tags (a value of None deletes the tag)."""
        current = self.get(experiment_id)
        self.access.check("model.write", project=current.project)
        if experiment_id == DEFAULT_ID and stage == "deleted":
            raise InvalidInput("the Default experiment cannot be deleted")
        with self.db.writer() as session, session.begin():
            row = session.get(Experiment, experiment_id)
            assert row is not None
            if name is not None and name != row.name:
                if session.scalar(select(Experiment.id).where(Experiment.name == name)) is not None:
                    raise Conflict(f"experiment {name!r} already exists")
                row.name = name
            if stage is not None:
                row.lifecycle_stage = stage
            if tags:
                row.tags = merge_tags(row.tags, tags)
            row.updated_at = utcnow()
            audit.append(session, self.access.actor, "experiment.update", f"experiment:{experiment_id}",
                         detail={"name": name, "stage": stage, "tags": sorted(tags or {})})
            return _view(row)
