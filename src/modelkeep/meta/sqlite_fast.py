"""Read-only queries on a SQLite registry with the standard library's sqlite3.

For commands whose whole cost must stay near process start-up (``mk data status``), importing
SQLAlchemy alone would take longer than the work. Returns None whenever the fast path does not
apply (not SQLite, schema not current, any error), and the caller takes the normal path.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from modelkeep.meta.schema import SCHEMA_HEAD
from modelkeep.meta.search_language import Filter, Ordering
from modelkeep.meta.sqlite_search import page_statement
from modelkeep.version import VersionSpec

T = TypeVar("T")

VERSION_COLUMNS = ("id", "version", "seq", "status", "description", "bump", "reasons", "digest", "artifact_kind",
                   "artifact_size", "signature", "metadata", "environment", "code", "composite_config", "parent_id",
                   "created_at", "created_by")
_VERSION_COLUMNS = ", ".join(f"v.{column}" for column in VERSION_COLUMNS)
_VERSION = f"SELECT {_VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id "  # noqa: S608 (fixed names)
_BY_SPEC = {  # as Registry.resolve: an alias, an exact version, or the highest in range that is not a reproduction
    "alias": _VERSION + "JOIN aliases a ON a.version_id = v.id WHERE m.name = ? AND a.name = ?",
    "exact": _VERSION + "WHERE m.name = ? AND v.sort_key = ?",
    "range": _VERSION + ("WHERE m.name = ? AND v.status != 'reproduction' AND (? IS NULL OR v.sort_key >= ?) "
                         "AND (? IS NULL OR v.sort_key < ?) ORDER BY v.sort_key DESC LIMIT 1"),
}


def stored_json(value: Any) -> Any:
    """A JSON column's value as SQLite hands it back (its text), decoded as SQLAlchemy decodes it."""
    return json.loads(value) if isinstance(value, str) else value


def stored_time(value: str) -> str:
    """A time column's text (UTC) as the services write times: ISO 8601 with a ``Z``."""
    return datetime.fromisoformat(value).isoformat() + "Z"


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


def _personal(db_url: str) -> sqlite3.Connection | None:
    """``_connect`` for a personal registry (no users, so no read is checked), or None."""
    conn = _connect(db_url)
    if conn is None:
        return None
    try:
        if conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None:
            return conn
    except sqlite3.Error:
        pass
    conn.close()
    return None


def _read(conn: sqlite3.Connection | None, read: Callable[[sqlite3.Connection], T]) -> T | None:
    """``read(conn)``, the connection closed after; None where there is no connection (the fast
    path does not apply: see ``_connect`` and ``_personal``) or SQLite fails: the normal path then
    answers."""
    if conn is None:
        return None
    try:
        return read(conn)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def latest_dataset_version(db_url: str, name: str) -> dict[str, Any] | None:
    row = _read(_connect(db_url), lambda conn: conn.execute(
        "SELECT v.number, v.digest, v.root_kind, v.source, v.bytes FROM dataset_versions v "
        "JOIN datasets d ON d.id = v.dataset_id WHERE d.name = ? ORDER BY v.number DESC LIMIT 1", (name,)).fetchone())
    if row is None:
        return None
    number, digest, root_kind, source, size = row
    return {"number": number, "digest": digest, "root_kind": root_kind, "source": source, "bytes": size}


def branch_rows(db_url: str, model: str) -> tuple[str, list[tuple[Any, ...]]] | None:
    """The latest version of ``model`` and its recorded lines, each as (name, base, protected,
    merged, created_by, its latest version or None), by name, for ``mk branch list`` in a personal
    registry; None when the fast path does not apply or the model has no version (the normal path
    then says so)."""
    latest_query, latest_args = _by_spec(model, VersionSpec.parse("latest"))

    def latest(conn: sqlite3.Connection, line: str) -> str | None:
        query, args = _by_spec(line, VersionSpec.parse("latest"))
        row = conn.execute(query, args).fetchone()
        return None if row is None else str(row[1])

    def read(conn: sqlite3.Connection) -> tuple[str, list[tuple[Any, ...]]] | None:
        head = conn.execute(latest_query, latest_args).fetchone()
        if head is None:
            return None
        rows = conn.execute("SELECT name, base, protected, merged, created_by FROM branches WHERE model = ? ORDER BY name",
                            (model,)).fetchall()
        return str(head[1]), [(*row, latest(conn, model if row[0] == "main" else f"{model}~{row[0]}")) for row in rows]

    return _read(_personal(db_url), read)


