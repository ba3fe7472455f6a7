"""Retention read commands answered without opening the workspace: the standard library's sqlite3
on a personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers
model reads. Each returns None when the fast path does not apply, and the command takes the
normal path.
"""

from __future__ import annotations

from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import retention_rows, stored_json, stored_time
from modelkeep.services.retention.rule_words import describe_rules


def policies_and_holds() -> dict[str, list[dict[str, Any]]] | None:
    """What ``Retention.policies`` and ``Retention.holds`` answer, for the local repository."""
    rows = retention_rows(local_config().db_url)
    if rows is None:
        return None
    policies, holds = rows
    out = []
    for kind, scope, stored, updated_by, updated_at in policies:
        rules = stored_json(stored)
        out.append({"kind": kind, "scope": scope, "rules": dict(rules),
                    "says": describe_rules(rules), "updated_by": updated_by,
                    "updated_at": stored_time(updated_at)})
    return {"policies": out, "holds": [{"target": target, "reason": reason, "by": by,
                                        "at": stored_time(at)}
                                       for target, reason, by, at in holds]}
