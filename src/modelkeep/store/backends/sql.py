"""Blobs in a SQL database table, for small teams that already run PostgreSQL.

URL: ``sql+postgresql+psycopg://USER@HOST/DB`` (the part after ``sql+`` is a SQLAlchemy URL;
``sql+sqlite:///path.db`` works too). One row per key; a put is one transaction, so atomic.
This backend owns its table (``modelkeep_blobs``) and shares nothing with the registry schema.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Column, LargeBinary, MetaData, String, Table, create_engine, delete, func, select
from sqlalchemy import exc as sa_exc

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.store.backends import TransientError, check_key

_metadata = MetaData()
blobs = Table(
    "modelkeep_blobs",
    _metadata,
    Column("key", String(512), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


class SQLBackend:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = create_engine(url[len("sql+") :], pool_pre_ping=True)
            _metadata.create_all(self.engine)
        except sa_exc.ArgumentError as exc:
            raise InvalidInput(f"invalid SQL store URL {url!r}: {exc}") from exc
        except sa_exc.OperationalError as exc:
            raise TransientError(f"cannot reach the SQL store {url}: {exc.orig}") from exc

    def close(self) -> None:
        self.engine.dispose()

    def _run(self, fn):  # type: ignore[no-untyped-def]
        try:
            return fn()
        except sa_exc.OperationalError as exc:
            raise TransientError(f"SQL store {self.url}: {exc.orig}") from exc

    def put(self, key: str, data: bytes) -> None:
        check_key(key)

        def work() -> None:
            with self.engine.begin() as conn:
                conn.execute(delete(blobs).where(blobs.c.key == key))
                conn.execute(blobs.insert().values(key=key, data=data))

        self._run(work)

    def get(self, key: str) -> bytes:
        check_key(key)

        def work() -> bytes | None:
            with self.engine.connect() as conn:
                return conn.execute(select(blobs.c.data).where(blobs.c.key == key)).scalar()

        data = self._run(work)
        if data is None:
            raise NotFound(f"{key} is not in the store {self.url}")
        return bytes(data)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        check_key(key)

        def work() -> bytes | None:
            with self.engine.connect() as conn:
                part = func.substr(blobs.c.data, offset + 1, length)
                return conn.execute(select(part).where(blobs.c.key == key)).scalar()

        data = self._run(work)
        if data is None:
            raise NotFound(f"{key} is not in the store {self.url}")
        return bytes(data)

    def exists(self, key: str) -> bool:
        check_key(key)

        def work() -> bool:
            with self.engine.connect() as conn:
                return conn.execute(select(blobs.c.key).where(blobs.c.key == key)).first() is not None

        return bool(self._run(work))

    def size(self, key: str) -> int:
        check_key(key)

        def work() -> int | None:
            with self.engine.connect() as conn:
                return conn.execute(select(func.length(blobs.c.data)).where(blobs.c.key == key)).scalar()

        size = self._run(work)
        if size is None:
            raise NotFound(f"{key} is not in the store {self.url}")
        return int(size)

    def list(self, prefix: str = "") -> Iterator[str]:
        def work() -> list[str]:
            with self.engine.connect() as conn:
                query = select(blobs.c.key)
                if prefix:
                    query = query.where(blobs.c.key.startswith(prefix, autoescape=True))
                return list(conn.execute(query).scalars())

        yield from self._run(work)

    def delete(self, key: str) -> None:
        check_key(key)

        def work() -> None:
            with self.engine.begin() as conn:
                conn.execute(delete(blobs).where(blobs.c.key == key))

        self._run(work)
