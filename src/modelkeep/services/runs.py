"""Runs: what a training (or any) process logged, and the model versions it produced.

``Runs.start`` records the run with its environment and git state (the uncommitted diff is
stored as an object); the returned :class:`ActiveRun` logs params, metric step series, tags,
input dataset versions and artifacts, and ``log_model`` registers a model version linked to all
of it. Lineage edges go between versions (dataset → model version) as well as through the run
(dataset → run → model version), so deleting a run never breaks a version's lineage.

A process started by ``mk run`` finds its run id in ``MODELKEEP_RUN_ID``; ``start`` then attaches
to that run instead of opening a second one, and leaves finishing it to ``mk run``.
"""

from __future__ import annotations

import builtins
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from modelkeep.capture.environment import capture
from modelkeep.capture.git import capture_git
from modelkeep.capture.seeds import seed_everything
from modelkeep.errors import InvalidInput, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.sequences import next_id
from modelkeep.meta.tables import (
    LineageEdge,
    Run,
    RunArtifact,
    RunMetric,
    RunParam,
    RunTag,
    run_node,
    table_of,
    version_node,
)
from modelkeep.services import audit
from modelkeep.services.clock import utcnow
from modelkeep.services.datasets import Datasets
from modelkeep.services.inputs import check_key, normalize_params, param_number
from modelkeep.services.registry import Registry
from modelkeep.services.views import VersionView
from modelkeep.store.artifacts import ArtifactStore

RUN_ENV = "MODELKEEP_RUN_ID"


@dataclass
class RunView:
    id: int
    name: str
    project: str
    status: str
    started_at: Any
    ended_at: Any
    created_by: str
    command: list[str] | None
    exit_code: int | None
    environment: dict[str, Any]
    code: dict[str, Any]
    seeds: dict[str, Any] | None
    warnings: list[str]
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        duration = (self.ended_at - self.started_at).total_seconds() if self.ended_at else None
        return {
            "id": self.id, "name": self.name, "project": self.project, "status": self.status,
            "started_at": self.started_at.isoformat() + "Z",
            "ended_at": self.ended_at.isoformat() + "Z" if self.ended_at else None,
            "duration_s": duration, "created_by": self.created_by, "command": self.command,
            "exit_code": self.exit_code, "params": self.params,
            "metrics": {k: [{"step": s, "value": v} for s, v in series] for k, series in self.metrics.items()},
            "tags": self.tags, "inputs": self.inputs, "artifacts": self.artifacts, "models": self.models,
            "code": self.code, "seeds": self.seeds, "warnings": self.warnings, "environment": self.environment,
        }


