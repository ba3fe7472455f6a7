"""Time as the registry records it: naive UTC datetimes (the same in SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import overload

EPOCH, NAIVE_EPOCH, MILLISECOND = datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1), timedelta(milliseconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ms(moment: datetime | None) -> int | None:
    """Milliseconds since the epoch (MLflow's times), exactly (a naive moment is UTC, as recorded)."""
    if moment is None:
        return None
    return (moment - (NAIVE_EPOCH if moment.tzinfo is None else EPOCH)) // MILLISECOND


@overload
def moment(milliseconds: int) -> datetime: ...


@overload
def moment(milliseconds: None) -> None: ...


def moment(milliseconds: int | None) -> datetime | None:
    """``ms`` undone: a naive UTC moment (None stays None); one outside years 1-9999 is refused."""
    if milliseconds is None:
        return None
    try:
        return NAIVE_EPOCH + milliseconds * MILLISECOND
    except OverflowError:
        from modelkeep.errors import InvalidInput

        raise InvalidInput(f"timestamp {milliseconds}: milliseconds since 1970-01-01 (UTC), "
                           "between the years 1 and 9999") from None


def parse_time(text: str) -> datetime:
    """A time a user typed (ISO date or date-time; UTC unless it names its zone), as recorded."""
    from modelkeep.meta.search_language import parse_datetime

    return parse_datetime(text)
