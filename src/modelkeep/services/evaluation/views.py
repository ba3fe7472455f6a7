"""What an evaluation or a note on a version looks like to its readers: plain dataclasses, free of
SQLAlchemy and pydantic, so a card can be rendered by a command's fast path (``fast_reads``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class EvaluationView:
    id: int
    model: str
    version: str
    dataset: str
    dataset_digest: str
    split: str | None
    slice_by: str | None
    target: str
    task: str
    metrics: dict[str, dict[str, float]]
    environment: dict[str, Any]
    created_by: str
    created_at: str
    reused: bool = False

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__) | {"ref": self.ref}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> EvaluationView:
        return cls(**{k: v for k, v in doc.items() if k != "ref"})


@dataclass
class NoteView:
    id: int
    model: str
    version: str
    kind: str
    text: str
    created_by: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