def registry_root_rows(
    db_url: str,
) -> tuple[list[tuple[str, int, str, str]], list[tuple[str, str, str, str]]] | None:
    """(dataset versions, model versions) as (name, version, kind, digest) rows, or None."""
    return _read(_connect(db_url), lambda conn: (
        conn.execute(
            "SELECT d.name, v.number, v.root_kind, v.digest FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id"
        ).fetchall(),
        conn.execute(
            "SELECT m.name, v.version, v.artifact_kind, v.digest FROM model_versions v JOIN models m ON m.id = v.model_id "
            "WHERE v.digest IS NOT NULL"
        ).fetchall(),
    ))


def model_rows(db_url: str) -> list[tuple[int, str, str, str, int, str | None, dict[str, str]]] | None:
    """(id, name, description, created_at, versions, latest sort key, aliases) of every model, by
    name, for ``mk model list`` in a personal registry; None once the registry has users (reads
    are then checked per user: the normal path does that)."""
    def read(conn: sqlite3.Connection) -> list[tuple[int, str, str, str, int, str | None, dict[str, str]]]:
        counts = dict(conn.execute("SELECT model_id, count(*) FROM model_versions GROUP BY model_id").fetchall())
        latest = dict(conn.execute("SELECT model_id, max(sort_key) FROM model_versions WHERE status != 'reproduction' "
                                   "GROUP BY model_id").fetchall())
        aliases: dict[int, dict[str, str]] = {}
        for model_id, alias, version in conn.execute(
            "SELECT a.model_id, a.name, v.version FROM aliases a JOIN model_versions v ON v.id = a.version_id"
        ):
            aliases.setdefault(model_id, {})[alias] = version
        models = conn.execute("SELECT id, name, description, created_at FROM models ORDER BY name").fetchall()
        return [(i, name, description or "", created, counts.get(i, 0), latest.get(i), aliases.get(i, {}))
                for i, name, description, created in models]

    return _read(_personal(db_url), read)


def _by_spec(name: str, spec: VersionSpec) -> tuple[str, list[Any]]:
    """The statement (``_BY_SPEC``) and arguments that find the version of ``name`` that ``spec`` names."""
    if spec.kind == "alias":
        return _BY_SPEC["alias"], [name, spec.alias]
    if spec.kind == "exact":
        return _BY_SPEC["exact"], [name, spec.sort_bounds[0]]
    lower, upper = spec.sort_bounds
    return _BY_SPEC["range"], [name, lower, lower, upper, upper]


def version_record(db_url: str, name: str, spec: VersionSpec) -> dict[str, Any] | None:
    """The version of model ``name`` that ``spec`` names (as the registry resolves it: the highest
    match that is not a reproduction, an exact version, or an alias) with its params, metrics,
    tags, aliases, training data, components and parent, for ``mk model show`` in a personal
    registry. JSON columns and times come as SQLite stores them. None when the fast path does not
    apply or nothing matched: the normal path then answers, or says precisely what is missing."""
    query, args = _by_spec(name, spec)

    def read(conn: sqlite3.Connection) -> dict[str, Any] | None:
        row = conn.execute(query, args).fetchone()
        return None if row is None else _version_record(conn, row)

    return _read(_personal(db_url), read)


