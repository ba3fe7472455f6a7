"""Run read commands answered without opening the workspace: the standard library's sqlite3 on a
personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import run_rows


def list_runs(project: str | None, limit: int) -> list[dict[str, Any]] | None:
    """What ``Runs.list`` answers, for the local repository."""
    rows = run_rows(local_config().db_url, project, limit)
    if rows is None:
        return None
    return [{"id": run_id, "name": name, "project": in_project, "status": status,
             "started_at": datetime.fromisoformat(started).isoformat() + "Z", "exit_code": exit_code}
            for run_id, name, in_project, status, started, exit_code in rows]
