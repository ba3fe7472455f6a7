"""What the web UI's pages show, a page at a time: the queries stay on the server.

Every list here is keyset-paginated (a cursor, never an offset), so page 40 of 2,000 models
costs what page 1 does, and no query loads a model's 5,000 versions to show 50 of them. The
metric series is the one exception by design: a chart needs every point, so it is one narrow
query (version, number, value) of one metric.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import exists, func, select

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.meta.db import Database, among
from modelkeep.meta.search import parse_filter
from modelkeep.meta.tables import (
    Alias,
    AliasChange,
    Dataset,
    DatasetVersion,
    Deployment,
    Model,
    ModelVersion,
    PromotionRequest,
    ProtectedAlias,
    Run,
    VersionMetric,
)
from modelkeep.services.models.search import counter
from modelkeep.services.models.spec_statements import REPRODUCTION
from modelkeep.services.models.view_loading import load_views
from modelkeep.services.models.views import VersionView, metric_label
from modelkeep.version import MLVersion

T = TypeVar("T")
LABELS_FROM = 1000  # the metric names a model page offers come from this many of its latest versions

MODEL_SORTS: dict[str, tuple[Any, bool]] = {  # the models page's sorts: column, descending
    "name": (Model.name, False), "-name": (Model.name, True), "-created": (Model.id, True), "created": (Model.id, False)}


@dataclass(frozen=True)
class ModelRow:
    name: str
    description: str
    versions: int
    latest: str | None
    aliases: dict[str, str]
    protected: list[str]
    deployments: list[str]
    owner: str
    created_at: datetime


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class AliasEvent:
    alias: str
    version: str | None
    previous: str | None
    at: datetime
    actor: str
    via: str  # direct, promotion, rollback


@dataclass(frozen=True)
class SeriesPoint:
    version: str
    seq: int
    value: float


@dataclass
class Timeline:
    """A model's versions in order with one metric's values, and where its aliases moved."""

    metric: str | None
    metrics: list[str]
    points: list[SeriesPoint] = field(default_factory=list)
    events: list[AliasEvent] = field(default_factory=list)


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, expect: dict[str, Any]) -> Any:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        same = all(payload[k] == v for k, v in expect.items())
        value = payload["v"], int(payload["i"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"invalid cursor {cursor!r}: follow the page's own 'next' link") from None
    if not same:
        raise InvalidInput("this cursor belongs to another filter or sort; start again from the first page")
    return value


def models_page(db: Database, filter_text: str = "", sort: str = "name", cursor: str | None = None,
                limit: int = 50) -> Page[ModelRow]:
    """Models (with a version matching ``filter_text`` in the search language, when given)."""
    if sort not in MODEL_SORTS:
        raise InvalidInput(f"sort {sort!r} is not one of {', '.join(MODEL_SORTS)}")
    if not 1 <= limit <= 500:
        raise InvalidInput(f"limit must be between 1 and 500, got {limit}")
    column, descending = MODEL_SORTS[sort]
    query = select(Model)
    with db.reader() as session:
        condition = parse_filter(filter_text, counter(db, session))  # a common condition: a probe per version
        if condition is not None:  # correlated: walk models in page order, stop at a page of matches
            query = query.where(exists(select(ModelVersion.id).where(ModelVersion.model_id == Model.id, condition)))
        if cursor:
            value, last_id = _decode(cursor, {"s": sort, "f": filter_text})
            if column is Model.id:
                query = query.where(Model.id < last_id if descending else Model.id > last_id)
            elif descending:
                query = query.where((Model.name < value) | ((Model.name == value) & (Model.id < last_id)))
            else:
                query = query.where((Model.name > value) | ((Model.name == value) & (Model.id > last_id)))
        order: list[Any] = [column.desc(), Model.id.desc()] if descending else [column.asc(), Model.id.asc()]
        models = list(session.scalars(query.order_by(*order).limit(limit + 1)))
        more = len(models) > limit
        models = models[:limit]
        rows = _rows(session, models)
    last = models[-1] if models else None
    following = _encode({"s": sort, "f": filter_text, "v": last.name, "i": last.id}) if more and last else None
    return Page(rows, following)


def model_summary(db: Database, name: str) -> ModelRow:
    """One model's row of the models page."""
    with db.reader() as session:
        return _rows(session, [_model(session, name)])[0]


