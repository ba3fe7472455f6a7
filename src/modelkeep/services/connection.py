"""The local transport: a :class:`~modelkeep.services.interface.Connection` onto a repository
opened in this process (database + store), acting as the repository's configured user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelkeep.services.workspace import Workspace


class LocalLineage:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def lineage(
        self, ref: str, *, downstream: bool = False, depth: int | None = None, parents: bool = False
    ) -> dict[str, Any]:
        from modelkeep.services.lineage import resolve_node, walk

        ws = self.workspace
        ws.access.check("model.read")
        return walk(ws.db, resolve_node(ws.db, ws.registry, ws.datasets, ref), downstream=downstream, max_depth=depth,
                    parents=parents)


class LocalConnection:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.where = f"the repository at {workspace.config.root.parent}"
        self.user = workspace.config.user
        self.registry = workspace.registry
        self.runs = workspace.runs
        self.datasets = workspace.datasets
        self.store = workspace.store
        self.lineage = LocalLineage(workspace)
        self.governance = workspace.promotions
        self.model_cache: Path = workspace.config.cache_dir / "models"

    def close(self) -> None:
        self.workspace.close()
