"""Deployment read commands answered without opening the workspace: the standard library's sqlite3
on a personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import deployment_revision_rows, deployment_rows, deployment_status_rows, stored_json
from modelkeep.services.deploy.views import deployment_view, revision_view, status_view


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


def deployment_status(name: str) -> dict[str, Any] | None:
    """What ``Deployments.status`` answers, for the local repository (None for a spec of another shape)."""
    found = deployment_status_rows(local_config().db_url, name)
    if found is None:
        return None
    (revision, status, spec, updated), gateways = found
    try:
        return status_view(name, revision, status, json.loads(spec), datetime.fromisoformat(updated),
                           [(gateway, seen, datetime.fromisoformat(at), json.loads(report))
                            for gateway, seen, at, report in gateways])
    except (KeyError, TypeError, ValueError):
        return None


def deployment_history(name: str) -> list[dict[str, Any]] | None:
    """What ``Deployments.history`` answers, for the local repository (None for a spec it cannot read)."""
    rows = deployment_revision_rows(local_config().db_url, name)
    if rows is None:
        return None
    try:
        return [revision_view(revision, action, status, reason, actor, datetime.fromisoformat(at), json.loads(spec),
                              stored_json(evidence), stored_json(validation))
                for revision, action, status, reason, actor, at, spec, evidence, validation in rows]
    except (KeyError, TypeError, ValueError):
        return None
