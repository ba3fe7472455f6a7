"""Dataset read commands answered without opening the workspace: the standard library's sqlite3 on
a personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

from datetime import datetime

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import dataset_version_rows
from modelkeep.services.data.views import DatasetVersionView
from modelkeep.services.models.inputs import check_name, split_dataset_ref
from modelkeep.store.format import TreeEntry


def dataset_log(name: str) -> list[DatasetVersionView] | None:
    """What ``Datasets.log`` answers, for the local repository."""
    check_name(name, "dataset name")
    rows = dataset_version_rows(local_config().db_url, name)
    if rows is None:
        return None
    return [DatasetVersionView(name, number, digest, kind, message, source, files, size, new, stored,
                               datetime.fromisoformat(created), by, dict(parts))
            for number, digest, kind, message, source, files, size, new, stored, created, by, parts in rows]


def dataset_files(ref: str) -> dict[str, TreeEntry] | None:
    """What ``Datasets.files`` answers for ``NAME``, ``NAME@latest`` or ``NAME@N``, for the local
    repository: the version from sqlite3, its tree from the store (a digest prefix, a version that
    does not exist and other specs take the normal path, which says what is wrong)."""
    from modelkeep.services.data.data_status import recorded_files
    from modelkeep.store.backends import open_backend
    from modelkeep.store.repository import Repository

    name, spec = split_dataset_ref(ref)
    config = local_config()
    rows = dataset_version_rows(config.db_url, name)
    if not rows:
        return None
    if spec is None or spec == "latest":
        row = rows[0]  # newest first
    elif spec.isdigit():
        found = [r for r in rows if r[0] == int(spec)]
        if not found:
            return None
        row = found[0]
    else:
        return None
    _number, digest, kind, _message, source, _files, size = row[:7]
    return recorded_files(Repository.open(open_backend(config.store_url)), name, digest, kind, source, size)
