"""Audit and webhook reads answered without opening the workspace: the standard library's sqlite3 on a
personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import audit_rows, delivery_rows, stored_json, stored_time, webhook_rows
from modelkeep.services.governance.webhook_views import WebhookView, delivery_row


def audit_log(model: str | None, actor: str | None, action: str | None, limit: int) -> list[dict[str, Any]] | None:
    """What ``AuditService.log`` answers without ``since``, for the local repository."""
    rows = audit_rows(local_config().db_url, model, actor, action, limit)
    if rows is None:
        return None
    return [{"seq": seq, "at": stored_time(at), "actor": by, "action": what, "target": target,
             "outcome": outcome, "source": source, "detail": stored_json(detail),
             "hash": digest}
            for seq, at, by, what, target, outcome, source, detail, digest in rows]


def webhooks() -> list[dict[str, Any]] | None:
    """What ``AdminService.webhooks`` answers, for the local repository."""
    rows = webhook_rows(local_config().db_url)
    if rows is None:
        return None
    return [WebhookView.of_columns(webhook_id, url, stored_json(events), format, active, datetime.fromisoformat(created),
                                   None if updated is None else datetime.fromisoformat(updated), name, description,
                                   subject, stored_json(bumps), sealed).to_dict()
            for webhook_id, url, events, format, active, created, updated, name, description, subject, bumps, sealed in rows]


def deliveries(webhook_id: int | None) -> list[dict[str, Any]] | None:
    """What ``AdminService.deliveries`` answers, for the local repository."""
    rows = delivery_rows(local_config().db_url, webhook_id)
    return None if rows is None else [delivery_row(*row) for row in rows]
