"""What each file's ``stat`` was when it was last added, and the object it became.

``path -> (size, mtime_ns, ino, ctime_ns, kind, id)`` in a SQLite file, one row per file keyed
by its path. A lookup reads its own row, and ``prefetch`` reads a folder's rows a few hundred
paths per statement, so an add reads only the rows of the files it meets: the JSON file this
replaces was parsed whole (35 MB for 100,000 files, half a second and more than 100 MB of
objects) by any add that had a file to look up. Rows to remember wait in memory and ``save``
writes them in one transaction.

Several processes may share the file (SQLite's locks; a writer waits up to 10 s for another).
It is only a cache: no fsync, and a file that cannot be read or written costs hashing again,
never an error.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

Row = tuple[int, int, int, int, str, str]  # size, mtime_ns, ino, ctime_ns, kind, id
SCHEMA = ("CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ino INTEGER,"
          " ctime_ns INTEGER, kind TEXT, id TEXT) WITHOUT ROWID")
COLUMNS = "size, mtime_ns, ino, ctime_ns, kind, id"
INSERT = "INSERT OR REPLACE INTO stat (path, size, mtime_ns, ino, ctime_ns, kind, id) VALUES (?, ?, ?, ?, ?, ?, ?)"
BATCH = 500  # paths per prefetch statement (SQLite allows 32,766 parameters)
LEGACY = ".json"  # the whole-file JSON cache of earlier versions (same name), dropped on the first save

log = logging.getLogger(__name__)


def racy(st: os.stat_result, started: float) -> bool:
    """Modified within a second of the scan that began at ``started``: the file may change again
    within the same mtime tick, so its stat cannot vouch for its content next time."""
    return st.st_mtime_ns >= (started - 1.0) * 1e9


class StatCache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._known: dict[str, Row | None] = {}  # rows read, None where the cache has none
        self._pending: dict[str, Row] = {}
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def row(self, path: Path | str) -> Row | None:
        """What the cache remembers of ``path``, whatever its ``stat`` is now."""
        key = str(path)
        with self._lock:
            if key in self._pending:
                return self._pending[key]
            if key not in self._known:
                self._read([key])
            return self._known[key]

    def lookup(self, path: Path | str, st: os.stat_result) -> tuple[str, str] | None:
        """``(kind, id)`` when ``path`` still has the ``stat`` it had when it was remembered."""
        row = self.row(path)
        if row is not None and row[:4] == (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns):
            return row[4], row[5]
        return None

    def prefetch(self, paths: Iterable[Path | str]) -> None:
        """Read the rows of many paths at once (a folder's files, before they are looked up one by one)."""
        with self._lock:
            self._read([key for key in map(str, paths) if key not in self._known and key not in self._pending])

    def remember(self, path: Path | str, st: os.stat_result, kind: str, oid: str, started: float) -> None:
        if racy(st, started):
            return
        with self._lock:
            self._pending[str(path)] = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, kind, str(oid))

    def save(self) -> None:
        """Write the rows remembered since the last save, and close the file until it is next used."""
        with self._lock:
            if self.path is not None and self._pending:
                self._write()
            self._known.update(self._pending)
            self._pending.clear()
            self._close()

    def _write(self) -> None:
        assert self.path is not None
        try:
            db = self._open(create=True)
            if db is None:
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(INSERT, [(key, *row) for key, row in self._pending.items()])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error:
            log.debug("the stat cache %s could not be written", self.path, exc_info=True)
            return
        legacy = self.path.with_suffix(LEGACY)  # stat.json, or a remote dataset's DIGEST.json
        if legacy != self.path:
            legacy.unlink(missing_ok=True)

    def _read(self, keys: list[str]) -> None:
        found: dict[str, Row] = {}
        db = self._open(create=False)
        if db is not None:
            try:
                for start in range(0, len(keys), BATCH):
                    batch = keys[start:start + BATCH]
                    marks = ", ".join("?" * len(batch))
                    query = f"SELECT path, {COLUMNS} FROM stat WHERE path IN ({marks})"  # noqa: S608 (only ?s are joined)
                    for key, *row in db.execute(query, batch):
                        found[key] = tuple(row)  # type: ignore[assignment]
            except sqlite3.Error:  # damaged, or locked past the timeout: the files are hashed again
                log.debug("the stat cache %s could not be read", self.path, exc_info=True)
        for key in keys:
            self._known[key] = found.get(key)

    def _open(self, *, create: bool) -> sqlite3.Connection | None:
        if self._db is not None or self.path is None:
            return self._db
        if not create and not self.path.exists():
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
            try:
                db.execute("PRAGMA synchronous=OFF")
                if create:
                    db.execute(SCHEMA)
            except sqlite3.DatabaseError:
                db.close()
                if not create:
                    raise
                self.path.unlink(missing_ok=True)  # not a database (or damaged): start again
                db = sqlite3.connect(self.path, timeout=10, check_same_thread=False, isolation_level=None)
                db.execute(SCHEMA)
        except (sqlite3.Error, OSError):
            log.debug("the stat cache %s could not be opened", self.path, exc_info=True)
            return None
        self._db = db
        return db

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
