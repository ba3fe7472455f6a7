"""The remote datasets service: version rows through the server, bytes through its store.

``add`` stages the file or folder with the same code as a local add (``dataset_files.stage``) on
the server's store, so only chunks the server lacks are sent, then asks the server to record the
version; ``ls``, ``cat``, ``checkout`` and ``status`` read the server's store the same way a
local repository's is read, every chunk verified here.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.client.http import Transport
from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.data.dataset_files import DatasetFiles, partition_key_for, stage
from modelkeep.services.data.views import DatasetVersionView
from modelkeep.services.models.inputs import split_dataset_ref
from modelkeep.store.ingest import StatCache

if TYPE_CHECKING:
    from modelkeep.store.repository import Repository


class RemoteDatasets(DatasetFiles):
    def __init__(self, transport: Transport, repo: Callable[[], Repository], cache_dir: Path) -> None:
        self.transport = transport
        self._repo = repo
        digest = hashlib.sha256(transport.url.encode()).hexdigest()[:16]
        # a stat cache per server: an entry vouches for an object of that server's store only
        self.cache = StatCache(cache_dir / "stat" / f"{digest}.db")
        self.chunk_folder = cache_dir / "chunks" / digest  # chunks of that server's store, once read
        self.meta_dir = None

    @property
    def repo(self) -> Repository:  # type: ignore[override]
        return self._repo()

    def get(self, ref: str) -> DatasetVersionView:
        name, spec = split_dataset_ref(ref)
        return DatasetVersionView.from_dict(self.transport.call("GET", f"/api/v1/datasets/{name}/versions/{spec or 'latest'}"))

    def canonical_ref(self, ref: str) -> str:
        if not isinstance(ref, str):
            raise InvalidInput(f"invalid dataset reference {ref!r}: use NAME@N, e.g. fraud-train@3")
        return self.get(ref).ref

    def log(self, name: str) -> builtins.list[DatasetVersionView]:
        return [DatasetVersionView.from_dict(d) for d in self.transport.call("GET", f"/api/v1/datasets/{name}/versions")]

    def list(self) -> builtins.list[dict[str, Any]]:
        return builtins.list(self.transport.call("GET", "/api/v1/datasets"))

    def partition_key(self, name: str) -> str | None:
        try:
            doc = self.transport.call("GET", f"/api/v1/datasets/{name}")
        except NotFound:
            return None
        return doc.get("partition_by")

    def add(
        self,
        path: Path,
        name: str,
        *,
        message: str = "",
        partition_by: str | None = None,
        partition: str | None = None,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
    ) -> DatasetVersionView:
        key = partition_key_for(partition_by, partition, lambda: self.partition_key(name))
        staged = stage(self.repo, self.cache, Path(path), key=key, partition=partition, progress=progress,
                       on_total=on_total)
        self.cache.save()
        body = {"root": {"kind": staged.root.kind, "id": staged.root.id, "size": staged.root.size},
                "source": staged.source, "partition_by": staged.partition_by, "partition": staged.partition,
                "message": message, "bytes_new": staged.bytes_new, "bytes_stored": staged.bytes_stored}
        return DatasetVersionView.from_dict(self.transport.call("POST", f"/api/v1/datasets/{name}/versions", json=body))
