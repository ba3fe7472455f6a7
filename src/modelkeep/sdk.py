"""The SDK functions behind ``import modelkeep as mk`` (see the package docstring)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from modelkeep.services.diff import diff_versions
from modelkeep.services.registry import ModelSummary
from modelkeep.services.search import SearchPage, search_versions
from modelkeep.services.views import VersionView
from modelkeep.services.workspace import Workspace, init_workspace, open_workspace

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


def open(home: str | Path | None = None) -> Workspace:  # noqa: A001 - mirrors io.open naming
    """Open a repository explicitly (``home``: a folder inside it, or its ``.modelkeep``)."""
    return open_workspace(Path(home) if home is not None else None)


def _workspace() -> Workspace:
    global _current
    with _lock:
        if _current is None:
            _current = open_workspace()
        return _current


def register(name: str, path: str | Path | None = None, **options: Any) -> VersionView:
    """Register a model version; see :meth:`modelkeep.services.registry.Registry.register`."""
    return _workspace().registry.register(name, path, **options)


def get(ref: str) -> VersionView:
    """Resolve ``NAME@SPEC`` (``fraud@2.1.*``, ``fraud@^2.1``, ``fraud@production``)."""
    return _workspace().registry.get(ref)


def list_models() -> list[ModelSummary]:
    return _workspace().registry.list_models()


def list_versions(name: str) -> list[VersionView]:
    return _workspace().registry.list_versions(name)


def search(
    filter: str | None = None,  # noqa: A002 - the natural name
    *,
    order_by: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SearchPage:
    return search_versions(_workspace().db, filter, order_by=order_by, limit=limit, cursor=cursor)


def diff(a: str, b: str) -> dict[str, Any]:
    workspace = _workspace()
    return diff_versions(workspace.store, workspace.registry.get(a), workspace.registry.get(b))


def set_alias(ref: str, alias: str) -> VersionView:
    return _workspace().registry.set_alias(ref, alias)


def delete_alias(name: str, alias: str) -> None:
    _workspace().registry.delete_alias(name, alias)


def delete(ref: str) -> VersionView:
    """Delete one version (``NAME@VERSION``)."""
    return _workspace().registry.delete_version(ref)


__all__ = [
    "delete",
    "delete_alias",
    "diff",
    "get",
    "init",
    "list_models",
    "list_versions",
    "open",
    "register",
    "search",
    "set_alias",
]
