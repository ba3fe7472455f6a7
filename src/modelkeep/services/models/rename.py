"""Renaming a model: versions, aliases, runs and lineage hold its id, so they follow it; what names
it by its name — its branch lines (``NAME~BRANCH``), protected aliases, branches, evaluations,
notes, role bindings scoped to it, its retention policy, legal holds, tombstones and watches — is
renamed in the same transaction. The audit log keeps the old name in its earlier entries (history
is not rewritten) and records the rename. Refused while a deployment pins one of its versions:
the deployment's spec and its revisions name the version ``NAME@VERSION``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, InvalidInput, NotFound
from modelkeep.meta.collaboration_tables import Branch, Evaluation, VersionNote
from modelkeep.meta.tables import (
    LegalHold,
    Model,
    ModelVersion,
    ProtectedAlias,
    RetentionPolicy,
    RoleBinding,
    Tombstone,
    Webhook,
)
from modelkeep.services.deploy.pins import pinned_by as deployment_pins


def rename_model(session: Session, name: str, new_name: str) -> list[str]:
    """Rename ``name`` to ``new_name`` and its branch lines with it; returns the lines renamed."""
    if "~" in name or "~" in new_name:
        raise InvalidInput(f"rename a model by its main name ({name.split('~')[0]}); its branch lines follow it")
    if new_name == name:
        raise InvalidInput(f"{name} already has that name")
    model = session.scalars(select(Model).where(Model.name == name).with_for_update()).first()
    if model is None:
        raise NotFound(f"no model named {name!r}")
    lines = list(session.scalars(select(Model).where(Model.name.startswith(f"{name}~", autoescape=True))).all())
    names = {name: new_name} | {line.name: new_name + line.name[len(name):] for line in lines}
    taken = session.scalars(select(Model.name).where(Model.name.in_(list(names.values())))).all()
    if taken:
        raise Conflict(f"a model named {taken[0]} already exists", hint="pick another name, or delete that model first")
    ids = list(session.scalars(select(ModelVersion.id).where(ModelVersion.model_id.in_([model.id, *(m.id for m in lines)]))))
    deployed = deployment_pins(session, ids)
    if deployed:
        raise Conflict(f"{name} cannot be renamed while deployment {', '.join(deployed)} pins its versions by name",
                       hint="roll the deployment onto another model, or delete it, then rename")
    for row in [model, *lines]:
        row.name = names[row.name]
    for old, new in names.items():  # versions of the main line and of each branch line
        session.execute(update(Evaluation).where(Evaluation.model == old).values(model=new))
        session.execute(update(VersionNote).where(VersionNote.model == old).values(model=new))
    session.execute(update(Branch).where(Branch.model == name).values(model=new_name))
    session.execute(update(ProtectedAlias).where(ProtectedAlias.model == name).values(model=new_name))
    session.execute(update(RoleBinding).where(RoleBinding.scope_kind == "model", RoleBinding.scope == name)
                    .values(scope=new_name))
    session.execute(update(RetentionPolicy).where(RetentionPolicy.kind == "model", RetentionPolicy.scope == name)
                    .values(scope=new_name))
    session.execute(update(Webhook).where(Webhook.subject == f"model:{name}").values(subject=f"model:{new_name}"))
    for hold in session.scalars(select(LegalHold).where(_owned(LegalHold.target, name))).all():
        hold.target = _retarget(hold.target, name, new_name)
    for stone in session.scalars(select(Tombstone).where(_owned(Tombstone.key, name))).all():
        stone.key = _retarget(stone.key, name, new_name)
    return [new for old, new in names.items() if old != name]


def _owned(column: Any, name: str) -> ColumnElement[bool]:
    """A ``model:NAME@VERSION`` or ``model:NAME~BRANCH@VERSION`` key of this model."""
    return or_(column.startswith(f"model:{name}@", autoescape=True), column.startswith(f"model:{name}~", autoescape=True))


def _retarget(key: str, name: str, new_name: str) -> str:
    return f"model:{new_name}{key[len('model:') + len(name):]}"
