"""Run read commands answered without opening the workspace: the standard library's sqlite3 on a
personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import LineageReads, lineage_read, run_record, run_rows, stored_json, stored_time
from modelkeep.services.models.views import RunView


def list_runs(project: str | None, limit: int) -> list[dict[str, Any]] | None:
    """What ``Runs.list`` answers, for the local repository."""
    rows = run_rows(local_config().db_url, project, limit)
    if rows is None:
        return None
    return [{"id": run_id, "name": name, "project": in_project, "status": status,
             "started_at": stored_time(started), "exit_code": exit_code}
            for run_id, name, in_project, status, started, exit_code in rows]


def show_run(run_id: int) -> RunView | None:
    """What ``Runs.get`` answers for ``run_id``, for the local repository."""
    record = run_record(local_config().db_url, run_id)
    if record is None:
        return None

    metrics: dict[str, list[tuple[int, float]]] = {}
    last: dict[str, str] = {}
    for key, step, value, when in record["metrics"]:
        metrics.setdefault(key, []).append((step, value))
        last[key] = when  # the last step's, as the points come in order (parsed once, below)
    times = {key: datetime.fromisoformat(when) for key, when in last.items()}
    known = {f"model_version:{vid}": f"{name}@{version}" for vid, name, version in record["versions"]}
    ended = record["ended_at"]
    return RunView(
        record["id"], record["name"], record["project"], record["status"], datetime.fromisoformat(record["started_at"]),
        None if ended is None else datetime.fromisoformat(ended), record["created_by"], stored_json(record["command"]),
        record["exit_code"], stored_json(record["environment"]) or {}, stored_json(record["code"]) or {},
        stored_json(record["seeds"]),
        list(stored_json(record["warnings"]) or []), dict(record["params"]), metrics, dict(record["tags"]),
        sorted(src.split(":", 1)[1] for src in record["inputs"]),
        [{"name": name, "kind": kind, "digest": digest, "size": size} for name, kind, digest, size in record["artifacts"]],
        [known.get(ref, f"(deleted {ref})") for ref in record["outputs"] if ref.startswith("model_version:")], times,
        None if record["deleted_at"] is None else datetime.fromisoformat(record["deleted_at"]),
    )


def lineage(ref: str, *, downstream: bool = False, depth: int | None = None, parents: bool = False) -> dict[str, Any] | None:
    """What ``LocalLineage.lineage`` answers for ``ref``, for the local repository: the node found as
    ``resolve_node`` finds it, the same walk. A reference it does not find, or finds ambiguous, or a
    dataset named by a digest, goes to the normal path (which says what is wrong)."""
    from modelkeep.services.runs.lineage_graph import walk_graph  # here: a command through a server never needs it

    config = local_config()

    def read(reads: LineageReads) -> dict[str, Any] | None:
        start = _node(reads, ref)
        if start is None:
            return None
        graph = walk_graph(reads.edges, reads.labels, start, downstream=downstream, max_depth=depth, parents=parents)
        graph["namespace"] = config.lineage_namespace
        return graph

    return lineage_read(config.db_url, read)


def _node(reads: LineageReads, ref: str) -> str | None:
    from modelkeep.services.models.inputs import split_dataset_ref, split_ref
    from modelkeep.version import VersionSpec

    kind, sep, rest = ref.partition(":")
    if sep and kind == "run":
        return f"run:{int(rest)}" if rest.isdigit() and reads.run_exists(int(rest)) else None
    if sep and kind in ("model", "dataset"):
        is_model, text = kind == "model", rest
    else:
        is_model, is_dataset = reads.names(ref.partition("@")[0])
        if is_model == is_dataset:  # both (ambiguous) or neither
            return None
        text = ref
    if is_model:
        name, spec = split_ref(text)
        version_id = reads.version_id(name, VersionSpec.parse(spec))
        return None if version_id is None else f"model_version:{version_id}"
    name, given = split_dataset_ref(text)
    if given is not None and given != "latest" and not given.isdigit():
        return None
    number = reads.dataset_number(name, None if given in (None, "latest") else int(given))
    return None if number is None else f"dataset:{name}@{number}"
