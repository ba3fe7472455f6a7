"""Changing what the registry holds besides registering: aliases (set, move, delete; protected
ones move only through a promotion), deleting versions and models (refused while an alias,
a composite or a deployment holds them) and renaming models. Mixed into :class:`~modelkeep.services.models.registry.Registry`,
which provides the transaction, resolving and permission helpers declared here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, NotFound, PermissionDenied
from modelkeep.meta.tables import (
    Alias,
    AliasChange,
    CompositeComponent,
    LineageEdge,
    Model,
    ModelVersion,
    ProtectedAlias,
    version_node,
)
from modelkeep.services.clock import utcnow
from modelkeep.services.deploy.pins import pinned_by as deployment_pins
from modelkeep.services.governance import audit
from modelkeep.services.models.inputs import check_name, split_ref
from modelkeep.services.models.view_loading import load_views
from modelkeep.services.models.views import VersionView
from modelkeep.version import validate_alias

T = TypeVar("T")


class RegistryChanges:
    user: str
    source: str

    def authorize(self, permission: str, model: str | None) -> None:
        raise NotImplementedError

    def _write(self, work: Callable[[Session], T], *, retry: bool = True) -> T:
        raise NotImplementedError

    def _model(self, session: Session, name: str, *, lock: bool = False) -> Model:
        raise NotImplementedError

    def _resolve_row(self, session: Session, model: Model, spec_text: str) -> ModelVersion:
        raise NotImplementedError

    # --- aliases --------------------------------------------------------------------------

    def set_alias(self, ref: str, alias: str) -> VersionView:
        """Point ``alias`` of the model at the version ``ref`` resolves to (moving it if set).

        Raises:
            PermissionDenied: the alias is protected (it moves only through a promotion request)
                or the actor may not set it.
        """
        alias = validate_alias(alias)
        name, spec = split_ref(ref)
        self.authorize(f"alias.set:{alias}", name)

        def work(session: Session) -> VersionView:
            model = self._model(session, name, lock=True)
            self._refuse_protected(session, name, alias)
            row = self._resolve_row(session, model, spec)
            self.move_alias(session, model, row, alias, via="direct")
            return load_views(session, [(row, name)])[0]

        return self._write(work)

    def _refuse_protected(self, session: Session, name: str, alias: str) -> None:
        protected = session.scalar(
            select(ProtectedAlias.alias).where(ProtectedAlias.alias == alias, ProtectedAlias.model.in_([name, "*"]))
        )
        if protected is not None:
            raise PermissionDenied(
                f"alias {alias!r} of {name} is protected: it moves only through a promotion request",
                hint=f"mk promote {name}@VERSION --to {alias} --justification '...'",
            )

    def move_alias(self, session: Session, model: Model, row: ModelVersion | None, alias: str, *, via: str) -> None:
        """Move (or with ``row`` None, remove) an alias inside the caller's transaction, recording
        the change in the alias history and the audit log. Callers check permissions first."""
        existing = session.get(Alias, (model.id, alias))
        previous = session.get(ModelVersion, existing.version_id).version if existing else None  # type: ignore[union-attr]
        if row is None:
            if existing is None:
                raise NotFound(f"{model.name} has no alias {alias!r}")
            session.delete(existing)
        elif existing is None:
            session.add(Alias(model_id=model.id, name=alias, version_id=row.id, updated_at=utcnow(), updated_by=self.user))
        else:
            existing.version_id, existing.updated_at, existing.updated_by = row.id, utcnow(), self.user
        version = row.version if row is not None else None
        session.add(AliasChange(model_id=model.id, alias=alias, version=version, previous=previous, at=utcnow(),
                                actor=self.user, via=via))
        action = "alias.delete" if row is None else "alias.set"
        audit.append(session, self.user, action, f"model:{model.name}@{version or previous}", source=self.source,
                     detail={"alias": alias, "version": version, "previous": previous, "via": via})
        session.flush()

    def delete_alias(self, name: str, alias: str) -> None:
        check_name(name)
        alias = validate_alias(alias)
        self.authorize(f"alias.set:{alias}", name)

        def work(session: Session) -> None:
            model = self._model(session, name, lock=True)
            self._refuse_protected(session, name, alias)
            self.move_alias(session, model, None, alias, via="direct")

        self._write(work)

    # --- deleting -------------------------------------------------------------------------

    def delete_version(self, ref: str) -> VersionView:
        """Delete one version. Refused while an alias holds it, a composite or a deployment pins it."""
        name, spec = split_ref(ref)
        self.authorize("model.write", name)

        def work(session: Session) -> VersionView:
            model = self._model(session, name, lock=True)
            row = self._resolve_row(session, model, spec)
            view = load_views(session, [(row, name)])[0]
            if view.aliases:
                raise Conflict(
                    f"{view.ref} is held by alias {', '.join(view.aliases)}",
                    hint="move or delete the alias first",
                )
            pinned_by = session.execute(
                select(Model.name, ModelVersion.version)
                .join(ModelVersion, ModelVersion.model_id == Model.id)
                .join(CompositeComponent, CompositeComponent.composite_id == ModelVersion.id)
                .where(CompositeComponent.component_id == row.id)
            ).all()
            if pinned_by:
                refs = ", ".join(f"{n}@{v}" for n, v in pinned_by)
                raise Conflict(f"{view.ref} is pinned by composite {refs}; delete the composite first")
            deployed = deployment_pins(session, [row.id])
            if deployed:
                raise Conflict(f"{view.ref} is pinned by deployment {', '.join(deployed)}",
                               hint="roll it off the deployment first (mk deploy update / rollback)")
            node = version_node(row.id)
            session.execute(delete(LineageEdge).where(LineageEdge.dst == node))
            session.delete(row)
            audit.append(session, self.user, "model.delete_version", f"model:{view.ref}", source=self.source,
                         detail={"digest": view.digest})
            return view

        return self._write(work, retry=False)

    def delete_model(self, name: str) -> int:
        """Delete a model and all its versions; refused if another model's composite pins one."""
        check_name(name)
        self.authorize("model.write", name)

        def work(session: Session) -> int:
            model = self._model(session, name, lock=True)
            ids = session.scalars(select(ModelVersion.id).where(ModelVersion.model_id == model.id)).all()
            outside = session.execute(
                select(Model.name, ModelVersion.version)
                .join(ModelVersion, ModelVersion.model_id == Model.id)
                .join(CompositeComponent, CompositeComponent.composite_id == ModelVersion.id)
                .where(CompositeComponent.component_id.in_(ids), Model.id != model.id)
            ).all()
            if outside:
                refs = ", ".join(f"{n}@{v}" for n, v in outside)
                raise Conflict(f"versions of {name} are pinned by composite {refs}")
            deployed = deployment_pins(session, ids)
            if deployed:
                raise Conflict(
                    f"versions of {name} are pinned by deployment {', '.join(deployed)}",
                    hint="roll them off the deployment first (mk deploy update / rollback)",
                )
            session.execute(delete(Alias).where(Alias.model_id == model.id))
            session.execute(delete(CompositeComponent).where(CompositeComponent.composite_id.in_(ids)))
            session.execute(delete(LineageEdge).where(LineageEdge.dst.in_([version_node(i) for i in ids])))
            session.execute(delete(ModelVersion).where(ModelVersion.model_id == model.id))
            session.delete(model)
            audit.append(session, self.user, "model.delete", f"model:{name}", source=self.source, detail={"versions": len(ids)})
            return len(ids)

        return self._write(work, retry=False)

    def rename_model(self, name: str, new_name: str) -> list[str]:
        """Rename a model (and its branch lines, and what names it: see ``models/rename.py``);
        refused while a deployment pins one of its versions. Returns the branch lines renamed."""
        from modelkeep.services.models.rename import rename_model

        check_name(name)
        check_name(new_name)
        self.authorize("model.write", name)
        self.authorize("model.write", new_name)

        def work(session: Session) -> list[str]:
            lines = rename_model(session, name, new_name)
            audit.append(session, self.user, "model.rename", f"model:{new_name}", source=self.source,
                         detail={"from": name, "lines": lines})
            return lines

        return self._write(work, retry=False)