class Runs:
    def __init__(self, db: Database, registry: Registry, datasets: Datasets, store: ArtifactStore, user: str) -> None:
        self.db = db
        self.registry = registry
        self.datasets = datasets
        self.store = store
        self.user = user

    def start(self, name: str | None = None, project: str = "default", command: list[str] | None = None) -> ActiveRun:
        attached = os.environ.get(RUN_ENV)
        if attached and command is None:
            run_id = int(attached)
            check_key(project, "project")
            with self.db.writer() as session, session.begin():
                run = session.get(Run, run_id)
                if run is None:
                    raise NotFound(f"{RUN_ENV}={attached} names no run")
                if project != "default" and run.project == "default":  # `mk run` cannot know the script's project
                    run.project = project
            return ActiveRun(self, run_id, owns=False)
        check_key(project, "project")
        started = time.perf_counter()
        environment = capture()
        git, diff = capture_git()
        code = dict(git or {})
        if git and git.get("root"):
            code["cwd"] = os.path.relpath(Path.cwd(), git["root"])
        if diff:
            code["diff_object"] = self.store.put_bytes(diff)
            code["diff_bytes"] = len(diff)
        environment["capture_ms"] = round((time.perf_counter() - started) * 1000, 1)
        with self.db.writer() as session, session.begin():
            run_id = next_id(session, "runs", Run.id)
            session.execute(
                insert(table_of(Run)).values(
                    id=run_id, name=name or f"run-{int(time.time())}", project=project, status="running", command=command,
                    environment=environment, code=code, warnings=[], started_at=utcnow(), created_by=self.user,
                )
            )
            audit.append(session, self.user, "run.start", run_node(run_id),
                         detail={"name": name, "project": project, "command": command, "commit": code.get("commit")})
        return ActiveRun(self, run_id, owns=True)

    def get(self, run_id: int) -> RunView:
        with self.db.reader() as session:
            run = session.get(Run, run_id)
            if run is None:
                raise NotFound(f"run {run_id} does not exist", hint="see 'mk runs list'")
            params = dict(session.execute(select(RunParam.key, RunParam.value).where(RunParam.run_id == run_id)).all())
            tags = dict(session.execute(select(RunTag.key, RunTag.value).where(RunTag.run_id == run_id)).all())
            metrics: dict[str, list[tuple[int, float]]] = {}
            for key, step, value in session.execute(
                select(RunMetric.key, RunMetric.step, RunMetric.value)
                .where(RunMetric.run_id == run_id)
                .order_by(RunMetric.key, RunMetric.step)
            ):
                metrics.setdefault(key, []).append((step, value))
            node = run_node(run_id)
            inputs = sorted(
                src.split(":", 1)[1]
                for src, in session.execute(select(LineageEdge.src).where(LineageEdge.dst == node))
            )
            models = [dst for dst, in session.execute(select(LineageEdge.dst).where(LineageEdge.src == node))]
            artifacts = [
                {"name": a.name, "kind": a.kind, "digest": a.digest, "size": a.size}
                for a in session.scalars(select(RunArtifact).where(RunArtifact.run_id == run_id))
            ]
        labels = []
        for ref in models:
            if ref.startswith("model_version:"):
                try:
                    labels.append(self.registry.get_by_id(int(ref.split(":")[1])).ref)
                except NotFound:
                    labels.append(f"(deleted {ref})")
        return RunView(
            run.id, run.name, run.project, run.status, run.started_at, run.ended_at, run.created_by, run.command,
            run.exit_code, run.environment or {}, run.code or {}, run.seeds, list(run.warnings or []),
            params, metrics, tags, inputs, artifacts, labels,
        )

    def list(self, project: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            query = select(Run).order_by(Run.id.desc()).limit(limit)
            if project:
                query = query.where(Run.project == project)
            return [
                {"id": r.id, "name": r.name, "project": r.project, "status": r.status,
                 "started_at": r.started_at.isoformat() + "Z", "exit_code": r.exit_code}
                for r in session.scalars(query)
            ]

    def delete(self, run_id: int) -> None:
        """Delete a run and what it logged; the model versions and their lineage stay."""
        with self.db.writer() as session, session.begin():
            if session.get(Run, run_id) is None:
                raise NotFound(f"run {run_id} does not exist")
            session.execute(delete(Run).where(Run.id == run_id))
            audit.append(session, self.user, "run.delete", run_node(run_id))

    # --- writes used by ActiveRun ------------------------------------------------------------

    def _write(self, statement: Any, rows: builtins.list[dict[str, Any]] | None = None) -> None:
        with self.db.writer() as session, session.begin():
            session.execute(statement, rows) if rows is not None else session.execute(statement)

    def _upsert(self, table: Any, run_id: int, values: Mapping[str, str]) -> None:
        with self.db.writer() as session, session.begin():
            for key, value in values.items():
                session.execute(delete(table).where(table.run_id == run_id, table.key == key))
                session.execute(insert(table_of(table)).values(run_id=run_id, key=key, value=value))


class ActiveRun:
    """The handle ``mk.start_run`` yields. Use it as a context manager: a clean exit marks the
    run finished, an exception marks it failed (and re-raises)."""

    def __init__(self, runs: Runs, run_id: int, *, owns: bool) -> None:
        self._runs = runs
        self.id = run_id
        self._owns = owns
        self._step = 0
        self._seeded = False

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._owns:
            self.end("failed" if exc_type else "finished")

    def end(self, status: str = "finished", exit_code: int | None = None) -> None:
        with self._runs.db.writer() as session, session.begin():
            run = session.get(Run, self.id)
            assert run is not None
            run.status, run.ended_at, run.exit_code = status, utcnow(), exit_code
            audit.append(session, self._runs.user, "run.end", run_node(self.id),
                         detail={"status": status, "exit_code": exit_code})

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._runs._upsert(RunParam, self.id, normalize_params(params))

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if step is None:
            step, self._step = self._step, self._step + 1
        rows = []
        for key, value in metrics.items():
            number = param_number(str(value))
            if number is None:
                raise InvalidInput(f"metric {key!r} must be a finite number, got {value!r}")
            rows.append({"run_id": self.id, "key": check_key(key, "metric"), "step": int(step), "value": number,
                         "logged_at": utcnow()})
        with self._runs.db.writer() as session, session.begin():
            for row in rows:
                session.execute(delete(RunMetric).where(RunMetric.run_id == self.id, RunMetric.key == row["key"],
                                                        RunMetric.step == row["step"]))
            session.execute(insert(table_of(RunMetric)), rows)

    def set_tag(self, key: str, value: Any) -> None:
        self._runs._upsert(RunTag, self.id, {check_key(key, "tag"): str(value)})

    def use_dataset(self, ref: str) -> str:
        """Record a dataset version as an input; returns it as NAME@N."""
        canonical = self._runs.datasets.canonical_ref(ref)
        edge = {"kind": "trained_on", "src": f"dataset:{canonical}", "dst": run_node(self.id), "created_at": utcnow()}
        with self._runs.db.writer() as session, session.begin():
            exists = session.scalar(select(LineageEdge.id).where(
                LineageEdge.src == edge["src"], LineageEdge.dst == edge["dst"], LineageEdge.kind == "trained_on"))
            if exists is None:
                session.execute(insert(table_of(LineageEdge)).values(edge))
        return canonical

    def dataset_path(self, ref: str) -> Path:
        """Record ``ref`` as an input and return a local folder holding exactly that version
        (materialized once under the repository's cache, verified)."""
        canonical = self.use_dataset(ref)
        return self._runs.datasets.cached_checkout(canonical)

    def seed(self, seed: int, *, deterministic: bool = False) -> dict[str, Any]:
        """``mk.seed_everything`` for this run, recorded with it."""
        record = seed_everything(seed, deterministic=deterministic)
        with self._runs.db.writer() as session, session.begin():
            run = session.get(Run, self.id)
            assert run is not None
            run.seeds = record
        self._seeded = True
        return record

    def warn(self, message: str, *, emit: bool = True) -> None:
        """Record a reproducibility warning with the run (and raise a RuntimeWarning if ``emit``)."""
        if emit:
            import warnings

            warnings.warn(message, RuntimeWarning, stacklevel=3)
        with self._runs.db.writer() as session, session.begin():
            run = session.get(Run, self.id)
            assert run is not None
            run.warnings = [*(run.warnings or []), message]

    def check_dataloader(self, loader: Any) -> None:
        """Warn about a data loader whose worker processes draw unseeded random numbers."""
        if getattr(loader, "num_workers", 0) and getattr(loader, "worker_init_fn", None) is None:
            generator = getattr(loader, "generator", None)
            if generator is None:
                self.warn("DataLoader uses worker processes without worker_init_fn or a seeded generator: "
                          "augmentations in workers are not reproducible")

    def log_artifact(self, path: str | Path, name: str | None = None) -> dict[str, Any]:
        stored = self._runs.store.put_path(Path(path))
        row = {"run_id": self.id, "name": name or Path(path).name, "kind": stored.kind, "digest": stored.digest,
               "size": stored.size}
        with self._runs.db.writer() as session, session.begin():
            session.execute(delete(RunArtifact).where(RunArtifact.run_id == self.id, RunArtifact.name == row["name"]))
            session.execute(insert(table_of(RunArtifact)).values(row))
        return row

    def log_dataset(
        self, path: str | Path, name: str, *, message: str = "", window: tuple[str, str] | None = None
    ) -> Any:
        """Version ``path`` as the next version of dataset ``name``, made by this run from its
        inputs: edges input --derived_from--> output and run --produced_by--> output, so an
        intermediate dataset of a pipeline is a dataset version like any other."""
        view = self._runs.get(self.id)
        if window is not None:
            start, end = window
            if str(start) > str(end):
                raise InvalidInput(f"time window starts after it ends: {start} > {end}")
            self._runs._upsert(RunTag, self.id, {"window_start": str(start), "window_end": str(end)})
        added = self._runs.datasets.add(Path(path), name, message=message or f"made by run {self.id} ({view.name})")
        node = f"dataset:{added.ref}"
        now = utcnow()
        edges = [{"kind": "produced_by", "src": run_node(self.id), "dst": node, "created_at": now}]
        edges += [{"kind": "derived_from", "src": f"dataset:{ref}", "dst": node, "created_at": now}
                  for ref in view.inputs if ref != added.ref]
        with self._runs.db.writer() as session, session.begin():
            for edge in edges:
                present = session.scalar(select(LineageEdge.id).where(
                    LineageEdge.src == edge["src"], LineageEdge.dst == edge["dst"], LineageEdge.kind == edge["kind"]))
                if present is None:
                    session.execute(insert(table_of(LineageEdge)).values(edge))
        return added

    def log_model(
        self,
        model: Any,
        name: str,
        *,
        flavor: str = "sklearn",
        sample_input: Any = None,
        serialization: str = "skops",
        init_kwargs: dict[str, Any] | None = None,
        baseline: Any = None,
        **register: Any,
    ) -> VersionView:
        """Save ``model`` with its flavor and register it as a version linked to this run.

        ``baseline`` (a feature table, usually the training data) is profiled with the model's
        predictions on it and recorded as the version's monitoring baseline (``metadata.baseline``).
        """
        from modelkeep.flavors import save_model
        from modelkeep.flavors.signature import infer_signature

        if not self._seeded:
            self.warn("no seed was set in this run (mk.seed_everything or run.seed): results may not reproduce")
        view = self._runs.get(self.id)
        signature = register.pop("signature", None)
        if signature is None and sample_input is not None:
            signature = infer_signature(sample_input, model)
        metrics = {k: series[-1][1] for k, series in view.metrics.items()}
        metrics.update(register.pop("metrics", {}) or {})
        params = {**view.params, **(register.pop("params", {}) or {})}
        tags = {**view.tags, "run": str(self.id), **(register.pop("tags", {}) or {})}
        if os.environ.get("MODELKEEP_REPRODUCES"):  # set by `mk reproduce --verify`
            tags["reproduces"] = os.environ["MODELKEEP_REPRODUCES"]
        data = sorted(set(view.inputs) | set(register.pop("data", []) or []))
        environment = dict(view.environment)
        if view.seeds:
            environment["seeds"] = view.seeds
        if baseline is not None:
            register["metadata"] = {**(register.get("metadata") or {}), "baseline": baseline_profile(model, baseline)}
        with tempfile.TemporaryDirectory(prefix="modelkeep-model-") as tmp:
            folder = Path(tmp) / name
            save_model(model, folder, flavor, serialization=serialization, signature=signature, init_kwargs=init_kwargs)
            version = self._runs.registry.register(
                name, folder, params=params, metrics=metrics, tags=tags, data=data, signature=signature,
                environment=environment, code=view.code, **register,
            )
        edge = {"kind": "produced_by", "src": run_node(self.id), "dst": version_node(version.id), "created_at": utcnow()}
        self._runs._write(insert(table_of(LineageEdge)).values(edge))
        return version


def baseline_profile(model: Any, data: Any, *, names: list[str] | None = None) -> dict[str, Any]:
    """The profile of ``data`` and of ``model``'s predictions on (up to 10,000 rows of) it."""
    from modelkeep.stats.profile import profile

    predict = getattr(model, "predict", None)
    predictions = None
    if callable(predict):
        head = data[:10_000] if hasattr(data, "__getitem__") else data
        try:
            predictions = predict(head)
        except Exception as exc:
            raise InvalidInput(f"the model could not predict on the baseline data: {exc}") from exc
    return profile(data, names=names, predictions=predictions)