def _rows(session: Any, models: list[Model]) -> list[ModelRow]:
    """The models page's rows for these models, in a fixed number of queries."""
    ids = [m.id for m in models]
    if not ids:
        return []
    # per model, a count over its (model_id, seq) index and a walk down its (model_id, sort_key) index
    # to the first version that is not a reproduction: a grouped max() read every version's row
    count = select(func.count()).where(ModelVersion.model_id == Model.id).scalar_subquery()
    newest = (select(ModelVersion.sort_key).where(ModelVersion.model_id == Model.id, ModelVersion.status != REPRODUCTION)
              .order_by(ModelVersion.sort_key.desc()).limit(1).scalar_subquery())
    counts: dict[int, int] = {}
    latest: dict[int, str] = {}
    for model_id, versions, sort_key in session.execute(select(Model.id, count, newest).where(among(session, Model.id, ids))):
        counts[model_id] = versions
        if sort_key is not None:
            latest[model_id] = sort_key
    aliases: dict[int, dict[str, str]] = {}
    for model_id, alias, version in session.execute(
        select(Alias.model_id, Alias.name, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == Alias.version_id).where(among(session, Alias.model_id, ids))
    ):
        aliases.setdefault(model_id, {})[alias] = version
    protections = session.execute(select(ProtectedAlias.model, ProtectedAlias.alias)).all()
    live = deployments_by_model(session)
    return [ModelRow(
        name=m.name, description=m.description, versions=int(counts.get(m.id, 0)),
        latest=str(MLVersion.from_sort_key(latest[m.id])) if m.id in latest else None,
        aliases=aliases.get(m.id, {}), protected=sorted({a for model, a in protections if model in (m.name, "*")}),
        deployments=live.get(m.name, []), owner=str((m.tags or {}).get("owner") or m.created_by),
        created_at=m.created_at) for m in models]


def deployments_by_model(session: Any) -> dict[str, list[str]]:
    """Model name → the deployments one of whose arms serves a version of it (deployments are few)."""
    live: dict[str, list[str]] = {}
    for name, spec in session.execute(select(Deployment.name, Deployment.spec)):
        for arm in (spec or {}).get("arms", []):
            model = str(arm.get("model", "")).partition("@")[0]
            if model and name not in live.setdefault(model, []):
                live[model].append(name)
    return live


def _model(session: Any, name: str) -> Model:
    model = session.scalars(select(Model).where(Model.name == name)).first()
    if model is None:
        raise NotFound(f"model {name!r} does not exist")
    return model


def versions_page(db: Database, name: str, cursor: str | None = None, limit: int = 50) -> Page[VersionView]:
    """A model's versions, newest registered first."""
    if not 1 <= limit <= 500:
        raise InvalidInput(f"limit must be between 1 and 500, got {limit}")
    with db.reader() as session:
        model = _model(session, name)
        query = select(ModelVersion).where(ModelVersion.model_id == model.id)
        if cursor:
            _value, last_seq = _decode(cursor, {"m": name})
            query = query.where(ModelVersion.seq < last_seq)
        rows = list(session.scalars(query.order_by(ModelVersion.seq.desc()).limit(limit + 1)))
        more = len(rows) > limit
        views = load_views(session, [(r, name) for r in rows[:limit]])
    following = _encode({"m": name, "v": None, "i": views[-1].seq}) if more and views else None
    return Page(views, following)


def timeline(db: Database, name: str, metric: str | None = None, *, points: bool = True) -> Timeline:
    """Every version's value of ``metric`` (a label: ``auc`` or ``auc[eval:test]``), in version order,
    and every move of the model's aliases. Without ``metric``: the first metric the model has. The
    metrics offered (``metrics``, left empty when ``metric`` is named and its points read) are those
    of the latest ``LABELS_FROM`` versions (any other can still be named).
    ``points=False`` (the page, whose chart fetches the points itself): the metric names and moves only."""
    with db.reader() as session:
        model = _model(session, name)
        # By primary key from the model's versions: a join lets PostgreSQL hash-join a scan of every
        # metric row of every model.
        labels: list[str] = []
        if metric is None or not points:  # the names to offer; the chart's data, naming its metric, needs none
            recent = list(session.scalars(select(ModelVersion.id).where(ModelVersion.model_id == model.id)
                                          .order_by(ModelVersion.seq.desc()).limit(LABELS_FROM)))
            labels = sorted({metric_label(k, d, s) for k, d, s in session.execute(
                select(VersionMetric.key, VersionMetric.dataset, VersionMetric.split)
                .where(VersionMetric.version_id.in_(recent)).distinct())}) if recent else []
        chosen = metric or (labels[0] if labels else None)
        out = Timeline(metric=chosen, metrics=labels)
        if chosen is not None and points:
            key, dataset, split = parse_label(chosen)
            value = (select(VersionMetric.value)  # one primary-key probe per version
                     .where(VersionMetric.version_id == ModelVersion.id, VersionMetric.key == key,
                            VersionMetric.dataset == dataset, VersionMetric.split == split).scalar_subquery())
            out.points = [SeriesPoint(version, int(seq or 0), float(number)) for version, seq, number in session.execute(
                select(ModelVersion.version, ModelVersion.seq, value)
                .where(ModelVersion.model_id == model.id).order_by(ModelVersion.sort_key)) if number is not None]
        out.events = [AliasEvent(c.alias, c.version, c.previous, c.at, c.actor, c.via) for c in session.scalars(
            select(AliasChange).where(AliasChange.model_id == model.id).order_by(AliasChange.id.desc()).limit(500))]
    return out


