"""Runs: what a training (or any) process logged, and the model versions it produced.

``Runs`` is the local :class:`~modelkeep.services.interface.RunsService` (``client.runs`` is the
remote one); the handle a script holds, :class:`~modelkeep.services.runs.run_handle.ActiveRun`, logs
params, metric step series, tags, input dataset versions and artifacts through either, and
``log_model`` registers a model version linked to all of it.
Lineage edges go between versions (dataset → model version) as well as through the run
(dataset → run → model version), so deleting a run never breaks a version's lineage.

A process started by ``mk run`` finds its run id in ``MODELKEEP_RUN_ID``; ``start`` then attaches
to that run instead of opening a second one, and leaves finishing it to ``mk run``.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.sequences import next_id
from modelkeep.meta.tables import (
    LineageEdge,
    Model,
    ModelVersion,
    Run,
    RunArtifact,
    RunMetric,
    RunParam,
    RunTag,
    run_node,
    table_of,
    version_node,
)
from modelkeep.services.clock import utcnow
from modelkeep.services.data.datasets import Datasets
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.interface import ArtifactRef, RunCreate
from modelkeep.services.models.inputs import check_key, normalize_params, param_number
from modelkeep.services.models.registry import Registry
from modelkeep.services.models.views import RunColumns, RunView
from modelkeep.services.runs.run_handle import RUN_ENV, ActiveRun, start_run
from modelkeep.services.runs.run_summaries import latest_points_of_run, latest_series, latest_views, starts, views_of
from modelkeep.store.artifacts import ArtifactStore

RUN_STATUSES = ("running", "finished", "failed", "killed")
__all__ = ["RUN_ENV", "RUN_STATUSES", "ActiveRun", "Runs"]


MetricPoint = tuple[str, Any, int] | tuple[str, Any, int, datetime | None]  # (key, value, step[, when measured])

# A run's parts, built once (a registration through MLflow's API reads its run each time).
_PARAMS = select(RunParam.key, RunParam.value).where(RunParam.run_id == bindparam("run_id"))
_TAGS = select(RunTag.key, RunTag.value).where(RunTag.run_id == bindparam("run_id"))
_METRICS = (select(RunMetric.key, RunMetric.step, RunMetric.value, RunMetric.logged_at)
            .where(RunMetric.run_id == bindparam("run_id")).order_by(RunMetric.key, RunMetric.step, RunMetric.logged_at))
_LATEST = latest_points_of_run()
_INPUTS = select(LineageEdge.src).where(LineageEdge.dst == bindparam("node"))
_OUTPUTS = select(LineageEdge.dst).where(LineageEdge.src == bindparam("node"))
_HISTORY = (select(RunMetric.step, RunMetric.value, RunMetric.logged_at)
            .where(RunMetric.run_id == bindparam("run_id"), RunMetric.key == bindparam("key"))
            .order_by(RunMetric.step, RunMetric.logged_at))
_POINTS = table_of(RunMetric)
_DELETE_POINT = delete(_POINTS).where(_POINTS.c.run_id == bindparam("run"), _POINTS.c.key == bindparam("name"),
                                      _POINTS.c.step == bindparam("at"))
_DELETE_MOMENT = _DELETE_POINT.where(_POINTS.c.logged_at == bindparam("when"))


class Runs:
    """The local :class:`~modelkeep.services.interface.RunsService`: runs in this registry's database.
    Every call is checked against the principal's permissions (``access``)."""

    def __init__(self, db: Database, registry: Registry, datasets: Datasets, store: ArtifactStore, access: Access) -> None:
        self.db = db
        self.registry = registry
        self.datasets = datasets
        self.store = store
        self.access = access

    @property
    def user(self) -> str:
        return self.access.actor

    def start(self, name: str | None = None, project: str = "default", command: list[str] | None = None) -> ActiveRun:
        """Start a run here (see :func:`modelkeep.services.runs.run_handle.start_run`)."""
        return start_run(self, self.store, self.registry, self.datasets, name, project, command)

    def create(self, request: RunCreate) -> int:
        check_key(request.project, "project")
        self.access.check("model.write", project=request.project)
        name = request.name or f"run-{int(time.time())}"
        with self.db.writer() as session, session.begin():
            run_id = next_id(session, "runs", Run.id)
            session.execute(
                insert(table_of(Run)).values(
                    id=run_id, name=name, project=request.project, status="running", command=request.command,
                    environment=request.environment, code=request.code, warnings=[], started_at=request.started_at or utcnow(),
                    created_by=self.user,
                )
            )
            audit.append(session, self.user, "run.start", run_node(run_id),
                         detail={"name": request.name, "project": request.project, "command": request.command,
                                 "commit": request.code.get("commit")})
        return run_id

    def attach(self, run_id: int, project: str) -> None:
        """A script started by ``mk run`` joins that run (and names its project, which ``mk run`` cannot know)."""
        check_key(project, "project")
        with self.db.writer() as session, session.begin():
            run = self._run(session, run_id, write=True)
            if project != "default" and run.project == "default":
                run.project = project

    def _run(self, session: Session, run_id: int, *, write: bool, trashed: bool = False) -> Run:
        """The run, checked for reading or writing (a run in the trash takes no writes but ``trashed`` ones)."""
        run = session.get(Run, run_id)
        if run is None:
            raise NotFound(f"run {run_id} does not exist", hint="see 'mk runs list'")
        self.access.check("model.write" if write else "model.read", project=run.project)
        if write and not trashed and run.deleted_at is not None:
            raise InvalidInput(f"run {run_id} is in the trash (deleted through MLflow's API): restore it to log to it")
        return run

    def _check(self, run_id: int, *, write: bool = True) -> None:
        with self.db.reader() as session:
            self._run(session, run_id, write=write)

    def get(self, run_id: int, *, outputs: bool = True, history: bool = True) -> RunView:
        """The run; ``outputs=False`` leaves out what it made (``models``, ``artifacts``): a run that
        registered hundreds of versions is then read in a fixed number of queries. ``history=False``
        reads each metric series' latest point only (what MLflow's run documents show, and what a
        version registered from the run records), however many steps the run logged."""
        with self.db.reader() as session:
            run = self._run(session, run_id, write=False)
            which = {"run_id": run_id}
            params = dict(session.execute(_PARAMS, which).all())
            tags = dict(session.execute(_TAGS, which).all())
            metrics: dict[str, list[tuple[int, float]]] = {}
            times: dict[str, datetime] = {}
            if history:
                for key, step, value, when in session.execute(_METRICS, which):
                    metrics.setdefault(key, []).append((step, value))
                    times[key] = when  # the last step's, as the points come in order
            else:
                latest, moments = latest_series(session.execute(_LATEST, which))
                metrics, times = latest.get(run_id, {}), moments.get(run_id, {})
            node = {"node": run_node(run_id)}
            inputs = sorted(src.split(":", 1)[1] for src, in session.execute(_INPUTS, node))
            models = [dst for dst, in session.execute(_OUTPUTS, node)] if outputs else []
            version_ids = [int(ref.split(":")[1]) for ref in models if ref.startswith("model_version:")]
            known = {  # one query for every version the run made (a run may make hundreds)
                f"model_version:{vid}": f"{name}@{version}" for vid, name, version in session.execute(
                    select(ModelVersion.id, Model.name, ModelVersion.version)
                    .join(Model, Model.id == ModelVersion.model_id).where(ModelVersion.id.in_(version_ids)))
            } if version_ids else {}
            artifacts = [
                {"name": a.name, "kind": a.kind, "digest": a.digest, "size": a.size}
                for a in session.scalars(select(RunArtifact).where(RunArtifact.run_id == run_id))
            ] if outputs else []
        labels = [known.get(ref, f"(deleted {ref})") for ref in models if ref.startswith("model_version:")]
        return RunView(
            run.id, run.name, run.project, run.status, run.started_at, run.ended_at, run.created_by, run.command,
            run.exit_code, run.environment or {}, run.code or {}, run.seeds, list(run.warnings or []),
            params, metrics, tags, inputs, artifacts, labels, times, run.deleted_at,
        )

    def list(self, project: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        self.access.check("model.read", project=project)
        with self.db.reader() as session:
            query = select(Run).order_by(Run.id.desc()).limit(limit)
            if project:
                query = query.where(Run.project == project)
            return [
                {"id": r.id, "name": r.name, "project": r.project, "status": r.status,
                 "started_at": r.started_at.isoformat() + "Z", "exit_code": r.exit_code}
                for r in session.scalars(query)
            ]

    def latest(self, project: str, limit: int = 50_000, columns: RunColumns | None = None) -> builtins.list[RunView]:
        """The latest runs of ``project`` as a search lists them, in a fixed number of statements:
        each metric series as its latest point only; no artifacts, models, command, environment or
        code (``run_summaries``); with ``columns``, only those metrics, params and tags."""
        self.access.check("model.read", project=project)
        with self.db.reader() as session:
            return latest_views(session, project, limit, columns)

    def starts(self, project: str) -> builtins.list[tuple[int, datetime, datetime | None]]:
        """(id, start, in the trash since) of every run of ``project``, for a search to order and page."""
        self.access.check("model.read", project=project)
        with self.db.reader() as session:
            return starts(session, project)

    def summaries(self, project: str, run_ids: builtins.list[int]) -> builtins.list[RunView]:
        """The runs ``run_ids`` of ``project`` (in that order) as ``latest`` shows them; a run of
        another project is left out."""
        self.access.check("model.read", project=project)
        with self.db.reader() as session:
            return [view for view in views_of(session, run_ids) if view.project == project]

    def delete(self, run_id: int) -> None:
        """Delete a run and what it logged; the model versions and their lineage stay."""
        with self.db.writer() as session, session.begin():
            self._run(session, run_id, write=True, trashed=True)
            session.execute(delete(Run).where(Run.id == run_id))
            audit.append(session, self.user, "run.delete", run_node(run_id))

    def trash(self, run_id: int, *, restore: bool = False) -> None:
        """Put a run in the trash (MLflow's delete: its lifecycle stage becomes ``deleted``), or with
        ``restore`` take it out again; nothing it logged is removed (``delete`` does that)."""
        with self.db.writer() as session, session.begin():
            run = self._run(session, run_id, write=True, trashed=True)
            run.deleted_at = None if restore else run.deleted_at or utcnow()
            audit.append(session, self.user, "run.restore" if restore else "run.trash", run_node(run_id))

    def delete_tag(self, run_id: int, key: str) -> None:
        with self.db.writer() as session, session.begin():
            self._run(session, run_id, write=True)
            gone = session.execute(delete(RunTag).where(RunTag.run_id == run_id, RunTag.key == key))
            if not gone.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"run {run_id} has no tag {key!r}")

    # --- what a run logs (ActiveRun calls these) ----------------------------------------

    def end(self, run_id: int, status: str, exit_code: int | None = None) -> None:
        if status not in RUN_STATUSES:
            raise InvalidInput(f"run status {status!r}: one of {', '.join(RUN_STATUSES)}")
        with self.db.writer() as session, session.begin():
            run = self._run(session, run_id, write=True)
            run.status, run.ended_at, run.exit_code = status, utcnow(), exit_code
            audit.append(session, self.user, "run.end", run_node(run_id), detail={"status": status, "exit_code": exit_code})

    def log_params(self, run_id: int, params: Mapping[str, Any]) -> None:
        self._upsert(RunParam, run_id, normalize_params(params))

    def log_metrics(self, run_id: int, metrics: Mapping[str, float], step: int) -> None:
        self.log_points(run_id, [(key, value, step) for key, value in metrics.items()])

    def log_points(self, run_id: int, points: Iterable[MetricPoint], *, replace_step: bool = True) -> None:
        """Metric points ``(key, value, step)``, or ``(key, value, step, when)`` with the moment it was
        measured (naive UTC; now if not given), all in one transaction. A point logged again at the same
        step replaces what was there; with ``replace_step=False`` (MLflow's way) only a point of the
        same step and moment, and the step keeps its other points."""
        self.log_batch(run_id, points=points, replace_step=replace_step)

    def log_batch(self, run_id: int, *, params: Mapping[str, Any] | None = None,
                  points: Iterable[MetricPoint] = (),
                  tags: Mapping[str, Any] | None = None, replace_step: bool = True) -> None:
        """Params, metric points (as ``log_points`` takes them) and tags in one transaction, all checked
        first: all of them are stored or none (MLflow's log-batch)."""
        named = normalize_params(params or {})
        labels = _tag_values(tags or {})
        rows: dict[tuple[str, int, datetime | None], dict[str, Any]] = {}
        now = utcnow()
        for key, value, step, *when in points:
            number = param_number(str(value))
            if number is None:
                raise InvalidInput(f"metric {key!r} must be a finite number, got {value!r}")
            name, at, measured = check_key(key, "metric"), int(step), (when[0] if when else None) or now
            rows[(name, at, None if replace_step else measured)] = {
                "run_id": run_id, "key": name, "step": at, "value": number, "logged_at": measured}
        if not (named or rows or labels):
            return
        with self.db.writer() as session, session.begin():
            self._run(session, run_id, write=True)
            self._replace(session, RunParam, run_id, named)
            if rows:
                session.execute(_DELETE_POINT if replace_step else _DELETE_MOMENT, [
                    {"run": run_id, "name": key, "at": step} | ({} if replace_step else {"when": when})
                    for key, step, when in rows])
                session.execute(insert(table_of(RunMetric)), builtins.list(rows.values()))
            self._replace(session, RunTag, run_id, labels)

    def log_history(self, run_id: int, points: builtins.list[tuple[str, float, int, datetime]]) -> None:
        self.log_points(run_id, points, replace_step=False)

    def metric_history(self, run_id: int, key: str) -> builtins.list[tuple[int, float, datetime]]:
        """A metric's points ``(step, value, when measured)`` in step order."""
        with self.db.reader() as session:
            self._run(session, run_id, write=False)
            return [(step, value, when) for step, value, when in session.execute(_HISTORY, {"run_id": run_id, "key": key})]

    def set_tags(self, run_id: int, tags: Mapping[str, Any]) -> None:
        self._upsert(RunTag, run_id, _tag_values(tags))

    def use_dataset(self, run_id: int, ref: str) -> str:
        canonical = self.datasets.canonical_ref(ref)
        self._edges(run_id, [("trained_on", f"dataset:{canonical}", run_node(run_id))])
        return canonical

    def set_seeds(self, run_id: int, seeds: dict[str, Any]) -> None:
        with self.db.writer() as session, session.begin():
            self._run(session, run_id, write=True).seeds = seeds

    def add_warning(self, run_id: int, message: str) -> None:
        with self.db.writer() as session, session.begin():
            run = self._run(session, run_id, write=True)
            run.warnings = [*(run.warnings or []), str(message)[:2000]]

    def log_artifact(self, run_id: int, name: str, artifact: ArtifactRef) -> dict[str, Any]:
        stored = self.store.existing(artifact.model_dump())  # in the store already: checked, not trusted
        if self.registry.quotas is not None and self.registry.quotas.active:  # else not even the project is read
            with self.db.reader() as session:
                project = self._run(session, run_id, write=True).project
            self.registry.quotas.check(project, stored.size)
        row = {"run_id": run_id, "name": check_artifact_name(name), "kind": stored.kind, "digest": stored.digest,
               "size": stored.size}
        with self.db.writer() as session, session.begin():
            self._run(session, run_id, write=True)
            session.execute(delete(RunArtifact).where(RunArtifact.run_id == run_id, RunArtifact.name == row["name"]))
            session.execute(insert(table_of(RunArtifact)).values(row))
        return row

    def link_output(self, run_id: int, version_id: int) -> None:
        with self.db.reader() as session:  # the version exists (its id is not a guess)
            if session.get(ModelVersion, version_id) is None:
                raise NotFound(f"model version {version_id} does not exist")
        self._edges(run_id, [("produced_by", run_node(run_id), version_node(version_id))])

    def link_dataset(self, run_id: int, ref: str, inputs: builtins.list[str]) -> None:
        """Edges for a dataset version the run made: run --produced_by--> it, input --derived_from--> it."""
        node = f"dataset:{ref}"
        self._edges(run_id, [("produced_by", run_node(run_id), node)]
                    + [("derived_from", f"dataset:{i}", node) for i in inputs if i != ref])

    # --- helpers ------------------------------------------------------------------------------

    def _edges(self, run_id: int, edges: builtins.list[tuple[str, str, str]]) -> None:
        with self.db.writer() as session, session.begin():
            self._run(session, run_id, write=True)
            for kind, src, dst in edges:
                present = session.scalar(select(LineageEdge.id).where(
                    LineageEdge.src == src, LineageEdge.dst == dst, LineageEdge.kind == kind))
                if present is None:
                    session.execute(insert(table_of(LineageEdge)).values(kind=kind, src=src, dst=dst, created_at=utcnow()))

    def _upsert(self, table: Any, run_id: int, values: Mapping[str, str]) -> None:
        with self.db.writer() as session, session.begin():
            self._run(session, run_id, write=True)
            self._replace(session, table, run_id, values)

    @staticmethod
    def _replace(session: Session, table: Any, run_id: int, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            session.execute(delete(table).where(table.run_id == run_id, table.key == key))
            session.execute(insert(table_of(table)).values(run_id=run_id, key=key, value=value))


def _tag_values(tags: Mapping[str, Any]) -> dict[str, str]:
    """A run's tags as stored: checked keys, values as text."""
    return {check_key(k, "tag"): str(v) for k, v in tags.items()}


def check_artifact_name(name: str) -> str:
    """A run artifact's name: a label shown and downloaded by, never a path on anyone's disk."""
    if not isinstance(name, str) or not 0 < len(name) <= 255 or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise InvalidInput(f"run artifact name {name!r}: 1 to 255 characters, no '/', '\\' or NUL, not '.' or '..'")
    return name