def _version_record(conn: sqlite3.Connection, row: tuple[Any, ...]) -> dict[str, Any]:
    """A version's row (``VERSION_COLUMNS``) with its params, metrics, tags, aliases, training data,
    components and parent, as ``version_record`` answers."""
    record = dict(zip(VERSION_COLUMNS, row, strict=True))
    version_id = record["id"]
    record["params"] = conn.execute("SELECT key, value FROM version_params WHERE version_id = ?", (version_id,)).fetchall()
    record["metrics"] = conn.execute("SELECT key, dataset, split, value FROM version_metrics WHERE version_id = ?",
                                     (version_id,)).fetchall()
    record["tags"] = conn.execute("SELECT key, value FROM version_tags WHERE version_id = ?", (version_id,)).fetchall()
    record["aliases"] = [a for (a,) in conn.execute("SELECT name FROM aliases WHERE version_id = ?", (version_id,))]
    record["sources"] = [src for (src,) in conn.execute(
        "SELECT src FROM lineage_edges WHERE dst = ? AND kind = 'trained_on'", (f"model_version:{version_id}",))]
    record["components"] = [f"{model}@{version}" for model, version in conn.execute(
        "SELECT m.name, v.version FROM composite_components c JOIN model_versions v ON v.id = c.component_id "
        "JOIN models m ON m.id = v.model_id WHERE c.composite_id = ? ORDER BY c.position", (version_id,))]
    record["parent"] = None if record["parent_id"] is None else conn.execute(
        "SELECT m.name, v.version FROM model_versions v JOIN models m ON m.id = v.model_id WHERE v.id = ?",
        (record["parent_id"],)).fetchone()
    return record


def search_records(db_url: str, tree: Filter | None, ordering: Ordering, after: tuple[Any, int] | None,
                   limit: int) -> list[tuple[str, dict[str, Any], Any]] | None:
    """Up to ``limit`` versions matching ``tree`` after ``after`` (a cursor's value and version id) in
    ``ordering``'s order, each as (its model's name, its record as ``version_record`` reads it, its
    value in the order), for ``mk model search`` in a personal registry; None when the fast path
    does not apply."""
    sql, args = page_statement(tree, ordering, f"{_VERSION_COLUMNS}, m.name", after, limit)
    width = len(VERSION_COLUMNS)
    return _read(_personal(db_url), lambda conn: [
        (row[width], _version_record(conn, row[:width]), row[width + 1]) for row in conn.execute(sql, args).fetchall()])


def dataset_version_rows(db_url: str, name: str) -> list[tuple[Any, ...]] | None:
    """The versions of dataset ``name``, newest first, each as (number, digest, root_kind, message,
    source, files, bytes, bytes_new, bytes_stored, created_at, created_by, partitions: a list of
    (name, digest) by name), for ``mk data log`` in a personal registry; None when the fast path
    does not apply or the dataset does not exist (the normal path then says so)."""
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]] | None:
        found = conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
        if found is None:
            return None
        rows = conn.execute(
            "SELECT id, number, digest, root_kind, message, source, files, bytes, bytes_new, bytes_stored, created_at, "
            "created_by FROM dataset_versions WHERE dataset_id = ? ORDER BY number DESC", (found[0],)).fetchall()
        parts: dict[int, list[tuple[str, str]]] = {}
        for version_id, part, digest in conn.execute(
            "SELECT p.version_id, p.name, p.digest FROM dataset_partitions p JOIN dataset_versions v ON v.id = p.version_id "
            "WHERE v.dataset_id = ? ORDER BY p.name", (found[0],)
        ):
            parts.setdefault(version_id, []).append((part, digest))
        return [(*row[1:], parts.get(row[0], [])) for row in rows]

    return _read(_personal(db_url), read)


def run_rows(db_url: str, project: str | None, limit: int) -> list[tuple[Any, ...]] | None:
    """The latest ``limit`` runs (of ``project``), newest first, each as (id, name, project, status,
    started_at, exit_code), for ``mk runs list`` in a personal registry; None when the fast path
    does not apply."""
    return _read(_personal(db_url), lambda conn: conn.execute(
        "SELECT id, name, project, status, started_at, exit_code FROM runs WHERE ? IS NULL OR project = ? "
        "ORDER BY id DESC LIMIT ?", (project, project, limit)).fetchall())


