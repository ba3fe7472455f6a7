"""Opening the registry database: engines, SQLite pragmas, and the schema check.

SQLite runs in WAL mode with ``busy_timeout`` so readers never block the writer and writers
queue instead of failing. Write transactions start with ``BEGIN IMMEDIATE`` (the write lock is
taken up front), so two writers never both read and then deadlock on the upgrade to a write
lock; that is what makes version allocation safe across processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Engine, any_, bindparam, create_engine, event, text
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from modelkeep.errors import InvalidInput, ModelKeepError
from modelkeep.meta.schema import SCHEMA_HEAD

SQLITE_BUSY_MS = 60_000


class PlanHints:
    """Counts that only choose between equivalent forms of a statement (a filter's EXISTS or IN, a
    page walked along an index or sorted): an old one costs time, never a different answer, so each
    is kept for ``ttl`` seconds and a search does not count again what the last one counted (two
    statements of a filtered search's four)."""

    def __init__(self, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic, size: int = 1024) -> None:
        self.ttl, self.clock, self.size = ttl, clock, size
        self._counts: dict[Hashable, tuple[float, int]] = {}

    def count(self, key: Hashable, compute: Callable[[], int]) -> int:
        now = self.clock()
        kept = self._counts.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        value = compute()
        if len(self._counts) >= self.size:
            self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            if len(self._counts) >= self.size:
                self._counts.clear()
        self._counts[key] = (now + self.ttl, value)
        return value


@dataclass
class Database:
    """A registry database: a read engine and a write engine over one pool."""

    url: str
    engine: Engine
    write_engine: Engine  # an execution-options view of ``engine`` on SQLite
    # The audit chain's HMAC key: it lives outside the database (see services/governance/audit_keys.py) and
    # reaches each write transaction through ``Session.info``.
    audit_key: bytes | None = None
    hints: PlanHints = field(default_factory=PlanHints)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def reader(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def writer(self) -> Session:
        return Session(self.write_engine, expire_on_commit=False, info={"audit_key": self.audit_key})

    def dispose(self) -> None:
        self.engine.dispose()


def among(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)``, one parameter and one statement
    text whatever the count: psycopg prepares it once and the server plans it once, where an IN of
    50 ids is 50 parameters to convert and a statement of its own for every count."""
    return among_bound(session.get_bind().dialect.name, column, None, values)


def among_bound(dialect: str, column: Any, name: str | None, values: Collection[Any] | None = None) -> ColumnElement[bool]:
    """``among``'s condition with the list as one parameter ``name``: bound now to ``values``, or,
    without them, at each execution (for a statement built once). An array on PostgreSQL, an
    expanding IN elsewhere."""
    given: dict[str, Any] = {} if values is None else {"value": list(values)}
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(name, type_=ARRAY(column.type), **given))
    return column.in_(bindparam(name, expanding=True, **given))  # type: ignore[no-any-return]


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (below); the driver must not.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def connect(url: str) -> Database:
    """Create engines for ``url`` (no schema check; see :func:`open_database`)."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
            _sqlite_setup(engine)
            write_engine: Engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            engine = create_engine(url, pool_pre_ping=True)
            write_engine = engine
    except (ArgumentError, ImportError) as exc:
        raise InvalidInput(
            f"cannot use database URL {url!r}: {exc}; valid forms are sqlite:///PATH and "
            "postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DB"
        ) from exc
    return Database(url=url, engine=engine, write_engine=write_engine)


def current_revision(db: Database) -> str | None:
    try:
        with db.engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError) as exc:
        if "alembic_version" in str(exc):
            return None
        raise ModelKeepError(f"cannot open the registry database {db.url}: {exc.orig}") from exc


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Connect and make sure the schema is at :data:`SCHEMA_HEAD`, upgrading it if allowed."""
    db = connect(url)
    revision = current_revision(db)
    if revision != SCHEMA_HEAD:
        if not migrate:
            raise ModelKeepError(
                f"the registry database is at schema {revision or 'none'}, this modelkeep needs "
                f"{SCHEMA_HEAD}",
                hint="run 'mk init' to upgrade it",
            )
        from modelkeep.meta.migrate import upgrade  # Alembic is slow to import: only when needed

        upgrade(db)
    return db
