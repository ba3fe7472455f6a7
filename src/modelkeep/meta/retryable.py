"""Which database errors are worth retrying, recognized by error code, never by message text.

PostgreSQL reports a SQLSTATE (``psycopg``: ``exc.sqlstate``); SQLite an error code
(``sqlite3``: ``exc.sqlite_errorcode``, Python 3.11+). Messages are localized (``lc_messages``)
and reworded between versions, so matching on them misses retries on a French server.
"""

from __future__ import annotations

from typing import Any

# SQLSTATE: serialization_failure, deadlock_detected, lock_not_available, unique_violation
# (two writers allocating the same version number: the loser retries with the next one).
PG_RETRYABLE = frozenset({"40001", "40P01", "55P03", "23505"})
# SQLite primary result codes: SQLITE_BUSY, SQLITE_LOCKED; extended: SQLITE_CONSTRAINT_UNIQUE,
# SQLITE_CONSTRAINT_PRIMARYKEY.
SQLITE_RETRYABLE_PRIMARY = frozenset({5, 6})
SQLITE_RETRYABLE_EXTENDED = frozenset({2067, 1555})


def is_retryable(exc: BaseException) -> bool:
    """True for a conflict between concurrent writers (SQLAlchemy's wrapper or the driver's error)."""
    orig: Any = getattr(exc, "orig", exc)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is not None:
        return str(sqlstate) in PG_RETRYABLE
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code in SQLITE_RETRYABLE_EXTENDED or (code & 0xFF) in SQLITE_RETRYABLE_PRIMARY
    return False
