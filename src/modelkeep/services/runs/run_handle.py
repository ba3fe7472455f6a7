"""The handle a training script holds (``with mk.start_run() as run:``), on either transport.

:func:`start_run` captures the environment and git state in the calling process (the uncommitted
diff goes into the store as an object) and creates the run through a
:class:`~modelkeep.services.interface.RunsService`; :class:`ActiveRun` then logs through the same
service, so a script runs unchanged against a local repository and against ``mk server``.

A process started by ``mk run`` finds its run id in ``MODELKEEP_RUN_ID``; ``start_run`` then
attaches to that run instead of opening a second one, and leaves finishing it to ``mk run``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.capture.seeds import seed_everything
from modelkeep.errors import InvalidInput
from modelkeep.services.interface import ArtifactRef, DatasetsService, RegistryService, RunCreate, RunsService

if TYPE_CHECKING:
    from modelkeep.services.models.views import VersionView
    from modelkeep.store.artifacts import ArtifactStore

RUN_ENV = "MODELKEEP_RUN_ID"


def start_run(
    runs: RunsService,
    store: ArtifactStore,
    registry: RegistryService,
    datasets: DatasetsService | None,
    name: str | None = None,
    project: str = "default",
    command: list[str] | None = None,
) -> ActiveRun:
    """Start (or, under ``mk run``, join) a run; ``datasets`` is None where datasets are not
    reachable (through a server, for now)."""
    attached = os.environ.get(RUN_ENV)
    if attached and command is None:
        if not attached.isdigit():
            raise InvalidInput(f"{RUN_ENV}={attached!r} is not a run id")
        runs.attach(int(attached), project)
        return ActiveRun(runs, store, registry, datasets, int(attached), owns=False)
    from modelkeep.capture.environment import capture
    from modelkeep.capture.git import capture_git

    started = time.perf_counter()
    environment = capture()
    git, diff = capture_git()
    code = dict(git or {})
    if git and git.get("root"):
        code["cwd"] = os.path.relpath(Path.cwd(), git["root"])
    if diff:
        code["diff_object"] = store.put_bytes(diff)
        code["diff_bytes"] = len(diff)
    environment["capture_ms"] = round((time.perf_counter() - started) * 1000, 1)
    run_id = runs.create(RunCreate(name=name, project=project, command=command, environment=environment, code=code))
    return ActiveRun(runs, store, registry, datasets, run_id, owns=True)


class ActiveRun:
    """The handle ``mk.start_run`` yields. Use it as a context manager: a clean exit marks the
    run finished, an exception marks it failed (and re-raises)."""

    def __init__(
        self,
        runs: RunsService,
        store: ArtifactStore,
        registry: RegistryService,
        datasets: DatasetsService | None,
        run_id: int,
        *,
        owns: bool,
    ) -> None:
        self._runs = runs
        self._store = store
        self._registry = registry
        self._datasets = datasets
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
        self._runs.end(self.id, status, exit_code)

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._runs.log_params(self.id, params)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if step is None:
            step, self._step = self._step, self._step + 1
        self._runs.log_metrics(self.id, metrics, int(step))

    def set_tag(self, key: str, value: Any) -> None:
        self._runs.set_tags(self.id, {key: value})

    def use_dataset(self, ref: str) -> str:
        """Record a dataset version as an input; returns it as NAME@N."""
        return self._runs.use_dataset(self.id, ref)

    def _local_datasets(self, what: str) -> DatasetsService:
        if self._datasets is None:
            raise InvalidInput(f"{what} needs the datasets of a local repository; through a server it is not "
                               "available yet", hint="run this step where the repository is, or unset MODELKEEP_URL")
        return self._datasets

    def dataset_path(self, ref: str) -> Path:
        """Record ``ref`` as an input and return a local folder holding exactly that version
        (materialized once under the repository's cache, verified)."""
        datasets = self._local_datasets("run.dataset_path")
        return datasets.cached_checkout(self.use_dataset(ref))

    def seed(self, seed: int, *, deterministic: bool = False) -> dict[str, Any]:
        """``mk.seed_everything`` for this run, recorded with it."""
        record = seed_everything(seed, deterministic=deterministic)
        self._runs.set_seeds(self.id, record)
        self._seeded = True
        return record

    def warn(self, message: str, *, emit: bool = True) -> None:
        """Record a reproducibility warning with the run (and raise a RuntimeWarning if ``emit``)."""
        if emit:
            import warnings

            warnings.warn(message, RuntimeWarning, stacklevel=3)
        self._runs.add_warning(self.id, message)

    def check_dataloader(self, loader: Any) -> None:
        """Warn about a data loader whose worker processes draw unseeded random numbers."""
        if getattr(loader, "num_workers", 0) and getattr(loader, "worker_init_fn", None) is None:
            generator = getattr(loader, "generator", None)
            if generator is None:
                self.warn("DataLoader uses worker processes without worker_init_fn or a seeded generator: "
                          "augmentations in workers are not reproducible")

    def log_artifact(self, path: str | Path, name: str | None = None) -> dict[str, Any]:
        """Store a file or folder (only chunks the store lacks move) and record it with the run."""
        stored = self._store.put_path(Path(path))
        ref = ArtifactRef.model_validate({"kind": stored.kind, "digest": stored.digest})
        return self._runs.log_artifact(self.id, name or Path(path).name, ref)

    def log_dataset(
        self, path: str | Path, name: str, *, message: str = "", window: tuple[str, str] | None = None
    ) -> Any:
        """Version ``path`` as the next version of dataset ``name``, made by this run from its
        inputs: edges input --derived_from--> output and run --produced_by--> output, so an
        intermediate dataset of a pipeline is a dataset version like any other."""
        datasets = self._local_datasets("run.log_dataset")
        view = self._runs.get(self.id)
        if window is not None:
            start, end = window
            if str(start) > str(end):
                raise InvalidInput(f"time window starts after it ends: {start} > {end}")
            self._runs.set_tags(self.id, {"window_start": str(start), "window_end": str(end)})
        added = datasets.add(Path(path), name, message=message or f"made by run {self.id} ({view.name})")
        self._runs.link_dataset(self.id, added.ref, view.inputs)
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
            version = self._registry.register(
                name, folder, params=params, metrics=metrics, tags=tags, data=data, signature=signature,
                environment=environment, code=view.code, **register,
            )
        self._runs.link_output(self.id, version.id)
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
