"""Datasets over HTTP: version rows only. A client stages the bytes through the store routes
(only chunks the server lacks) and then asks to record them; reads of files go through the store
too, verified by the client. Each route is one call of ``services.data.datasets.Datasets``, which
checks the caller's permissions itself (``data.read`` / ``data.write``)."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.services.data.dataset_files import StagedContent
from modelkeep.store.format import ObjectId, TreeEntry

DatasetName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", description="dataset name")]
DatasetSpec = Annotated[str, Path(pattern=r"^(latest|[0-9]{1,9}|[0-9a-f]{6,64})$", description="N, latest or a digest")]


class StagedRoot(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["tree", "blob", "chunked"]
    id: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class RecordBody(BaseModel):
    """Content already in the store, to be recorded as the next version (see ``dataset_files.stage``)."""

    model_config = ConfigDict(extra="forbid")
    root: StagedRoot
    source: str = Field(default="", max_length=4096, description="where the client added it from")
    partition_by: str | None = Field(default=None, max_length=64)
    partition: str | None = Field(default=None, max_length=200, description="KEY=VALUE: root is this one partition")
    message: str = Field(default="", max_length=5000)
    bytes_new: int = Field(default=0, ge=0)
    bytes_stored: int = Field(default=0, ge=0)

    def staged(self) -> StagedContent:
        mode = 0 if self.root.kind == "tree" else 0o644
        root = TreeEntry(self.root.id[:12], self.root.kind, ObjectId(self.root.id), self.root.size, mode)
        return StagedContent(root, self.source, self.partition_by, self.partition, self.bytes_new, self.bytes_stored)


def data_routes(Ws: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])

    @router.get("")
    def list_datasets(ws: Ws) -> list[dict[str, Any]]:
        return ws.datasets.list()

    @router.get("/{name}")
    def dataset(ws: Ws, name: DatasetName) -> dict[str, Any]:
        """The dataset's partition key (what a client needs before staging a folder)."""
        latest = ws.datasets.get(name)
        return {"name": name, "partition_by": ws.datasets.partition_key(name), "latest": latest.number}

    @router.get("/{name}/versions")
    def log(ws: Ws, name: DatasetName) -> list[dict[str, Any]]:
        return [v.to_dict() for v in ws.datasets.log(name)]

    @router.get("/{name}/versions/{spec}")
    def get_version(ws: Ws, name: DatasetName, spec: DatasetSpec) -> dict[str, Any]:
        return ws.datasets.get(name if spec == "latest" else f"{name}@{spec}").to_dict()

    @router.post("/{name}/versions", status_code=201)
    def record(ws: Ws, name: DatasetName, body: RecordBody) -> dict[str, Any]:
        return ws.datasets.record(name, body.staged(), body.message).to_dict()

    return router
