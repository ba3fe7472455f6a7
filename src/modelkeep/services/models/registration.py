"""Registering a model version: checking what is registered, numbering it (the bump proposed
from the parent, or asked for), and writing it with its params, metrics, tags, components, lineage
edges and audit entry in one transaction. Mixed into :class:`~modelkeep.services.models.registry.Registry`,
which provides the transaction, resolving and permission helpers declared here.

Version allocation is safe under concurrency: the transaction first locks the model (``BEGIN
IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), then reads the latest version,
proposes the bump and inserts. The unique ``(model_id, sort_key)`` constraint is the backstop.
"""

from __future__ import annotations

import dataclasses
import json
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from modelkeep.errors import Conflict, InvalidInput
from modelkeep.meta.db import Database
from modelkeep.meta.tables import (
    CompositeComponent,
    LineageEdge,
    Model,
    ModelVersion,
    Run,
    VersionMetric,
    VersionParam,
    VersionTag,
    run_node,
    table_of,
    version_node,
)
from modelkeep.services.clock import utcnow
from modelkeep.services.governance import audit
from modelkeep.services.models import bump as bumps
from modelkeep.services.models.candidate import Candidate, _snapshot
from modelkeep.services.models.inputs import (
    MetricValue,
    check_name,
    normalize_data_refs,
    normalize_metrics,
    normalize_params,
    normalize_tags,
    param_number,
    split_ref,
)
from modelkeep.services.models.spec_statements import REPRODUCTION
from modelkeep.services.models.view_loading import load_views
from modelkeep.services.models.views import DATASET_PREFIX, VersionView
from modelkeep.services.quota import Quotas
from modelkeep.store.artifacts import ArtifactStore, StoredArtifact
from modelkeep.version import MLVersion, Part, sort_key_prefix

T = TypeVar("T")

FIRST_VERSION = MLVersion(1, 0, 0, 0, 0)
SNAPSHOT_CACHE = 256
SnapshotKey = tuple[int, int | None, str]  # a version's id, seq and number: an id SQLite hands out again has another seq
# Per database, shared by every Registry on it (the server makes one per request): what the bump proposal
# needs of a version, but its tags, is immutable; the tags are read again at every use.
_SNAPSHOTS: dict[int, OrderedDict[SnapshotKey, bumps.Snapshot]] = {}  # by id() of the Database, while it lives

# The registration's statements, built once: building one (its clauses, its cache key) cost more than
# running it on SQLite, and a registration runs a dozen.
_MODEL_LOCKED = select(Model).where(Model.name == bindparam("name")).with_for_update()
_NEXT_SEQ = (update(table_of(Model)).where(table_of(Model).c.id == bindparam("model_id"))
             .values(last_seq=table_of(Model).c.last_seq + 1).returning(table_of(Model).c.last_seq))
_LATEST = (select(ModelVersion).where(ModelVersion.model_id == bindparam("model_id"), ModelVersion.status != REPRODUCTION)
           .order_by(ModelVersion.sort_key.desc()).limit(1))
_TAGS_OF = select(VersionTag.key, VersionTag.value).where(VersionTag.version_id == bindparam("version_id"))
_HIGHEST = select(func.max(ModelVersion.sort_key)).where(ModelVersion.model_id == bindparam("model_id"))
_HIGHEST_WITH = _HIGHEST.where(ModelVersion.sort_key.like(bindparam("prefix")))
_INSERTS = {table: insert(table_of(table)) for table in (ModelVersion, VersionParam, VersionMetric, VersionTag,
                                                          CompositeComponent, LineageEdge)}


def snapshots_for(db: Database) -> OrderedDict[SnapshotKey, bumps.Snapshot]:
    """The bump snapshots of ``db``'s versions, shared by every Registry on it, dropped with it."""
    if id(db) not in _SNAPSHOTS:
        _SNAPSHOTS[id(db)] = OrderedDict()
        weakref.finalize(db, _SNAPSHOTS.pop, id(db), None)
    return _SNAPSHOTS[id(db)]


