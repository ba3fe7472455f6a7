"""What a dataset version is to its readers: no SQLAlchemy here, so a command that only reads a
personal registry with sqlite3 (``fast_reads``) need not import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelkeep.store.format import ObjectId, TreeEntry


@dataclass
class DatasetVersionView:
    name: str
    number: int
    digest: str
    root_kind: str
    message: str
    source: str
    files: int
    bytes: int
    bytes_new: int
    bytes_stored: int
    created_at: datetime
    created_by: str
    partitions: dict[str, str] = field(default_factory=dict)
    unchanged: bool = False

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.number}"

    @property
    def root(self) -> TreeEntry:
        return TreeEntry(self.name, self.root_kind, ObjectId(self.digest), self.bytes, 0o644 if self.root_kind != "tree" else 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.number,
            "ref": self.ref,
            "digest": self.digest,
            "kind": self.root_kind,
            "files": self.files,
            "bytes": self.bytes,
            "bytes_new": self.bytes_new,
            "bytes_stored": self.bytes_stored,
            "message": self.message,
            "source": self.source,
            "partitions": dict(self.partitions),
            "unchanged": self.unchanged,
            "created_at": self.created_at.isoformat() + "Z",
            "created_by": self.created_by,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DatasetVersionView:
        """The inverse of :meth:`to_dict` (what the remote client receives)."""
        return cls(
            doc["name"], int(doc["version"]), doc["digest"], doc["kind"], doc["message"], doc["source"], int(doc["files"]),
            int(doc["bytes"]), int(doc["bytes_new"]), int(doc["bytes_stored"]),
            datetime.fromisoformat(doc["created_at"].rstrip("Z")), doc["created_by"], dict(doc["partitions"]),
            bool(doc.get("unchanged")),
        )
