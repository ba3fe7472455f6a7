"""The SDK functions behind ``import modelkeep as mk`` (see the package docstring).

Every function talks to one :class:`~modelkeep.services.interface.Connection`, chosen once from
configuration (``client.connect``): the server in ``MODELKEEP_URL``, else the repository found
from the working folder (or the one :func:`init` made current). No function asks "local or
server?" itself.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.client.connect import connect, server_url

if TYPE_CHECKING:
    from modelkeep.services.interface import Connection
    from modelkeep.services.models.views import ModelSummary, SearchPage, VersionView
    from modelkeep.services.runs.run_handle import ActiveRun
    from modelkeep.services.workspace import Workspace

_lock = threading.Lock()
_current: Connection | None = None
_current_key: str | None = None


@atexit.register
def _close() -> None:
    """The connection's kept-alive sockets and database handles, closed as the process ends."""
    global _current
    with _lock:
        if _current is not None:
            _current.close()
            _current = None


def init(directory: str | Path = ".", db_url: str | None = None) -> Workspace:
    """Create (or upgrade) a repository in ``directory`` and make it the current one."""
    from modelkeep.services.connection import LocalConnection
    from modelkeep.services.workspace import init_workspace

    global _current, _current_key
    workspace, _created = init_workspace(Path(directory), db_url)
    with _lock:
        if _current is not None:
            _current.close()
        _current, _current_key = LocalConnection(workspace), None
    return workspace


def open(home: str | Path | None = None) -> Workspace:
    """Open a repository explicitly (``home``: a folder inside it, or its ``.modelkeep``)."""
    from modelkeep.services.workspace import open_workspace

    return open_workspace(Path(home) if home is not None else None)


def connection() -> Connection:
    """The connection every SDK call uses (re-chosen when ``MODELKEEP_URL`` changes)."""
    global _current, _current_key
    key = server_url()
    with _lock:
        if _current is None or key != _current_key:
            if _current is not None:
                _current.close()
            _current, _current_key = connect(), key
        return _current


def register(name: str, path: str | Path | None = None, **options: Any) -> VersionView:
    """Register a model version; see :meth:`modelkeep.services.models.registry.Registry.register`."""
    return connection().registry.register(name, path, **options)


def get(ref: str) -> VersionView:
    """Resolve ``NAME@SPEC`` (``fraud@2.1.*``, ``fraud@^2.1``, ``fraud@production``)."""
    return connection().registry.get(ref)


def list_models() -> list[ModelSummary]:
    return connection().registry.list_models()


def list_versions(name: str) -> list[VersionView]:
    return connection().registry.list_versions(name)


def search(
    filter: str | None = None,
    *,
    order_by: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SearchPage:
    return connection().registry.search(filter, order_by=order_by, limit=limit, cursor=cursor)


def diff(a: str, b: str) -> dict[str, Any]:
    return connection().registry.diff(a, b)


def set_alias(ref: str, alias: str) -> VersionView:
    return connection().registry.set_alias(ref, alias)


def delete_alias(name: str, alias: str) -> None:
    connection().registry.delete_alias(name, alias)


def delete(ref: str) -> VersionView:
    """Delete one version (``NAME@VERSION``)."""
    return connection().registry.delete_version(ref)


def start_run(name: str | None = None, project: str = "default") -> ActiveRun:
    """Start a run (``with mk.start_run(name=..., project=...) as run:``): the environment and
    git state are captured now; params, metrics, inputs and models are logged on ``run``."""
    return connection().runs.start(name, project)


def step(
    name: str,
    *,
    inputs: list[str] | None = None,
    params: dict[str, Any] | None = None,
    project: str = "pipeline",
) -> ActiveRun:
    """A data pipeline step (``with mk.step("clean", inputs=["raw@3"]) as step:``): a run that
    records its input dataset versions, params, code and environment; ``step.log_dataset(path,
    name, window=(start, end))`` versions its output, linked to the inputs."""
    run = connection().runs.start(name, project)
    run.set_tag("kind", "step")
    for ref in inputs or []:
        run.use_dataset(ref)
    if params:
        run.log_params(params)
    return run


def seed_everything(seed: int, *, deterministic: bool = False) -> dict[str, Any]:
    """Seed random, NumPy and PyTorch (CPU and CUDA) when present; returns what was set."""
    from modelkeep.capture.seeds import seed_everything as seed_all

    return seed_all(seed, deterministic=deterministic)


def lineage(ref: str, *, downstream: bool = False, depth: int | None = None) -> dict[str, Any]:
    """The lineage graph of a model or dataset version (``nodes``, ``edges``)."""
    return connection().lineage.lineage(ref, downstream=downstream, depth=depth)


def load_model(
    ref: str,
    *,
    as_predictor: bool = False,
    allow_pickle: bool = False,
    trusted: list[str] | None = None,
) -> Any:
    """The framework object of a version (``mk.load_model("fraud@production")``), loaded through
    its flavor: skops for scikit-learn with only the types it considers safe (``trusted`` adds
    more), no unpickling unless ``allow_pickle``. Files are fetched once into a local cache by
    digest, every chunk verified; a second load moves no bytes. ``as_predictor=True`` returns a
    :class:`~modelkeep.services.model_files.Predictor` with one ``predict(DataFrame | ndarray)``
    for every flavor, checked against the version's signature."""
    from modelkeep.services.model_files import Predictor, cached_files, load_version

    conn = connection()
    view = conn.registry.get(ref)
    folder = cached_files(conn.store, view, conn.model_cache, _progress(view.artifact_size))
    obj, flavor = load_version(folder, allow_pickle=allow_pickle, trusted=trusted)
    return Predictor(obj, flavor, view) if as_predictor else obj


def download(ref: str, to: str | Path) -> Path:
    """Write a version's files to a new path ``to`` (a folder for a folder artifact), verified."""
    from modelkeep.services.model_files import download as download_files

    conn = connection()
    view = conn.registry.get(ref)
    return download_files(conn.store, view, Path(to), _progress(view.artifact_size))


def _progress(total: int) -> Any:
    """Bytes, rate and ETA on a terminal for large transfers (None when piped or small)."""
    import sys
    import time

    if total < (64 << 20) or not sys.stderr.isatty() or os.environ.get("MODELKEEP_QUIET"):
        return None
    started, done, shown = time.monotonic(), [0], [0.0]

    def advance(n: int) -> None:
        done[0] += n
        now = time.monotonic()
        if now - shown[0] < 0.1 and done[0] < total:  # at most ten redraws a second
            return
        shown[0] = now
        rate = done[0] / max(now - started, 1e-6)
        eta = (total - done[0]) / rate if rate > 0 else 0.0
        sys.stderr.write(f"\rloading model: {done[0] >> 20:,} / {total >> 20:,} MiB, {rate / (1 << 20):,.1f} MiB/s, "
                         f"ETA {eta:,.0f} s ")
        if done[0] >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return advance


__all__ = [
    "connection",
    "delete",
    "delete_alias",
    "diff",
    "download",
    "get",
    "init",
    "lineage",
    "list_models",
    "list_versions",
    "load_model",
    "open",
    "register",
    "search",
    "seed_everything",
    "set_alias",
    "start_run",
    "step",
]