class Registration:
    db: Database
    store: ArtifactStore
    user: str
    source: str
    resolve_dataset: Callable[[str], str] | None
    quotas: Quotas | None
    _snapshots: OrderedDict[SnapshotKey, bumps.Snapshot]

    def authorize(self, permission: str, model: str | None) -> None:
        raise NotImplementedError

    def get(self, ref: str) -> VersionView:
        raise NotImplementedError

    def _write(self, work: Callable[[Session], T], *, retry: bool = True) -> T:
        raise NotImplementedError

    def _resolve_row(self, session: Session, model: Model, spec_text: str) -> ModelVersion:
        raise NotImplementedError

    def _snapshot_of(self, session: Session, row: ModelVersion, name: str) -> bumps.Snapshot:
        key = (row.id, row.seq, row.version)
        snapshot = self._snapshots.get(key)
        if snapshot is None:
            snapshot = _snapshot(load_views(session, [(row, name)])[0])
            self._remember(key, snapshot)
            return snapshot
        tags = session.execute(_TAGS_OF, {"version_id": row.id}).all()
        return dataclasses.replace(snapshot, tags=dict(tags))  # tags change after registration

    def _remember(self, key: SnapshotKey, snapshot: bumps.Snapshot) -> None:
        self._snapshots[key] = snapshot
        while len(self._snapshots) > SNAPSHOT_CACHE:
            self._snapshots.popitem(last=False)

    def register(
        self,
        name: str,
        path: str | Path | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | Iterable[MetricValue] | None = None,
        tags: Mapping[str, Any] | None = None,
        data: Iterable[str] | None = None,
        parent: str | None = None,
        bump: str = "auto",
        version: str | None = None,
        experiment: bool = False,
        signature: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        code: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
        description: str = "",
        components: Iterable[str] | None = None,
        composite_config: dict[str, Any] | None = None,
        artifact: dict[str, Any] | StoredArtifact | None = None,
        via_merge: bool = False,
        produced_by: int | None = None,
    ) -> VersionView:
        """Register a new version of ``name`` (creating the model on first use); ``name`` may be a
        branch line ``MODEL~BRANCH`` (it must exist); a protected main takes only ``via_merge``.

        The version number is ``version`` if given, else the parent (``parent`` or the latest
        version) bumped at ``bump``; ``bump="auto"`` proposes the part from the differences
        with the parent and records the reasons.

        ``artifact`` is ``{"kind", "digest"}`` of files in the store (checked here), or what this
        workspace's store answered for them already. ``produced_by`` is the run that made the version
        (the caller checked that the user may write it): its edge is written in the same transaction.

        Raises:
            InvalidInput: malformed input; nothing is registered.
            Conflict: ``version`` exists already.
            NotFound: ``parent`` or a component does not exist.
        """
        check_name(name)
        self.authorize("model.write", name)
        from modelkeep.services.models.branches import check_line

        check_line(self.db, name, via_merge=via_merge)
        explicit = MLVersion.parse(version) if version is not None else None
        bump_part = None if bump in (None, "auto") else Part.parse(bump)
        if explicit is not None and bump_part is not None:
            raise InvalidInput("give either --version or --bump PART, not both")
        component_refs = list(components or [])
        if component_refs and path is not None:
            raise InvalidInput("a composite version pins components; it takes no artifact path")
        if composite_config is not None and not component_refs:
            raise InvalidInput("a composite config needs components (--composite NAME@VERSION ...)")
        resolved = [self.get(ref) for ref in component_refs]
        if len({c.id for c in resolved}) != len(resolved):
            raise InvalidInput("a composite lists each component version once")
        from modelkeep.services.models.metadata import (  # pydantic: imported only when registering
            validate_composite_config,
            validate_metadata,
            validate_signature,
        )

        config = (
            validate_composite_config(composite_config or {"strategy": "average"}, len(resolved))
            if resolved
            else None
        )
        candidate = Candidate(
            params=normalize_params(params),
            metrics=normalize_metrics(metrics),
            tags=normalize_tags(tags),
            data=normalize_data_refs(
                [self.resolve_dataset(r) for r in data or []] if self.resolve_dataset else data
            ),
            signature=validate_signature(signature),
            metadata=validate_metadata(metadata),
            code=code,
            environment=environment,
            description=description or "",
            artifact=None,
            components=resolved,
            composite_config=config,
            produced_by=produced_by,
        )
        if artifact is not None:  # already in the store (uploaded through the server): check, don't trust
            if path is not None or component_refs:
                raise InvalidInput("give an artifact path, an uploaded artifact or components, not several")
            candidate.artifact = artifact if isinstance(artifact, StoredArtifact) else self.store.existing(artifact)
        elif path is not None:
            candidate.artifact = self.store.put_path(Path(path))
        elif resolved:
            pinned = [{"ref": c.ref, "digest": c.digest} for c in resolved]
            document = {"components": pinned, "config": config}
            encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
            candidate.artifact = StoredArtifact("composite", self.store.put_bytes(encoded), 0)

        if self.quotas is not None and self.quotas.active and candidate.artifact is not None:
            self.quotas.check(self._project_of(candidate.tags), candidate.artifact.size)
        reproduces = candidate.tags.get("reproduces")
        if reproduces is not None:  # numbered after what it reproduces, and never `latest`
            of_model, of_version = split_ref(reproduces)
            if of_model != name:
                raise InvalidInput(f"tag reproduces={reproduces!r} names another model than {name}")
            parent = parent or of_version

        def work(session: Session) -> VersionView:
            return self._insert(session, name, candidate, parent, bump_part, explicit, experiment,
                                status=REPRODUCTION if reproduces is not None else "ready")

        view = self._write(work, retry=explicit is None)
        self._remember((view.id, view.seq, view.version), candidate.snapshot())  # once committed: rolled-back ids recur
        return view

    def _project_of(self, tags: Mapping[str, str]) -> str:
        """The project a version counts toward: its run's, else ``default``."""
        run_id = tags.get("run", "")
        if run_id.isdigit():
            with self.db.reader() as session:
                project = session.scalar(select(Run.project).where(Run.id == int(run_id)))
            if project is not None:
                return str(project)
        return "default"

    def _ensure_model(self, session: Session, name: str) -> Model:
        """The model row, created on first use, locked for this transaction (PostgreSQL)."""
        model = session.scalars(_MODEL_LOCKED, {"name": name}).first()
        if model is not None:
            return model
        if self.db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        made = session.execute(  # RETURNING says whether this insert made the row (psycopg's rowcount is -1 here)
            insert(Model)
            .values(name=name, description="", created_at=utcnow(), created_by=self.user)
            .on_conflict_do_nothing(index_elements=["name"]).returning(Model.id)
        ).scalar()
        if made is not None and "~" not in name:  # a model made by its first version is created as any other (model.created)
            audit.append(session, self.user, "model.create", f"model:{name}", source=self.source,
                         detail={"tags": [], "by": "registration"})
        return session.scalars(_MODEL_LOCKED, {"name": name}).one()

    def _insert(
        self,
        session: Session,
        name: str,
        candidate: Candidate,
        parent_spec: str | None,
        bump_part: Part | None,
        explicit: MLVersion | None,
        experiment: bool,
        *,
        status: str = "ready",
    ) -> VersionView:
        model = self._ensure_model(session, name)
        # the model row is locked: numbers are handed out in order, never twice
        seq = session.execute(_NEXT_SEQ, {"model_id": model.id}).scalar_one()
        if parent_spec:
            parent_row: ModelVersion | None = self._resolve_row(session, model, parent_spec)
        else:  # the latest: a reproduction is never a parent by default
            parent_row = session.scalars(_LATEST, {"model_id": model.id}).first()
            if parent_row is None and "~" in name:  # a branch's first version bumps from its fork point
                from modelkeep.services.models.branches import fork_point

                parent_row = fork_point(session, name)

        if parent_row is None:
            part_label, reasons = "initial", [f"first version of {name}"]
            number = explicit or FIRST_VERSION
            if experiment:
                reasons.append("marked as an experiment")
        else:
            if bump_part is not None:
                part, reasons = bump_part, [f"{bump_part.label} bump requested"]
            else:
                part, reasons = bumps.propose(
                    self._snapshot_of(session, parent_row, name), candidate.snapshot(), experiment=experiment
                )
                if explicit is not None:
                    reasons = [f"version {explicit} given explicitly", *reasons]
            part_label = part.label
            parent_version = MLVersion.parse(parent_row.version)
            if explicit is not None:
                number = explicit
            else:  # moved past any sibling (another line, an experiment or a reproduction took the number)
                number = self._next_free(session, model.id, parent_version, part)

        if explicit is not None:
            taken = session.scalars(
                select(ModelVersion.id).where(
                    ModelVersion.model_id == model.id, ModelVersion.sort_key == explicit.sort_key
                )
            ).first()
            if taken is not None:
                raise Conflict(
                    f"{name}@{explicit} already exists; versions are immutable",
                    hint="register without --version to get the next free number",
                )

        artifact = candidate.artifact
        values = {
            "model_id": model.id,
            "version": str(number),
            "sort_key": number.sort_key,
            "seq": seq,
            "status": status,
            "description": candidate.description,
            "artifact_kind": artifact.kind if artifact else None,
            "digest": candidate.digest,
            "artifact_size": artifact.size if artifact else 0,
            "signature": candidate.signature,
            "metadata": candidate.metadata,
            "environment": candidate.environment,
            "code": candidate.code,
            "composite_config": candidate.composite_config,
            "parent_id": parent_row.id if parent_row else None,
            "bump": part_label,
            "reasons": reasons,
            "created_at": utcnow(),
            "created_by": self.user,
        }
        # Core inserts, not the unit of work: registration is the write hot path.
        inserted = cast(CursorResult[Any], session.execute(_INSERTS[ModelVersion], values))
        primary_key = inserted.inserted_primary_key
        assert primary_key is not None  # an INSERT of one row
        version_id = primary_key[0]
        if candidate.params:
            session.execute(_INSERTS[VersionParam], [
                {"version_id": version_id, "key": k, "value": v, "value_num": param_number(v)}
                for k, v in candidate.params.items()
            ])
        if candidate.metrics:
            session.execute(_INSERTS[VersionMetric], [
                {"version_id": version_id, "model_id": model.id, "key": m.key, "value": m.value, "dataset": m.dataset,
                 "split": m.split}
                for m in candidate.metrics
            ])
        if candidate.tags:
            session.execute(_INSERTS[VersionTag], [
                {"version_id": version_id, "key": k, "value": v} for k, v in candidate.tags.items()
            ])
        if candidate.components:
            session.execute(_INSERTS[CompositeComponent], [
                {"composite_id": version_id, "position": i, "component_id": c.id, "role": ""}
                for i, c in enumerate(candidate.components)
            ])
        node, now = version_node(version_id), values["created_at"]
        edges = [("trained_on", DATASET_PREFIX + ref) for ref in candidate.data]
        if parent_row is not None:
            edges.append(("parent_of", version_node(parent_row.id)))
        edges.extend(("component_of", version_node(c.id)) for c in candidate.components)
        if candidate.produced_by is not None:
            edges.append(("produced_by", run_node(candidate.produced_by)))
        if edges:
            session.execute(_INSERTS[LineageEdge], [
                {"kind": kind, "src": src, "dst": node, "created_at": now} for kind, src in edges
            ])
        audit.append(session, self.user, "model.register", f"model:{name}@{number}", source=self.source,
                     detail={"bump": part_label, "digest": candidate.digest, "reasons": reasons})
        parent = None if parent_row is None else parent_row.version if parent_row.model_id == model.id else (
            f"{name.split('~')[0]}@{parent_row.version}")  # a branch's fork point, in the main line
        return candidate.view(version_id, name, values, parent)

    def _next_free(self, session: Session, model_id: int, parent: MLVersion, part: Part) -> MLVersion:
        """The parent bumped at ``part``, moved past any sibling that already took the number.

        Two experiments from the same parent get ``...0.1`` and ``...0.2``; a patch of an old
        version whose patch exists becomes the next free patch in that line.
        """
        candidate = parent.bump(part)
        prefix = sort_key_prefix(candidate.parts[: int(part)])
        found = session.scalars(_HIGHEST_WITH, {"model_id": model_id, "prefix": prefix + "%"}) if prefix else \
            session.scalars(_HIGHEST, {"model_id": model_id})
        highest = found.first()
        if highest is None:
            return candidate
        taken = MLVersion.from_sort_key(highest).parts[int(part)]
        if taken < candidate.parts[int(part)]:
            return candidate
        parts = list(candidate.parts)
        parts[int(part)] = taken + 1
        return MLVersion(*parts)