RUN_COLUMNS = ("id", "name", "project", "status", "started_at", "ended_at", "created_by", "command", "exit_code",
               "environment", "code", "seeds", "warnings", "deleted_at")
_RUN = ("SELECT id, name, project, status, started_at, ended_at, created_by, command, exit_code, environment, code, seeds, "
        "warnings, deleted_at FROM runs WHERE id = ?")


def run_record(db_url: str, run_id: int) -> dict[str, Any] | None:
    """Run ``run_id`` with its params, tags, metric series (by key and step), inputs, the versions it
    made and its artifacts, read by the statements ``Runs.get`` makes, for ``mk runs show`` in a
    personal registry. JSON columns and times come as SQLite stores them. None when the fast path
    does not apply or there is no such run (the normal path then says so)."""
    def read(conn: sqlite3.Connection) -> dict[str, Any] | None:
        row = conn.execute(_RUN, (run_id,)).fetchone()
        if row is None:
            return None
        record = dict(zip(RUN_COLUMNS, row, strict=True))
        node = f"run:{run_id}"
        record["params"] = conn.execute("SELECT key, value FROM run_params WHERE run_id = ?", (run_id,)).fetchall()
        record["tags"] = conn.execute("SELECT key, value FROM run_tags WHERE run_id = ?", (run_id,)).fetchall()
        record["metrics"] = conn.execute("SELECT key, step, value, logged_at FROM run_metrics WHERE run_id = ? "
                                         "ORDER BY key, step, logged_at", (run_id,)).fetchall()
        record["inputs"] = [src for (src,) in conn.execute("SELECT src FROM lineage_edges WHERE dst = ?", (node,))]
        record["outputs"] = [dst for (dst,) in conn.execute("SELECT dst FROM lineage_edges WHERE src = ?", (node,))]
        ids = [int(ref.split(":")[1]) for ref in record["outputs"] if ref.startswith("model_version:")]
        record["versions"] = conn.execute(  # one statement for the hundreds of versions a run may make
            "SELECT v.id, m.name, v.version FROM model_versions v JOIN models m ON m.id = v.model_id "
            "WHERE v.id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)).fetchall() if ids else []
        record["artifacts"] = conn.execute("SELECT name, kind, digest, size FROM run_artifacts WHERE run_id = ?",
                                           (run_id,)).fetchall()
        return record

    return _read(_personal(db_url), read)


_LINEAGE_EDGES = {  # (downstream?) -> the edges leaving / reaching a level's nodes
    True: "SELECT src, dst, kind FROM lineage_edges WHERE src IN (SELECT value FROM json_each(?)) "
          "AND kind IN (SELECT value FROM json_each(?))",
    False: "SELECT src, dst, kind FROM lineage_edges WHERE dst IN (SELECT value FROM json_each(?)) "
           "AND kind IN (SELECT value FROM json_each(?))",
}


class LineageReads:
    """The lineage graph's reads on one connection to a personal registry (``lineage_read``): what
    ``services.runs.lineage`` reads with SQLAlchemy, by the same statements."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def run_exists(self, run_id: int) -> bool:
        return self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None

    def names(self, name: str) -> tuple[bool, bool]:
        """Whether ``name`` is a model's, and whether it is a dataset's."""
        model = self.conn.execute("SELECT 1 FROM models WHERE name = ?", (name,)).fetchone() is not None
        dataset = self.conn.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone() is not None
        return model, dataset

    def version_id(self, name: str, spec: VersionSpec) -> int | None:
        """The id of the version ``spec`` names, as ``version_record`` finds it."""
        query, args = _by_spec(name, spec)
        row = self.conn.execute(query, args).fetchone()
        return None if row is None else int(row[0])

    def dataset_number(self, name: str, number: int | None) -> int | None:
        """Version ``number`` of dataset ``name`` (None: its latest), if it exists."""
        row = self.conn.execute(
            "SELECT v.number FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id WHERE d.name = ? "
            "AND (? IS NULL OR v.number = ?) ORDER BY v.number DESC LIMIT 1", (name, number, number)).fetchone()
        return None if row is None else int(row[0])

    def edges(self, level: list[str], downstream: bool, kinds: Any) -> list[tuple[str, str, str]]:
        return self.conn.execute(_LINEAGE_EDGES[downstream], (json.dumps(level), json.dumps(list(kinds)))).fetchall()

    def labels(self, ids: list[int]) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
        """``(id, model name, version)`` of versions ``ids`` and their ``(id, alias)`` pairs."""
        listed = json.dumps(ids)
        rows = self.conn.execute("SELECT v.id, m.name, v.version FROM model_versions v JOIN models m ON m.id = v.model_id "
                                 "WHERE v.id IN (SELECT value FROM json_each(?))", (listed,)).fetchall()
        named = self.conn.execute("SELECT version_id, name FROM aliases WHERE version_id IN (SELECT value FROM json_each(?))",
                                  (listed,)).fetchall()
        return rows, named


def lineage_read(db_url: str, read: Callable[[LineageReads], T]) -> T | None:
    """``read`` given the lineage reads of a personal registry; None where the fast path does not apply."""
    return _read(_personal(db_url), lambda conn: read(LineageReads(conn)))


def retention_rows(db_url: str) -> tuple[list[tuple[str, str, str, str, str]], list[tuple[str, str, str, str]]] | None:
    """The retention policies (kind, scope, rules as stored, updated_by, updated_at) by kind and scope,
    and the legal holds (target, reason, created_by, created_at) by target, for ``mk retention show``
    in a personal registry; None when the fast path does not apply."""
    return _read(_personal(db_url), lambda conn: (
        conn.execute("SELECT kind, scope, rules, updated_by, updated_at FROM retention_policies ORDER BY kind, scope").fetchall(),
        conn.execute("SELECT target, reason, created_by, created_at FROM legal_holds ORDER BY target").fetchall(),
    ))


def audit_rows(db_url: str, model: str | None, actor: str | None, action: str | None,
               limit: int) -> list[tuple[Any, ...]] | None:
    """Audit entries, newest first, filtered as ``services.governance.audit.query`` filters them
    (a model's own entries and its versions', an actor, an action pattern with ``*``), each as (seq,
    at, actor, action, target, outcome, source, detail, hash), for ``mk audit log`` in a personal
    registry; None when the fast path does not apply."""
    escaped = None if model is None else model.replace("/", "//").replace("%", "/%").replace("_", "/_")
    pattern = None if action is None else action.replace("*", "%")
    return _read(_personal(db_url), lambda conn: conn.execute(
        "SELECT seq, at, actor, action, target, outcome, source, detail, hash FROM audit_log "
        "WHERE (? IS NULL OR target LIKE 'model:' || ? || '@%' ESCAPE '/' OR target = 'model:' || ?) "
        "AND (? IS NULL OR actor = ?) AND (? IS NULL OR action LIKE ?) ORDER BY seq DESC LIMIT ?",
        (model, escaped, model, actor, actor, action, pattern, limit)).fetchall())


EVALUATION_COLUMNS = ("id", "model", "version", "dataset", "dataset_digest", "split", "slice_by", "target", "task",
                      "metrics", "environment", "created_by", "created_at")
NOTE_COLUMNS = ("id", "model", "version", "kind", "text", "created_by", "created_at")
_EVALUATIONS = ("SELECT id, model, version, dataset, dataset_digest, split, slice_by, target, task, metrics, environment, "
                "created_by, created_at FROM evaluations WHERE model = ? AND version = ? ORDER BY id")
_NOTES = ("SELECT id, model, version, kind, text, created_by, created_at FROM version_notes WHERE model = ? "
          "AND version = ? ORDER BY id")


def card_rows(db_url: str, model: str, version: str, datasets: list[str]) -> tuple[
        list[tuple[Any, ...]], list[tuple[Any, ...]], dict[str, str | None]] | None:
    """What ``mk card`` reads besides the version, its lineage and the audit log, in a personal
    registry: the version's evaluations (``EVALUATION_COLUMNS``) and notes (``NOTE_COLUMNS``) in the
    order they were made, and the content digest of each training dataset version ``NAME@N`` (None
    for one that is gone). None when the fast path does not apply, or a dataset is named otherwise."""
    numbered = [ref.rpartition("@") for ref in datasets]
    if any(not sep or not number.isascii() or not number.isdigit() for _, sep, number in numbered):
        return None

    def read(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[str, str | None]]:
        evaluations = conn.execute(_EVALUATIONS, (model, version)).fetchall()
        notes = conn.execute(_NOTES, (model, version)).fetchall()
        digests: dict[str, str | None] = {}
        for ref, (name, _, number) in zip(datasets, numbered, strict=True):
            row = conn.execute("SELECT v.digest FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
                               "WHERE d.name = ? AND v.number = ?", (name, int(number))).fetchone()
            digests[ref] = None if row is None else str(row[0])
        return evaluations, notes, digests

    return _read(_personal(db_url), read)


def deployment_rows(db_url: str) -> list[tuple[str, int, str, str, str]] | None:
    """(name, revision, status, spec document, updated_at) of every deployment, by name, for ``mk
    deploy list`` in a personal registry; None once it has users."""
    return _read(_personal(db_url), lambda conn: conn.execute(
        "SELECT name, revision, status, spec, updated_at FROM deployments ORDER BY name").fetchall())


def webhook_rows(db_url: str) -> list[tuple[Any, ...]] | None:
    """Every webhook, oldest first, as (id, url, events, format, active, created_at, updated_at, name,
    description, subject, bumps, secret_sealed) with JSON and times as SQLite stores them, for ``mk
    webhook list`` in a personal registry; None when the fast path does not apply."""
    return _read(_personal(db_url), lambda conn: conn.execute(
        "SELECT id, url, events, format, active, created_at, updated_at, name, description, subject, bumps, secret_sealed "
        "FROM webhooks ORDER BY id").fetchall())


def delivery_rows(db_url: str, webhook_id: int | None) -> list[tuple[Any, ...]] | None:
    """The delivery log (of one webhook), oldest first, as (id, event_id, event type, webhook_id, status,
    attempts, last_status, last_error), for ``mk webhook deliveries`` in a personal registry; None when
    the fast path does not apply."""
    return _read(_personal(db_url), lambda conn: conn.execute(
        "SELECT d.id, d.event_id, e.type, d.webhook_id, d.status, d.attempts, d.last_status, d.last_error "
        "FROM deliveries d JOIN events e ON e.id = d.event_id WHERE ? IS NULL OR d.webhook_id = ? ORDER BY d.id",
        (webhook_id, webhook_id)).fetchall())


def deployment_status_rows(db_url: str, name: str) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None:
    """Deployment ``name`` as (revision, status, spec, updated_at) and its gateways' reports as (gateway,
    revision, at, report) by gateway, JSON and times as SQLite stores them, for ``mk deploy status`` in a
    personal registry; None when the fast path does not apply or there is no such deployment."""
    def read(conn: sqlite3.Connection) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None:
        row = conn.execute("SELECT id, revision, status, spec, updated_at FROM deployments WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return row[1:], conn.execute("SELECT gateway, revision, at, report FROM gateway_reports WHERE deployment_id = ? "
                                     "ORDER BY gateway", (row[0],)).fetchall()

    return _read(_personal(db_url), read)


def deployment_revision_rows(db_url: str, name: str) -> list[tuple[Any, ...]] | None:
    """The revisions of deployment ``name``, newest first, as (revision, action, status, reason, actor, at,
    spec, evidence, validation), for ``mk deploy history`` in a personal registry; None when the fast path
    does not apply or there is no such deployment."""
    def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]] | None:
        row = conn.execute("SELECT id FROM deployments WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return conn.execute("SELECT revision, action, status, reason, actor, at, spec, evidence, validation "
                            "FROM deployment_revisions WHERE deployment_id = ? ORDER BY revision DESC", (row[0],)).fetchall()

    return _read(_personal(db_url), read)
