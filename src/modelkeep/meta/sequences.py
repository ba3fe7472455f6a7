"""Ids that are never handed out twice, even after the row holding the highest one is deleted.

SQLite reuses the largest rowid once its row is gone (``max(rowid) + 1``) unless the table was
made with ``AUTOINCREMENT``; PostgreSQL's sequences never go back. To behave the same on both,
tables whose ids are referenced from outside the row (runs: tags on versions, lineage,
environment variables of child processes) take their ids from ``id_sequences`` inside the
inserting transaction: the row lock (PostgreSQL) or the write lock (SQLite) serializes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from modelkeep.meta.tables import IdSequence, table_of


def next_id(session: Session, name: str, id_column: Any) -> int:
    """The next id for ``name``: above every id ever handed out and every id in the table."""
    last = session.scalar(select(IdSequence.last_value).where(IdSequence.name == name).with_for_update())
    top = session.scalar(select(func.max(id_column))) or 0
    value = max(last or 0, top) + 1
    if last is None:
        session.execute(insert(table_of(IdSequence)).values(name=name, last_value=value))
    else:
        session.execute(update(table_of(IdSequence)).where(IdSequence.name == name).values(last_value=value))
    return value
