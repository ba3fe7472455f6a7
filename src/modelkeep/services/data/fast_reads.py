"""Dataset read commands answered without opening the workspace: the standard library's sqlite3 on
a personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

from datetime import datetime

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import dataset_version_rows
from modelkeep.services.data.views import DatasetVersionView
from modelkeep.services.models.inputs import check_name


def dataset_log(name: str) -> list[DatasetVersionView] | None:
    """What ``Datasets.log`` answers, for the local repository."""
    check_name(name, "dataset name")
    rows = dataset_version_rows(local_config().db_url, name)
    if rows is None:
        return None
    return [DatasetVersionView(name, number, digest, kind, message, source, files, size, new, stored,
                               datetime.fromisoformat(created), by, dict(parts))
            for number, digest, kind, message, source, files, size, new, stored, created, by, parts in rows]
