"""Audit reads answered without opening the workspace: the standard library's sqlite3 on a
personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import audit_rows, stored_json, stored_time


def audit_log(model: str | None, actor: str | None, action: str | None, limit: int) -> list[dict[str, Any]] | None:
    """What ``AuditService.log`` answers without ``since``, for the local repository."""
    rows = audit_rows(local_config().db_url, model, actor, action, limit)
    if rows is None:
        return None
    return [{"seq": seq, "at": stored_time(at), "actor": by, "action": what, "target": target,
             "outcome": outcome, "source": source, "detail": stored_json(detail),
             "hash": digest}
            for seq, at, by, what, target, outcome, source, detail, digest in rows]
