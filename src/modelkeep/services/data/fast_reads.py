"""Dataset read commands answered without opening the workspace: the standard library's sqlite3 on
a personal SQLite registry (``meta.sqlite_fast``), as ``services.models.fast_reads`` answers model
reads. Each returns None when the fast path does not apply, and the command takes the normal path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from modelkeep.config import local_config
from modelkeep.meta.sqlite_fast import dataset_version_rows
from modelkeep.services.data.version_reads import version_file
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


class _Declined(Exception):
    """The fast path does not apply: the normal path answers (and says what is wrong, if anything)."""


class LocalVersions:
    """The version reads of ``mk data ls`` and ``mk data diff`` (``get``, ``files_of``, ``repo``) from
    sqlite3 and the store: ``NAME``, ``NAME@latest`` or ``NAME@N`` of a personal registry; anything
    else (a digest prefix, a version that does not exist) is declined."""

    def __init__(self) -> None:
        from modelkeep.store.backends import open_backend
        from modelkeep.store.repository import Repository

        self.repo = Repository.open(open_backend(local_config().store_url))
        self._logs: dict[str, list[DatasetVersionView]] = {}  # a diff of two versions of one dataset reads it once

    def get(self, ref: str) -> DatasetVersionView:
        name, spec = split_dataset_ref(ref)
        if spec is not None and spec != "latest" and not spec.isdigit():
            raise _Declined(ref)
        if name not in self._logs:
            self._logs[name] = dataset_log(name) or []
        views = self._logs[name]
        found = views[:1] if spec is None or spec == "latest" else [v for v in views if v.number == int(spec)]
        if not found:
            raise _Declined(ref)
        return found[0]

    def files_of(self, view: DatasetVersionView) -> dict[str, TreeEntry]:
        from modelkeep.services.data.data_status import recorded_files

        return recorded_files(self.repo, view.name, view.digest, view.root_kind, view.source, view.bytes)


def dataset_files(ref: str) -> dict[str, TreeEntry] | None:
    """What ``Datasets.files`` answers, for the local repository (``LocalVersions``)."""
    try:
        versions = LocalVersions()
        return versions.files_of(versions.get(ref))
    except _Declined:
        return None


def dataset_diff(a_ref: str, b_ref: str) -> dict[str, Any] | None:
    """What ``mk data diff`` answers, for the local repository (``LocalVersions``)."""
    from modelkeep.services.data.dataset_diff import diff_dataset_versions

    try:
        return diff_dataset_versions(LocalVersions(), a_ref, b_ref)
    except _Declined:
        return None


def dataset_cat(ref: str, file: str | None) -> Iterator[bytes | memoryview] | None:
    """What ``mk data cat`` writes, for the local repository (``LocalVersions``); a file the version
    does not hold is said by the normal path."""
    try:
        return version_file(LocalVersions(), ref, file)
    except _Declined:
        return None
