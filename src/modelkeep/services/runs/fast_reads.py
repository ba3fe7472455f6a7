"""Run read commands answered without opening the workspace: the standard library's sqlite3 on a
personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import run_record, run_rows
from modelkeep.services.models.views import RunView


def list_runs(project: str | None, limit: int) -> list[dict[str, Any]] | None:
    """What ``Runs.list`` answers, for the local repository."""
    rows = run_rows(local_config().db_url, project, limit)
    if rows is None:
        return None
    return [{"id": run_id, "name": name, "project": in_project, "status": status,
             "started_at": datetime.fromisoformat(started).isoformat() + "Z", "exit_code": exit_code}
            for run_id, name, in_project, status, started, exit_code in rows]


def show_run(run_id: int) -> RunView | None:
    """What ``Runs.get`` answers for ``run_id``, for the local repository."""
    record = run_record(local_config().db_url, run_id)
    if record is None:
        return None

    def document(column: str) -> Any:
        text = record[column]
        return json.loads(text) if isinstance(text, str) else text

    metrics: dict[str, list[tuple[int, float]]] = {}
    for key, step, value in record["metrics"]:
        metrics.setdefault(key, []).append((step, value))
    known = {f"model_version:{vid}": f"{name}@{version}" for vid, name, version in record["versions"]}
    ended = record["ended_at"]
    return RunView(
        record["id"], record["name"], record["project"], record["status"], datetime.fromisoformat(record["started_at"]),
        None if ended is None else datetime.fromisoformat(ended), record["created_by"], document("command"),
        record["exit_code"], document("environment") or {}, document("code") or {}, document("seeds"),
        list(document("warnings") or []), dict(record["params"]), metrics, dict(record["tags"]),
        sorted(src.split(":", 1)[1] for src in record["inputs"]),
        [{"name": name, "kind": kind, "digest": digest, "size": size} for name, kind, digest, size in record["artifacts"]],
        [known.get(ref, f"(deleted {ref})") for ref in record["outputs"] if ref.startswith("model_version:")],
    )
