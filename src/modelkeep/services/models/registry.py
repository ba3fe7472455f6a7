"""The model registry service: resolve, read, list and search model versions; registering them
(``registration``) and changing aliases, deleting and renaming (``registry_changes``) are mixed in.

This is the in-process implementation of the registry interface; the CLI and the SDK call it
directly for a local repository (and, later, through the server for a remote one).

Every write runs in one transaction (``_write``): a transient lock or a lost race (see
``registration`` for how versions are numbered under concurrency) is retried with backoff and
never reaches the user.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, NotFound, PermissionDenied
from modelkeep.meta.db import Database
from modelkeep.meta.retryable import is_retryable
from modelkeep.meta.tables import Alias, Model, ModelVersion
from modelkeep.services.governance.access import Access
from modelkeep.services.governance.approval import is_approved
from modelkeep.services.models.inputs import check_name, split_ref
from modelkeep.services.models.registration import Registration, snapshots_for
from modelkeep.services.models.registry_changes import RegistryChanges
from modelkeep.services.models.spec_statements import REPRODUCTION, resolving, spec_params, within
from modelkeep.services.models.view_loading import load_views
from modelkeep.services.models.views import ModelSummary, SearchPage, VersionView
from modelkeep.services.quota import Quotas
from modelkeep.store.artifacts import ArtifactStore
from modelkeep.version import MLVersion, VersionSpec

T = TypeVar("T")
RETRIES = 12


class Registry(Registration, RegistryChanges):
    """Model versions in one registry database and object store."""

    def __init__(self, db: Database, store: ArtifactStore, access: Access, *,
                 resolve_dataset: Callable[[str], str] | None = None, source: str = "local",
                 quotas: Quotas | None = None) -> None:
        """``access``: the principal every call acts as, and its permissions (checked here, in
        the service, for reads and writes alike); ``resolve_dataset`` checks a dataset reference
        and returns it as NAME@N; ``source``: where requests come from (the server: the client)."""
        self.db = db
        self.store = store
        self.access = access
        self.user = access.actor
        self.source = source
        self.resolve_dataset = resolve_dataset
        self.quotas = quotas  # storage per project (services.quota); None: no limits
        self._snapshots = snapshots_for(db)

    # --- transactions ---------------------------------------------------------------------

    def _write(self, work: Callable[[Session], T], *, retry: bool = True) -> T:
        """Run ``work`` in one write transaction, retrying transient conflicts with backoff."""
        for attempt in range(RETRIES):
            session = self.db.writer()
            try:
                with session.begin():
                    return work(session)
            except (sa_exc.OperationalError, sa_exc.IntegrityError) as exc:
                if not retry or not is_retryable(exc) or attempt == RETRIES - 1:
                    if isinstance(exc, sa_exc.IntegrityError):
                        raise Conflict(f"the registry refused the change: {exc.orig}") from exc
                    raise
                time.sleep(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))
            finally:
                session.close()
        raise AssertionError("unreachable")

    # --- resolving ------------------------------------------------------------------------

    def _model(self, session: Session, name: str, *, lock: bool = False) -> Model:
        query = select(Model).where(Model.name == name)
        if lock:
            query = query.with_for_update()
        model = session.scalars(query).first()
        if model is None:
            raise NotFound(f"model {name!r} does not exist", hint="see 'mk model list'")
        return model

    def _resolve_row(self, session: Session, model: Model, spec_text: str) -> ModelVersion:
        spec = VersionSpec.parse(spec_text)
        query = select(ModelVersion).where(ModelVersion.model_id == model.id)
        if spec.kind == "alias":
            alias = session.get(Alias, (model.id, spec.alias))
            if alias is None:
                raise NotFound(
                    f"{model.name} has no version or alias {spec.text!r}",
                    hint="see 'mk model show NAME' for its aliases",
                )
            row = session.get(ModelVersion, alias.version_id)
            assert row is not None
            return row
        admitted = within(query, spec.kind, spec.lower is not None, spec.upper is not None)
        row = session.scalars(admitted.order_by(ModelVersion.sort_key.desc()).limit(1), spec_params(spec)).first()
        if row is None:
            raise NotFound(f"no version of {model.name} matches {spec.text!r}")
        return row

    def authorize(self, permission: str, model: str | None) -> None:
        """PermissionDenied unless the actor holds ``permission`` (on ``model``)."""
        self.access.check(permission, model=model)

    def readable(self, view: VersionView) -> VersionView:
        """``view`` if the actor may read it: readers any version, deployment systems
        (``model.read_approved``) only versions that passed a promotion or hold a protected alias."""
        access = self.access
        if access.allowed(access.actor, "model.read", model=view.name):
            return view
        if not access.allowed(access.actor, "model.read_approved", model=view.name):
            access.check("model.read", model=view.name)  # says what a reader lacks, not the deployment-only permission
        if not is_approved(self.db, view):
            denied = PermissionDenied(f"{view.ref} is not an approved version; {access.actor} may read and deploy "
                                      "approved versions only", hint=f"mk promote {view.ref} --to production ...")
            denied.actor, denied.permission = access.actor, "model.read"  # whom the refusal's audit entry names
            raise denied
        return view

    def get(self, ref: str) -> VersionView:
        """Resolve ``NAME@SPEC`` (version, spec, ``latest`` or alias) to one version the actor may read."""
        return self.readable(self.resolve(ref))

    def resolve(self, ref: str) -> VersionView:
        """``get`` without the read check: for the services' own use (a write checks its own permission)."""
        name, spec_text = split_ref(ref)
        with self.db.reader() as session:
            row = session.scalars(*resolving("version", name, spec_text)).first()
            if row is None:
                model = self._model(session, name)
                row = self._resolve_row(session, model, spec_text)  # raises the precise NotFound
            return load_views(session, [(row, name)])[0]

    def resolve_id(self, ref: str) -> int:
        """The id of the version ``resolve`` finds, without reading the version (lineage's start)."""
        name, spec_text = split_ref(ref)
        with self.db.reader() as session:
            found = session.scalar(*resolving("id", name, spec_text))
            if found is None:
                found = self._resolve_row(session, self._model(session, name), spec_text).id  # the precise NotFound
            return int(found)

    def get_by_id(self, version_id: int) -> VersionView:
        with self.db.reader() as session:
            row = session.get(ModelVersion, version_id)
            if row is None:
                raise NotFound(f"model version {version_id} does not exist")
            name = session.scalar(select(Model.name).where(Model.id == row.model_id))
            return load_views(session, [(row, str(name))])[0]

    def list_models(self) -> list[ModelSummary]:
        self.authorize("model.read", None)
        with self.db.reader() as session:
            counts = dict(
                session.execute(
                    select(ModelVersion.model_id, func.count()).group_by(ModelVersion.model_id)
                ).all()
            )
            latest = dict(
                session.execute(
                    select(ModelVersion.model_id, func.max(ModelVersion.sort_key))
                    .where(ModelVersion.status != REPRODUCTION)
                    .group_by(ModelVersion.model_id)
                ).all()
            )
            aliases: dict[int, dict[str, str]] = {}
            for model_id, alias, version in session.execute(
                select(Alias.model_id, Alias.name, ModelVersion.version).join(
                    ModelVersion, ModelVersion.id == Alias.version_id
                )
            ):
                aliases.setdefault(model_id, {})[alias] = version
            return [
                ModelSummary(
                    name=m.name,
                    description=m.description,
                    versions=counts.get(m.id, 0),
                    latest=str(MLVersion.from_sort_key(latest[m.id])) if m.id in latest else None,
                    aliases=aliases.get(m.id, {}),
                    created_at=m.created_at,
                )
                for m in session.scalars(select(Model).order_by(Model.name))
            ]

    def search(
        self, filter_text: str | None = None, *, order_by: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> SearchPage:
        """Versions matching the search language (``services.search``), a page at a time."""
        from modelkeep.services.models.search import search_versions

        self.authorize("model.read", None)
        return search_versions(self.db, filter_text, order_by=order_by, limit=limit, cursor=cursor)

    def diff(self, a: str, b: str) -> dict[str, Any]:
        """What differs between two versions (``services.diff``)."""
        from modelkeep.services.models.diff import diff_versions

        first, second = self.get(a), self.get(b)
        self.authorize("model.read", first.name)
        self.authorize("model.read", second.name)
        return diff_versions(self.store, first, second)

    def list_versions(self, name: str) -> list[VersionView]:
        check_name(name)
        self.authorize("model.read", name)
        with self.db.reader() as session:
            model = self._model(session, name)
            rows = session.scalars(
                select(ModelVersion)
                .where(ModelVersion.model_id == model.id)
                .order_by(ModelVersion.sort_key)
            ).all()
            return load_views(session, [(row, model.name) for row in rows])

    # --- registering ----------------------------------------------------------------------
