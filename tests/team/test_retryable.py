"""Retryable database errors are recognized by SQLSTATE / SQLite error code, not by message text
(issue 12): a PostgreSQL that speaks French still retries a serialization failure."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from modelkeep.meta.retryable import is_retryable


def test_sqlite_busy_and_unique_are_retryable_by_code(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    holder = sqlite3.connect(db, timeout=0)
    holder.execute("create table t (k integer primary key, u text unique)")
    holder.execute("insert into t values (1, 'a')")
    holder.commit()
    holder.execute("begin immediate")
    engine = create_engine(f"sqlite:///{db}", connect_args={"timeout": 0})
    with pytest.raises(OperationalError) as busy, engine.begin() as conn:
        conn.execute(text("insert into t values (2, 'b')"))
    assert is_retryable(busy.value)
    holder.rollback()
    with pytest.raises(IntegrityError) as unique, engine.begin() as conn:
        conn.execute(text("insert into t values (3, 'a')"))
    assert is_retryable(unique.value)
    with pytest.raises(OperationalError) as missing, engine.begin() as conn:
        conn.execute(text("select * from nowhere"))
    assert not is_retryable(missing.value)
    holder.close()
    engine.dispose()


def test_postgres_errors_by_sqlstate_whatever_the_language(pg_server: Any) -> None:
    engine = create_engine(pg_server.create_database("mk_retryable"))
    with engine.begin() as conn:
        conn.execute(text("set lc_messages to 'C'"))
        conn.execute(text("create table if not exists retry_probe (k int primary key)"))
        conn.execute(text("delete from retry_probe"))
        conn.execute(text("insert into retry_probe values (1)"))
    with pytest.raises(IntegrityError) as unique, engine.begin() as conn:
        conn.execute(text("insert into retry_probe values (1)"))
    assert is_retryable(unique.value)
    engine.dispose()
    # A localized message with the SQLSTATE of a serialization failure: only the code counts.
    error = psycopg.errors.SerializationFailure("could not serialize access (traduit: impossible de sérialiser)")
    assert is_retryable(OperationalError("x", {}, error))
    assert not is_retryable(OperationalError("database is locked, deadlock, busy", {}, Exception("busy deadlock")))
