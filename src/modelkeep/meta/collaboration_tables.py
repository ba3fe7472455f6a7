"""Collaboration (issue 14): what a version scored on a pinned dataset version, the decisions
people recorded about it, and the branches of a model. Keyed by model name and version text, not by row id, so a
version a gc drops and ``mk undelete`` restores finds its records again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from modelkeep.meta.tables import Base


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_version", "model", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(200))  # NAME@N
    dataset_digest: Mapped[str] = mapped_column(String(64))
    split: Mapped[str | None] = mapped_column(String(64), nullable=True)
    slice_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    target: Mapped[str] = mapped_column(String(128))
    task: Mapped[str] = mapped_column(String(32))  # classification or regression
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)  # slice ("all", "COL=VALUE") -> {metric: value, "n": rows}
    environment: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class VersionNote(Base):
    __tablename__ = "version_notes"
    __table_args__ = (Index("ix_version_notes_version", "model", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # note, decision, limitation, intended-use, risk
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Branch(Base):
    """A named line of a model's versions (``fraud~wide-trees``: versions of the model of that
    name), forked from a version of the main line; the row named ``main`` holds its protection."""

    __tablename__ = "branches"
    __table_args__ = (UniqueConstraint("model", "name", name="uq_branches_model_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    base: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the main version it forked from
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    merged: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the last merge: into, version, verdict
