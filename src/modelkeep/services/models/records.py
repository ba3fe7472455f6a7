"""A model's own record beside its versions: created before any version, described, tagged; a
version found by its number (1, 2, 3 ... in registration order), described and tagged after
registration. What the MLflow API needs of the registry that ``mk`` does through registration."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError

from modelkeep.errors import Conflict, NotFound
from modelkeep.meta.db import Database
from modelkeep.meta.tables import Alias, Model, ModelVersion, VersionTag
from modelkeep.services.clock import utcnow
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.models.inputs import check_name, merge_tags
from modelkeep.services.models.registry import Registry
from modelkeep.services.models.version_rows import VersionRow, every_version_row, numbered_rows, version_rows
from modelkeep.services.models.views import VersionView

_MODEL_ID = select(Model.id).where(Model.name == bindparam("name"))  # built once, as version_rows' statements


@dataclass
class ModelRecord:
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    created_by: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version number
    latest: int | None = None  # the number of @latest


class ModelRecords:
    def __init__(self, db: Database, registry: Registry, access: Access) -> None:
        self.db, self.registry, self.access = db, registry, access

    def create(self, name: str, *, description: str = "", tags: dict[str, str] | None = None) -> ModelRecord:
        check_name(name)
        self.access.check("model.write", model=name)
        try:
            with self.db.writer() as session, session.begin():
                if session.scalar(select(Model.id).where(Model.name == name)) is not None:
                    raise Conflict(f"model {name!r} already exists")
                session.add(Model(name=name, description=description, tags=dict(tags or {}), last_seq=0,
                                  created_at=utcnow(), created_by=self.access.actor))
                session.flush()
                audit.append(session, self.access.actor, "model.create", f"model:{name}", detail={"tags": sorted(tags or {})})
        except IntegrityError:
            raise Conflict(f"model {name!r} already exists") from None
        return self.get(name)

    def get(self, name: str) -> ModelRecord:
        check_name(name)
        self.access.check("model.read", model=name)
        with self.db.reader() as session:
            model = session.scalars(select(Model).where(Model.name == name)).first()
            if model is None:
                raise NotFound(f"model {name!r} does not exist", hint="see 'mk model list'")
            updated = session.scalar(select(func.max(ModelVersion.created_at)).where(ModelVersion.model_id == model.id))
            aliases = {alias: seq or 0 for alias, seq in session.execute(
                select(Alias.name, ModelVersion.seq).join(ModelVersion, ModelVersion.id == Alias.version_id)
                .where(Alias.model_id == model.id))}
            latest = session.scalar(select(ModelVersion.seq)
                                    .where(ModelVersion.model_id == model.id, ModelVersion.status == "ready")
                                    .order_by(ModelVersion.sort_key.desc()).limit(1))
            return ModelRecord(model.name, model.description, model.created_at, updated or model.created_at, model.created_by,
                               dict(model.tags or {}), aliases, latest)

    def every(self) -> builtins.list[ModelRecord]:
        """Every model's record, by name, in four statements however many models there are (MLflow's
        model search and its UI's models page read them all; one ``get`` each took 2 ms a model)."""
        self.access.check("model.read")
        with self.db.reader() as session:
            models = session.execute(select(Model.id, Model.name, Model.description, Model.created_at, Model.created_by,
                                            Model.tags).order_by(Model.name)).all()
            updated = dict(session.execute(select(ModelVersion.model_id, func.max(ModelVersion.created_at))
                                           .group_by(ModelVersion.model_id)).all())
            aliases: dict[int, dict[str, int]] = {}
            for model_id, alias, seq in session.execute(select(Alias.model_id, Alias.name, ModelVersion.seq)
                                                        .join(ModelVersion, ModelVersion.id == Alias.version_id)):
                aliases.setdefault(model_id, {})[alias] = seq or 0
            highest = (select(ModelVersion.model_id, func.max(ModelVersion.sort_key).label("key"))
                       .where(ModelVersion.status == "ready").group_by(ModelVersion.model_id).subquery())
            latest = dict(session.execute(select(ModelVersion.model_id, ModelVersion.seq).join(
                highest, and_(ModelVersion.model_id == highest.c.model_id, ModelVersion.sort_key == highest.c.key))).all())
        return [ModelRecord(name, description, created, updated.get(model_id) or created, created_by, dict(tags or {}),
                            aliases.get(model_id, {}), latest.get(model_id))
                for model_id, name, description, created, created_by, tags in models]

    def update(self, name: str, *, description: str | None = None, tags: dict[str, Any] | None = None) -> ModelRecord:
        """Describe, or set tags (a value of None deletes the tag)."""
        self.access.check("model.write", model=name)
        with self.db.writer() as session, session.begin():
            model = session.scalars(select(Model).where(Model.name == name)).first()
            if model is None:
                raise NotFound(f"model {name!r} does not exist")
            if description is not None:
                model.description = description
            if tags:
                model.tags = merge_tags(model.tags, tags)
            audit.append(session, self.access.actor, "model.update", f"model:{name}",
                         detail={"description": description is not None, "tags": sorted(tags or {})})
        return self.get(name)

    def version(self, name: str, number: int) -> VersionView:
        """The version with this number (MLflow's integer version)."""
        with self.db.reader() as session:
            version = session.scalar(select(ModelVersion.version).join(Model, Model.id == ModelVersion.model_id)
                                     .where(Model.name == name, ModelVersion.seq == number))
        if version is None:
            self.get(name)  # the model itself missing says so
            raise NotFound(f"{name} has no version number {number}", hint=f"see 'mk model show {name}'")
        return self.registry.get(f"{name}@{version}")

    def rows(self, name: str) -> builtins.list[VersionRow]:
        """Every version of ``name`` as a listing shows it, as rows (MLflow's version search of 1,000)."""
        check_name(name)
        self.access.check("model.read", model=name)
        with self.db.engine.connect() as conn:  # Core: a Session's set-up and close were a fifth of a read
            return version_rows(conn, name, self._model_id(conn, name))

    def every_row(self) -> builtins.list[VersionRow]:
        """Every version of every model as a listing shows it (MLflow's version search with no model
        named), in three statements."""
        self.access.check("model.read")
        with self.db.engine.connect() as conn:
            return every_version_row(conn)

    def listed_many(self, numbers: builtins.list[tuple[str, int]]) -> dict[tuple[str, int], VersionView]:
        """The versions named by (model, number) pairs as ``listed`` shows them, each checked as it
        checks one, in three statements (a models page's latest versions); a pair naming nothing is
        left out."""
        for name in {name for name, _ in numbers}:
            check_name(name)
        with self.db.engine.connect() as conn:
            found = numbered_rows(conn, numbers)
        return {(row.name, row.seq): self.registry.readable(row.view()) for row in found}

    def listed(self, name: str, *, number: int | None = None, alias: str | None = None) -> VersionView:
        """One version, by its number (MLflow's integer version) or by an alias, as a listing shows it,
        checked as ``Registry.get`` checks a read (a deployment system reads approved versions only)."""
        check_name(name)
        with self.db.engine.connect() as conn:
            found = version_rows(conn, name, number=number, alias=alias)
            if not found:
                self._model_id(conn, name)  # no such model, said as such
        if not found:
            if number is not None:
                raise NotFound(f"{name} has no version number {number}", hint=f"see 'mk model show {name}'")
            raise NotFound(f"{name} has no version or alias {alias!r}", hint="see 'mk model show NAME' for its aliases")
        return self.registry.readable(found[0].view())

    @staticmethod
    def _model_id(conn: Connection, name: str) -> int:
        model_id = conn.scalar(_MODEL_ID, {"name": name})  # Core: no ORM result to set up
        if model_id is None:
            raise NotFound(f"model {name!r} does not exist")
        return int(model_id)

    def update_version(self, name: str, number: int, *, description: str | None = None,
                       tags: dict[str, Any] | None = None) -> VersionView:
        view = self.version(name, number)
        self.access.check("model.write", model=name)
        with self.db.writer() as session, session.begin():
            if description is not None:
                row = session.get(ModelVersion, view.id)
                assert row is not None
                row.description = description
            for key, value in (tags or {}).items():
                session.execute(delete(VersionTag).where(VersionTag.version_id == view.id, VersionTag.key == key))
                if value is not None:
                    session.add(VersionTag(version_id=view.id, key=key, value=str(value)))
            audit.append(session, self.access.actor, "model.update_version", f"model:{view.ref}",
                         detail={"description": description is not None,  # each tag's new value (None: deleted)
                                 "tags": {k: None if v is None else str(v) for k, v in sorted((tags or {}).items())}})
        return self.registry.get(view.ref)
