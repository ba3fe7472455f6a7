"""Read commands answered without opening the workspace: the standard library's sqlite3 on a
personal SQLite registry (``meta.sqlite_fast``), so the command costs little more than its start.

Each returns None when the fast path does not apply (a server configured, another database, a
schema not current, a registry with users), and the command takes the normal path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.search_language import MAX_LIMIT, decode_cursor, encode_cursor, parse_ordering, parse_tree
from modelkeep.meta.sqlite_fast import branch_rows, model_rows, search_records, stored_json, version_record
from modelkeep.services.models.inputs import check_name, split_ref
from modelkeep.services.models.views import (
    BRANCH_MAIN,
    DATASET_PREFIX,
    BranchView,
    ModelSummary,
    SearchPage,
    VersionView,
    metric_label,
)
from modelkeep.version import MLVersion, VersionSpec


def list_models() -> list[ModelSummary] | None:
    """What ``Registry.list_models`` answers, for the local repository."""
    rows = model_rows(local_config().db_url)
    if rows is None:
        return None
    return [ModelSummary(name=name, description=description, versions=versions,
                         latest=str(MLVersion.from_sort_key(latest)) if latest else None, aliases=aliases,
                         created_at=datetime.fromisoformat(created) if created else None)
            for _id, name, description, created, versions, latest, aliases in rows]


def show_version(ref: str) -> VersionView | None:
    """What ``Registry.get`` answers for ``ref``, for the local repository."""
    name, spec_text = split_ref(ref)
    record = version_record(local_config().db_url, name, VersionSpec.parse(spec_text))
    return None if record is None else _view(name, record)


def search(filter_text: str | None = None, *, order_by: str | None = None, limit: int = 50,
           cursor: str | None = None) -> SearchPage | None:
    """What ``Registry.search`` answers, for the local repository: the same page, and the same
    cursor after it. A bad filter, order or cursor is refused here as there."""
    if not 1 <= limit <= MAX_LIMIT:
        return None  # the normal path says what is valid
    text = filter_text or ""
    tree, ordering = parse_tree(text), parse_ordering(order_by)
    after = decode_cursor(cursor, ordering, text) if cursor else None
    found = search_records(local_config().db_url, tree, ordering, after, limit + 1)
    if found is None:
        return None
    page = found[:limit]
    next_cursor = None
    if len(found) > limit and page:
        _, last, value = page[-1]
        next_cursor = encode_cursor(ordering, text, value, last["id"])
    return SearchPage([_view(name, record) for name, record, _ in page], next_cursor)


def _view(name: str, record: dict[str, Any]) -> VersionView:
    """A version of model ``name`` as ``sqlite_fast.version_record`` reads it, as the services show it."""
    parent = record["parent"]
    return VersionView(
        id=record["id"], name=name, version=record["version"], status=record["status"],
        description=record["description"], bump=record["bump"], reasons=list(stored_json(record["reasons"]) or []),
        digest=record["digest"], artifact_kind=record["artifact_kind"], artifact_size=record["artifact_size"],
        signature=stored_json(record["signature"]), metadata=stored_json(record["metadata"]),
        environment=stored_json(record["environment"]),
        code=stored_json(record["code"]), composite_config=stored_json(record["composite_config"]),
        parent=None if parent is None else parent[1] if parent[0] == name else f"{parent[0]}@{parent[1]}",
        created_at=datetime.fromisoformat(record["created_at"]), created_by=record["created_by"],
        params=dict(record["params"]),
        metrics={metric_label(key, dataset, split): value for key, dataset, split, value in record["metrics"]},
        tags=dict(record["tags"]), aliases=sorted(record["aliases"]),
        data=sorted(src[len(DATASET_PREFIX):] for src in record["sources"] if src.startswith(DATASET_PREFIX)),
        components=record["components"], seq=record["seq"] or 0)


def diff(a: str, b: str) -> dict[str, Any] | None:
    """What ``Registry.diff`` answers for ``a`` and ``b``, for the local repository: both versions
    read as ``show_version`` reads them, their artifacts compared through the store as the service
    compares them (``diff_versions``)."""
    first = show_version(a)
    second = None if first is None else show_version(b)
    if first is None or second is None:
        return None
    from modelkeep.services.models.diff import diff_versions
    from modelkeep.store.artifacts import ArtifactStore
    from modelkeep.store.backends import open_backend
    from modelkeep.store.repository import Repository

    return diff_versions(ArtifactStore(Repository.open(open_backend(local_config().store_url))), first, second)


def branches(model: str) -> list[BranchView] | None:
    """What ``Branches.list`` answers for ``model``, for the local repository: main first (as
    recorded, or unprotected when it never was), then each branch by name, each with its head."""
    check_name(model)
    found = branch_rows(local_config().db_url, model)
    if found is None:
        return None
    head, rows = found
    views: dict[str, BranchView] = {}
    for name, base, protected, merged, created_by, latest in rows:
        view = BranchView(model, name, base, bool(protected), None, stored_json(merged), created_by)
        view.head = None if latest is None else f"{view.line}@{latest}"
        views[name] = view
    main = views.pop(BRANCH_MAIN, None) or BranchView(model, BRANCH_MAIN, None, False, f"{model}@{head}", None, "")
    return [main, *views.values()]
