"""What reading a dataset version's files needs, whoever answers it: the datasets service (local
or through a server), or the fast path's sqlite3 reads of a personal registry
(``services.data.fast_reads``); and the reads built on it alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.data.views import DatasetVersionView
from modelkeep.store.format import TreeEntry
from modelkeep.store.repository import Repository


class VersionReads(Protocol):
    @property
    def repo(self) -> Repository: ...

    def get(self, ref: str) -> DatasetVersionView: ...

    def files_of(self, view: DatasetVersionView) -> dict[str, TreeEntry]: ...


def version_file(reads: VersionReads, ref: str, file: str | None = None) -> Iterator[bytes | memoryview]:
    """The contents of one file of version ``ref`` (``file`` may be left out of a version of one file),
    verified as it is read; the version and the file are found before the first byte."""
    view = reads.get(ref)
    files = reads.files_of(view)
    if file is None:
        if len(files) != 1:
            raise InvalidInput(f"{view.ref} has {len(files)} files; name one (see 'mk data ls {view.ref}')")
        file = next(iter(files))
    entry = files.get(file.strip("/"))
    if entry is None:
        raise NotFound(f"{view.ref} has no file {file!r}", hint=f"see 'mk data ls {view.ref}'")
    return reads.repo.iter_file(entry.kind, entry.id)
