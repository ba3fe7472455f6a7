"""The SDK functions behind ``import modelkeep as mk`` (see the package docstring)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.services.diff import diff_versions
from modelkeep.services.search import SearchPage, search_versions
from modelkeep.services.views import ModelSummary, VersionView
from modelkeep.services.workspace import Workspace, init_workspace, open_workspace

if TYPE_CHECKING:
    from modelkeep.client import RemoteRegistry
    from modelkeep.services.runs import ActiveRun

_lock = threading.Lock()
_current: Workspace | None = None


def init(directory: str | Path = ".", db_url: str | None = None) -> Workspace:
    """Create (or upgrade) a repository in ``directory`` and make it the current one."""
    global _current
    workspace, _created = init_workspace(Path(directory), db_url)
    with _lock:
        if _current is not None:
            _current.close()
        _current = workspace
    return workspace


def open(home: str | Path | None = None) -> Workspace:
    """Open a repository explicitly (``home``: a folder inside it, or its ``.modelkeep``)."""
    return open_workspace(Path(home) if home is not None else None)


def _workspace() -> Workspace:
    global _current
    with _lock:
        if _current is None:
            _current = open_workspace()
        return _current


_remote: RemoteRegistry | None = None


def _server() -> RemoteRegistry | None:
    """The remote transport when ``MODELKEEP_URL`` is set (with ``MODELKEEP_TOKEN``)."""
    global _remote
    url = os.environ.get("MODELKEEP_URL")
    if not url:
        return None
    with _lock:
        if _remote is None or _remote.url != url.rstrip("/"):
            from modelkeep.client import RemoteRegistry

            _remote = RemoteRegistry(url, os.environ.get("MODELKEEP_TOKEN"))
        return _remote


def register(name: str, path: str | Path | None = None, **options: Any) -> VersionView:
    """Register a model version; see :meth:`modelkeep.services.registry.Registry.register`."""
    remote = _server()
    if remote is not None:
        return remote.register(name, path, **options)
    return _workspace().registry.register(name, path, **options)


def get(ref: str) -> VersionView:
    """Resolve ``NAME@SPEC`` (``fraud@2.1.*``, ``fraud@^2.1``, ``fraud@production``)."""
    remote = _server()
    return remote.get(ref) if remote is not None else _workspace().registry.get(ref)


def list_models() -> list[ModelSummary]:
    remote = _server()
    return remote.list_models() if remote is not None else _workspace().registry.list_models()


def list_versions(name: str) -> list[VersionView]:
    remote = _server()
    return remote.list_versions(name) if remote is not None else _workspace().registry.list_versions(name)


def search(
    filter: str | None = None,
    *,
    order_by: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SearchPage:
    remote = _server()
    if remote is not None:
        return remote.search(filter, order_by=order_by, limit=limit, cursor=cursor)
    return search_versions(_workspace().db, filter, order_by=order_by, limit=limit, cursor=cursor)


def diff(a: str, b: str) -> dict[str, Any]:
    remote = _server()
    if remote is not None:
        return remote.diff(a, b)
    workspace = _workspace()
    return diff_versions(workspace.store, workspace.registry.get(a), workspace.registry.get(b))


def set_alias(ref: str, alias: str) -> VersionView:
    remote = _server()
    return remote.set_alias(ref, alias) if remote is not None else _workspace().registry.set_alias(ref, alias)


def delete_alias(name: str, alias: str) -> None:
    remote = _server()
    if remote is not None:
        remote.delete_alias(name, alias)
    else:
        _workspace().registry.delete_alias(name, alias)


def start_run(name: str | None = None, project: str = "default") -> ActiveRun:
    """Start a run (``with mk.start_run(name=..., project=...) as run:``): the environment and
    git state are captured now; params, metrics, inputs and models are logged on ``run``."""
    return _workspace().runs.start(name, project)


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
    run = _workspace().runs.start(name, project)
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
    from modelkeep.services.lineage import resolve_node, walk

    ws = _workspace()
    return walk(ws.db, resolve_node(ws.db, ws.registry, ws.datasets, ref), downstream=downstream, max_depth=depth)


def delete(ref: str) -> VersionView:
    """Delete one version (``NAME@VERSION``)."""
    remote = _server()
    return remote.delete_version(ref) if remote is not None else _workspace().registry.delete_version(ref)


__all__ = [
    "delete",
    "delete_alias",
    "diff",
    "get",
    "init",
    "lineage",
    "list_models",
    "list_versions",
    "open",
    "register",
    "search",
    "seed_everything",
    "set_alias",
    "start_run",
    "step",
]
