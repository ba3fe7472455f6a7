"""What the webhook service shows of a webhook and of a delivery, free of the database library:
the service builds them from its rows, a read command's fast path (``governance.fast_reads``) from
SQLite's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelkeep.meta.tables import Webhook


@dataclass(frozen=True)
class WebhookView:
    """A webhook as its admin sees it (never its secret)."""

    id: int
    url: str
    events: list[str]
    format: str
    active: bool
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    description: str | None = None
    subject: str | None = None
    bumps: list[str] | None = None
    signed: bool = True  # MLflow's webhooks without a secret are sent unsigned

    @classmethod
    def of(cls, row: Webhook) -> WebhookView:
        return cls.of_columns(row.id, row.url, row.events, row.format, row.active, row.created_at, row.updated_at,
                              row.name, row.description, row.subject, row.bumps, row.secret_sealed)

    @classmethod
    def of_columns(cls, webhook_id: int, url: str, events: list[str], format: str, active: bool, created_at: datetime,
                   updated_at: datetime | None, name: str | None, description: str | None, subject: str | None,
                   bumps: list[str] | None, secret_sealed: str | None) -> WebhookView:
        """The view of a ``webhooks`` row's columns (``sqlite_fast.webhook_rows`` reads them in this order)."""
        return cls(id=webhook_id, url=url, events=list(events), format=format, active=bool(active),
                   created_at=created_at, updated_at=updated_at or created_at, name=name, description=description,
                   subject=subject, bumps=bumps, signed=format != "mlflow" or secret_sealed is not None)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description, "url": self.url,
                "events": self.events, "format": self.format, "active": self.active, "subject": self.subject,
                "bumps": self.bumps, "signed": self.signed, "created_at": self.created_at.isoformat() + "Z",
                "updated_at": self.updated_at.isoformat() + "Z"}


def delivery_row(delivery_id: int, event_id: int, event: str, webhook_id: int, status: str, attempts: int,
                 last_status: int | None, last_error: str | None) -> dict[str, Any]:
    """A delivery as the log shows it."""
    return {"id": delivery_id, "event_id": event_id, "event": event, "webhook_id": webhook_id, "status": status,
            "attempts": attempts, "last_status": last_status, "last_error": last_error}
