"""Branches of a model: ``fraud~wide-trees`` is a line of versions of its own (its own ``latest``,
aliases and bumps: the versions of the model named so), forked from a version of ``fraud``.
``main`` may be protected: versions then reach it only by a merge (``services/evaluation/merge.py``).
"""

from __future__ import annotations

import builtins
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from modelkeep.meta.collaboration_tables import Branch
from modelkeep.meta.db import Database
from modelkeep.meta.tables import Model, ModelVersion
from modelkeep.services.clock import utcnow
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.models.inputs import check_name
from modelkeep.services.models.views import BRANCH_MAIN, BranchView

MAIN = BRANCH_MAIN


def split_line(line: str) -> tuple[str, str]:
    """``fraud~wide-trees`` → (fraud, wide-trees); ``fraud`` → (fraud, main)."""
    model, _, branch = line.partition("~")
    check_name(model)
    if branch:
        check_name(branch, "branch name")
        if branch == MAIN:
            raise InvalidInput(f"{line}: main is the model itself ({model}); name a branch otherwise")
    return model, branch or MAIN


_LINE = select(Branch).where(Branch.model == bindparam("model"), Branch.name == bindparam("branch"))  # every registration's


def check_line(db: Database, name: str, *, via_merge: bool = False) -> None:
    """Before a version is registered as ``name``: a branch line must exist; a protected main
    takes versions only by merge."""
    model, branch = split_line(name)
    with db.reader() as session:
        row = session.scalars(_LINE, {"model": model, "branch": branch}).first()
    if branch != MAIN and row is None:
        raise NotFound(f"{model} has no branch {branch!r}", hint=f"create it: mk branch create {name}")
    if branch == MAIN and row is not None and row.protected and not via_merge:
        raise PermissionDenied(f"main of {model} is protected: versions reach it only by merge",
                               hint=f"register on a branch (--branch NAME), then mk merge {model}~NAME")


def fork_point(session: Session, line: str) -> ModelVersion | None:
    """The main version a branch line forked from (the parent of its first version)."""
    model, branch = split_line(line)
    base = session.scalar(select(Branch.base).where(Branch.model == model, Branch.name == branch))
    if base is None:
        return None
    return session.scalars(select(ModelVersion).join(Model, Model.id == ModelVersion.model_id)
                           .where(Model.name == model, ModelVersion.version == base)).first()


class MergeRequest(BaseModel):
    """A merge the caller evaluated (both heads, one pinned dataset): what to record on the target."""

    model_config = ConfigDict(extra="forbid")
    branch: str = Field(max_length=260, description="MODEL~BRANCH whose head is merged")
    into: str = Field(max_length=260, description="MODEL (main) or MODEL~BRANCH")
    head: str = Field(max_length=300, description="the branch head that was evaluated, NAME@VERSION")
    target_head: str = Field(max_length=300, description="the target head it was compared with")
    comparison: dict[str, Any] = Field(description="the verdict, the intervals and the evaluation ids")
    params: dict[str, Any] = Field(default_factory=dict, description="the merged version's parameters")
    conflicts: list[dict[str, Any]] = Field(default_factory=list)


class Branches:
    def __init__(self, db: Database, registry: Any, access: Access, source: str = "local") -> None:
        self.db, self.registry, self.access, self.source = db, registry, access, source

    def _head(self, line: str) -> str | None:
        try:
            return str(self.registry.get(f"{line}@latest").ref)
        except NotFound:
            return None

    def _view(self, row: Branch) -> BranchView:
        line = row.model if row.name == MAIN else f"{row.model}~{row.name}"
        return BranchView(row.model, row.name, row.base, row.protected, self._head(line), row.merged, row.created_by)

    def create(self, line: str, base: str | None = None) -> BranchView:
        model, branch = split_line(line)
        if branch == MAIN:
            raise InvalidInput(f"{line}: name the branch, MODEL~BRANCH (e.g. {model}~wide-trees)")
        self.access.check("model.write", model=model)
        fork = self.registry.get(base or f"{model}@latest")
        if fork.name != model:
            raise InvalidInput(f"--from {base}: a version of {model}")
        with self.db.writer() as session, session.begin():
            if session.scalars(select(Branch).where(Branch.model == model, Branch.name == branch)).first():
                raise Conflict(f"{line} exists already")
            row = Branch(model=model, name=branch, base=fork.version, protected=False, created_by=self.access.actor,
                         created_at=utcnow())
            session.add(row)
            audit.append(session, self.access.actor, "branch.create", f"model:{line}", source=self.source,
                         detail={"base": fork.ref})
        return self._view(row)

    def list(self, model: str) -> builtins.list[BranchView]:
        check_name(model)
        self.registry.get(f"{model}@latest")  # the model exists and may be read
        with self.db.reader() as session:
            rows = list(session.scalars(select(Branch).where(Branch.model == model).order_by(Branch.name)))
        main = next((r for r in rows if r.name == MAIN), None)
        views = [self._view(r) for r in rows if r.name != MAIN]
        top = main or Branch(model=model, name=MAIN, base=None, protected=False, created_by="", merged=None)
        return [self._view(top), *views]

    def delete(self, line: str) -> None:
        model, branch = split_line(line)
        if branch == MAIN:
            raise InvalidInput("main is the model itself: delete versions with mk model delete")
        self.access.check("model.write", model=model)
        with self.db.writer() as session, session.begin():
            row = session.scalars(_LINE, {"model": model, "branch": branch}).first()
            if row is None:
                raise NotFound(f"{model} has no branch {branch!r}")
            session.delete(row)
            audit.append(session, self.access.actor, "branch.delete", f"model:{line}", source=self.source)

    def protect(self, model: str, on: bool = True) -> BranchView:
        """Versions reach ``model``'s main line only by merge (or again by register, ``on=False``)."""
        check_name(model)
        self.access.check("admin")
        with self.db.writer() as session, session.begin():
            row = session.scalars(select(Branch).where(Branch.model == model, Branch.name == MAIN)).first()
            if row is None:
                row = Branch(model=model, name=MAIN, base=None, protected=on, created_by=self.access.actor,
                             created_at=utcnow())
                session.add(row)
            row.protected = on
            audit.append(session, self.access.actor, "branch.protect" if on else "branch.unprotect", f"model:{model}",
                         source=self.source)
        return self._view(row)

    def base_of(self, line: str) -> str | None:
        model, branch = split_line(line)
        with self.db.reader() as session:
            row = session.scalars(_LINE, {"model": model, "branch": branch}).first()
        if branch != MAIN and row is None:
            raise NotFound(f"{model} has no branch {branch!r}")
        return f"{model}@{row.base}" if row is not None and row.base else None

    def merge(self, req: MergeRequest) -> dict[str, Any]:
        """Record an evaluated merge: the head's artifact as a new version of the target line,
        whose parent is the target head; the verdict, intervals and evaluation ids with it."""
        from modelkeep.services.evaluation.merge import record_merge

        return record_merge(self, req)
