"""Deployment read commands answered without opening the workspace: the standard library's sqlite3
on a personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import deployment_rows
from modelkeep.services.deploy.views import deployment_view


def list_deployments() -> list[dict[str, Any]] | None:
    """What ``Deployments.list`` answers, for the local repository (None for a spec it cannot read)."""
    rows = deployment_rows(local_config().db_url)
    if rows is None:
        return None
    try:
        return [deployment_view(name, revision, status, json.loads(spec), datetime.fromisoformat(updated))
                for name, revision, status, spec, updated in rows]
    except (KeyError, TypeError, ValueError):
        return None