def parse_label(label: str) -> tuple[str, str, str]:
    """The inverse of ``metric_label``: ``auc[eval@3:test]`` → ("auc", "eval@3", "test")."""
    key, bracket, scope = label.partition("[")
    if not bracket:
        return key, "", ""
    scope = scope.rstrip("]")
    dataset, colon, split = scope.rpartition(":")
    if not colon:
        return key, "", scope  # a bare scope is a split (metric_label writes dataset or split)
    return key, dataset, split


@dataclass(frozen=True)
class PromotionRow:
    id: int
    model: str
    version: str
    alias: str
    requested_by: str
    status: str
    justification: str
    ticket: str
    gates: list[Any]
    reviews: list[Any]
    created_at: datetime


def promotions_page(db: Database, status: str = "pending", cursor: str | None = None,
                    limit: int = 50) -> Page[PromotionRow]:
    """Promotion requests in ``status`` (or every status: ``all``), newest first."""
    statuses = ("pending", "applied", "rejected", "withdrawn", "blocked", "all")
    if status not in statuses:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(statuses)}")
    with db.reader() as session:
        query = select(PromotionRequest, Model.name).join(Model, Model.id == PromotionRequest.model_id)
        if status != "all":
            query = query.where(PromotionRequest.status == status)
        if cursor:
            _value, last_id = _decode(cursor, {"st": status})
            query = query.where(PromotionRequest.id < last_id)
        found = session.execute(query.order_by(PromotionRequest.id.desc()).limit(limit + 1)).all()
        rows = [PromotionRow(r.id, name, r.version, r.alias, r.requested_by, r.status, r.justification, r.ticket,
                             list(r.gates or []), list(r.reviews or []), r.created_at) for r, name in found[:limit]]
    following = _encode({"st": status, "v": None, "i": rows[-1].id}) if len(found) > limit and rows else None
    return Page(rows, following)


@dataclass(frozen=True)
class RunRow:
    id: int
    name: str
    project: str
    status: str
    started_at: datetime
    created_by: str


def runs_page(db: Database, project: str = "", cursor: str | None = None, limit: int = 50) -> Page[RunRow]:
    """Runs (of ``project``, when given), newest first."""
    with db.reader() as session:
        query = select(Run)
        if project:
            query = query.where(Run.project == project)
        if cursor:
            _value, last_id = _decode(cursor, {"p": project})
            query = query.where(Run.id < last_id)
        found = list(session.scalars(query.order_by(Run.id.desc()).limit(limit + 1)))
        rows = [RunRow(r.id, r.name, r.project, r.status, r.started_at, r.created_by) for r in found[:limit]]
    following = _encode({"p": project, "v": None, "i": rows[-1].id}) if len(found) > limit and rows else None
    return Page(rows, following)


@dataclass(frozen=True)
class DatasetRow:
    name: str
    latest: int | None
    partition_by: str | None
    created_by: str


def datasets_page(db: Database, cursor: str | None = None, limit: int = 50) -> Page[DatasetRow]:
    """Datasets by name, with their latest version number."""
    with db.reader() as session:
        query = select(Dataset)
        if cursor:
            value, last_id = _decode(cursor, {})
            query = query.where((Dataset.name > value) | ((Dataset.name == value) & (Dataset.id > last_id)))
        found = list(session.scalars(query.order_by(Dataset.name, Dataset.id).limit(limit + 1)))
        page = found[:limit]
        latest = dict(session.execute(select(DatasetVersion.dataset_id, func.max(DatasetVersion.number))
                                      .where(DatasetVersion.dataset_id.in_([d.id for d in page]))
                                      .group_by(DatasetVersion.dataset_id)).all()) if page else {}
        rows = [DatasetRow(d.name, latest.get(d.id), d.partition_key, d.created_by) for d in page]
    last = page[-1] if page else None
    following = _encode({"v": last.name, "i": last.id}) if len(found) > limit and last else None
    return Page(rows, following)
