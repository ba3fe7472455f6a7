"""Time as the registry records it: naive UTC datetimes (the same in SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_time(text: str) -> datetime:
    """A time a user typed (ISO date or date-time; UTC unless it names its zone), as recorded."""
    from modelkeep.meta.search import parse_datetime

    return parse_datetime(text)
