"""Dataset versions as an fsspec filesystem, so the engines people scale with read them in place:
``mk://fraud-train@3/part-0.parquet`` in pandas, Polars, DuckDB, PyArrow datasets and Dask.

The first part of a path is a dataset version (``NAME@N``; ``NAME`` alone is the latest, pinned
to its number when first seen by this filesystem), the rest a file in it. Reads are byte ranges
served from the file's chunk list: a Parquet footer or one row group fetches only the chunks
holding it, never the whole file. The filesystem is read-only; versions never change, so a
file's ``ukey`` (and ``checksum``) is its content digest, and caches in front of it stay right.

It talks to whatever :func:`modelkeep.client.connect.connect` chooses: the local repository, or
the server in ``MODELKEEP_URL`` (reads then come from the store the server names). Inside a run
(``MODELKEEP_RUN_ID``, set by ``mk run``, or ``run=`` given), each dataset version read is recorded
as the run's input, so lineage shows what a Dask job trained on.

Registered for the ``mk`` protocol by the ``fsspec.specs`` entry point: ``fsspec.open("mk://...")``
and ``pd.read_parquet("mk://...")`` find it.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from modelkeep.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from modelkeep.services.interface import Connection
    from modelkeep.store.format import TreeEntry

RUN_ENV = "MODELKEEP_RUN_ID"


class ModelKeepFileSystem(AbstractFileSystem):  # type: ignore[misc]
    protocol = ("mk", "modelkeep")
    root_marker = ""

    def __init__(self, connection: Connection | None = None, run: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._given = connection
        self._connection: Connection | None = None
        self._key: tuple[str | None, str] | None = None
        self._run = run
        self._versions: dict[str, str] = {}  # NAME or NAME@N as given -> NAME@N
        self._files: dict[str, dict[str, TreeEntry]] = {}  # NAME@N -> its files
        self._recorded: set[tuple[int, str]] = set()
        self._lock = threading.Lock()

    @property
    def run_id(self) -> int | None:
        """The run reads are recorded in: the one given, else the one ``mk run`` names now (fsspec
        reuses instances across runs of one process)."""
        found = getattr(self._run, "id", self._run) if self._run is not None else os.environ.get(RUN_ENV)
        return int(found) if found not in (None, "") else None

    @property
    def connection(self) -> Connection:
        """The one given, else the one the environment names now (fsspec reuses instances: one made
        in another folder, or before ``MODELKEEP_URL`` changed, connects again)."""
        if self._given is not None:
            return self._given
        from modelkeep.client.connect import connect, server_url

        key = (server_url(), os.getcwd())
        with self._lock:
            if self._connection is None or key != self._key:
                if self._connection is not None:
                    self._connection.close()
                self._connection, self._key = connect(), key
                self._versions, self._files, self._recorded = {}, {}, set()
            return self._connection

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        text = str(path)
        for prefix in ("mk://", "modelkeep://"):
            if text.startswith(prefix):
                text = text[len(prefix):]
        return text.strip("/")

    # --- versions and their files -------------------------------------------------------------------

    def _split(self, path: str) -> tuple[str, str]:
        """(NAME@N, file path inside it) of a path."""
        stripped = self._strip_protocol(path)
        if not stripped:
            raise InvalidInput("mk:// paths start with a dataset version: mk://NAME@N/FILE (or mk://NAME/FILE: the latest)")
        given, _, rest = stripped.partition("/")
        with self._lock:
            version = self._versions.get(given)
        if version is None:
            try:  # NAME alone: the latest, pinned here, so that every read agrees
                version = self.connection.datasets.canonical_ref(given)
            except NotFound as exc:
                raise FileNotFoundError(str(exc)) from None
            with self._lock:
                self._versions[given] = version
        return version, rest

    def _entries(self, version: str) -> dict[str, TreeEntry]:
        with self._lock:
            found = self._files.get(version)
        if found is None:
            found = self.connection.datasets.files(version)
            with self._lock:
                self._files[version] = found
        return found

    def _entry(self, path: str) -> tuple[str, str, TreeEntry]:
        version, rest = self._split(path)
        entry = self._entries(version).get(rest)
        if entry is None:
            raise FileNotFoundError(f"{version} has no file {rest!r}")
        return version, rest, entry

    def _record(self, version: str) -> None:
        """The run reading this version names it as an input (once per run)."""
        run_id = self.run_id
        if run_id is None or (run_id, version) in self._recorded:
            return
        self.connection.runs.use_dataset(run_id, version)
        with self._lock:
            self._recorded.add((run_id, version))

    # --- fsspec -------------------------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        stripped = self._strip_protocol(path)
        if not stripped:  # the datasets, each as its latest version
            out = [{"name": f"{d['name']}@{d['latest']}", "size": 0, "type": "directory"}
                   for d in self.connection.datasets.list() if d.get("latest")]
        else:
            version, rest = self._split(stripped)
            out = _listing(version, rest, self._entries(version))
            if not out:
                raise FileNotFoundError(f"{version} has no file or folder {rest!r}")
        return out if detail else [o["name"] for o in out]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        version, rest = self._split(path)
        if not rest:
            return {"name": version, "size": 0, "type": "directory"}
        entries = self._entries(version)
        entry = entries.get(rest)
        if entry is not None:
            return _file_info(f"{version}/{rest}", entry)
        if any(p.startswith(rest + "/") for p in entries):
            return {"name": f"{version}/{rest}", "size": 0, "type": "directory"}
        raise FileNotFoundError(f"{version} has no file or folder {rest!r}")

    def modified(self, path: str) -> datetime:
        """When the version was added (it never changes after)."""
        version, _ = self._split(path)
        created: datetime = self.connection.datasets.get(version).created_at
        return created

    def ukey(self, path: str) -> str:
        return str(self._entry(path)[2].id)

    def checksum(self, path: str) -> int:
        return int(self.ukey(path)[:16], 16)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        version, _, entry = self._entry(path)
        begin, stop = _bounds(start, end, entry.size)
        self._record(version)
        return self.connection.datasets.entry_range(entry, begin, stop)

    def _open(self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True,
              cache_options: Any = None, **kwargs: Any) -> ModelKeepFile:
        if mode != "rb":
            raise InvalidInput(f"mk:// files are read-only (mode {mode!r}): add a new version with 'mk data add'")
        version, rest, entry = self._entry(path)
        self._record(version)
        return ModelKeepFile(self, f"{version}/{rest}", entry, mode=mode, block_size=block_size or "default",
                             cache_options=cache_options, **kwargs)

    def _rm(self, path: str) -> None:
        raise InvalidInput("mk:// is read-only: dataset versions never change")

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        raise InvalidInput("mk:// is read-only: dataset versions never change")


class ModelKeepFile(AbstractBufferedFile):  # type: ignore[misc]
    """One file of a version, read in byte ranges (fsspec buffers and reads ahead)."""

    def __init__(self, fs: ModelKeepFileSystem, path: str, entry: TreeEntry, **kwargs: Any) -> None:
        self.entry = entry
        super().__init__(fs, path, size=entry.size, **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        result: bytes = self.fs.connection.datasets.entry_range(self.entry, start, end)
        return result


def _bounds(start: int | None, end: int | None, size: int) -> tuple[int, int]:
    begin = 0 if start is None else (size + start if start < 0 else start)
    stop = size if end is None else (size + end if end < 0 else end)
    return max(0, begin), max(0, min(stop, size))


def _file_info(name: str, entry: TreeEntry) -> dict[str, Any]:
    return {"name": name, "size": entry.size, "type": "file", "digest": str(entry.id)}


def _listing(version: str, folder: str, entries: dict[str, TreeEntry]) -> list[dict[str, Any]]:
    """What is directly in ``folder`` of a version (a file path: that file)."""
    if folder in entries:
        return [_file_info(f"{version}/{folder}", entries[folder])]
    prefix = f"{folder}/" if folder else ""
    out: dict[str, dict[str, Any]] = {}
    for path, entry in entries.items():
        if not path.startswith(prefix):
            continue
        head, sep, _ = path[len(prefix):].partition("/")
        name = f"{version}/{prefix}{head}"
        out.setdefault(name, {"name": name, "size": 0, "type": "directory"} if sep else _file_info(name, entry))
    return sorted(out.values(), key=lambda o: str(o["name"]))

