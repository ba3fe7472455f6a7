"""Read-only queries on a SQLite registry with the standard library's sqlite3.

For commands whose whole cost must stay near process start-up (``mk data status``), importing
SQLAlchemy alone would take longer than the work. Returns None whenever the fast path does not
apply (not SQLite, schema not current, any error), and the caller takes the normal path.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from modelkeep.meta.schema import SCHEMA_HEAD


def _connect(db_url: str) -> sqlite3.Connection | None:
    """A read-only connection to a current-schema SQLite registry, or None."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        return None
    try:
        conn = sqlite3.connect(f"file:{db_url[len(prefix):]}?mode=ro", uri=True, timeout=5)
        if conn.execute("SELECT version_num FROM alembic_version").fetchone() != (SCHEMA_HEAD,):
            conn.close()
            return None
    except sqlite3.Error:
        return None
    return conn


def latest_dataset_version(db_url: str, name: str) -> dict[str, Any] | None:
    conn = _connect(db_url)
    if conn is None:
        return None
    try:
        row = conn.execute(
            "SELECT v.number, v.digest, v.root_kind, v.source, v.bytes FROM dataset_versions v "
            "JOIN datasets d ON d.id = v.dataset_id WHERE d.name = ? ORDER BY v.number DESC LIMIT 1",
            (name,),
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    if row is None:
        return None
    number, digest, root_kind, source, size = row
    return {"number": number, "digest": digest, "root_kind": root_kind, "source": source, "bytes": size}


def registry_root_rows(
    db_url: str,
) -> tuple[list[tuple[str, int, str, str]], list[tuple[str, str, str, str]]] | None:
    """(dataset versions, model versions) as (name, version, kind, digest) rows, or None."""
    conn = _connect(db_url)
    if conn is None:
        return None
    try:
        datasets = conn.execute(
            "SELECT d.name, v.number, v.root_kind, v.digest FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id"
        ).fetchall()
        models = conn.execute(
            "SELECT m.name, v.version, v.artifact_kind, v.digest FROM model_versions v JOIN models m ON m.id = v.model_id "
            "WHERE v.digest IS NOT NULL"
        ).fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return datasets, models


def model_rows(db_url: str) -> list[tuple[int, str, str, str, int, str | None, dict[str, str]]] | None:
    """(id, name, description, created_at, versions, latest sort key, aliases) of every model, by
    name, for ``mk model list`` in a personal registry; None once the registry has users (reads
    are then checked per user: the normal path does that)."""
    conn = _connect(db_url)
    if conn is None:
        return None
    try:
        if conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None:
            return None
        counts = dict(conn.execute("SELECT model_id, count(*) FROM model_versions GROUP BY model_id").fetchall())
        latest = dict(conn.execute("SELECT model_id, max(sort_key) FROM model_versions WHERE status != 'reproduction' "
                                   "GROUP BY model_id").fetchall())
        aliases: dict[int, dict[str, str]] = {}
        for model_id, alias, version in conn.execute(
            "SELECT a.model_id, a.name, v.version FROM aliases a JOIN model_versions v ON v.id = a.version_id"
        ):
            aliases.setdefault(model_id, {})[alias] = version
        models = conn.execute("SELECT id, name, description, created_at FROM models ORDER BY name").fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return [(i, name, description or "", created, counts.get(i, 0), latest.get(i), aliases.get(i, {}))
            for i, name, description, created in models]
