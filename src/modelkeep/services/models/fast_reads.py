"""Read commands answered without opening the workspace: the standard library's sqlite3 on a
personal SQLite registry (``meta.sqlite_fast``), so the command costs little more than its start.

Each returns None when the fast path does not apply (a server configured, another database, a
schema not current, a registry with users), and the command takes the normal path.
"""

from __future__ import annotations

from datetime import datetime

from modelkeep.config import find_root, load_config
from modelkeep.meta.sqlite_fast import model_rows
from modelkeep.services.models.views import ModelSummary
from modelkeep.version import MLVersion


def list_models() -> list[ModelSummary] | None:
    """What ``Registry.list_models`` answers, for the local repository."""
    rows = model_rows(load_config(find_root()).db_url)
    if rows is None:
        return None
    return [ModelSummary(name=name, description=description, versions=versions,
                         latest=str(MLVersion.from_sort_key(latest)) if latest else None, aliases=aliases,
                         created_at=datetime.fromisoformat(created) if created else None)
            for _id, name, description, created, versions, latest, aliases in rows]
