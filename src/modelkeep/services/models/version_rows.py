"""A model's versions as a listing needs them (MLflow's version search and reads): rows, not views.

A search returning 1,000 versions spent half its time turning rows into objects: SQLAlchemy's
result processors parsing each timestamp and each JSON list (4 ms), a 25-field ``VersionView``
per row (8 ms). Here each version is a ``VersionRow`` (a named tuple) built from the driver's own
values: timestamps parsed by ``datetime.fromisoformat`` and reasons by orjson where the driver
hands back text (SQLite), taken as they come where it decodes them itself (PostgreSQL). A read
of one version takes its row's ``view()``: a listing's view, without signature, environment,
code, params, metrics or data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import CompoundSelect, Connection, String, bindparam, literal, null, select, tuple_, type_coerce, union_all

from modelkeep.meta.tables import Alias, Model, ModelVersion, VersionTag
from modelkeep.services.models.views import VersionView


class VersionRow(NamedTuple):
    id: int
    name: str
    seq: int  # the model's 1, 2, 3 ... in registration order (MLflow's version number)
    version: str
    status: str
    description: str
    bump: str
    reasons: list[str]
    digest: str | None
    artifact_kind: str | None
    artifact_size: int
    created_at: datetime
    created_by: str
    tags: dict[str, str]
    aliases: list[str]

    def view(self) -> VersionView:
        """The version as a listing shows it (what is not in the row is left empty)."""
        return VersionView(id=self.id, name=self.name, version=self.version, status=self.status,
                           description=self.description, bump=self.bump, reasons=self.reasons, digest=self.digest,
                           artifact_kind=self.artifact_kind, artifact_size=self.artifact_size, signature=None,
                           metadata=None, environment=None, code=None, composite_config=None, parent=None,
                           created_at=self.created_at, created_by=self.created_by, tags=self.tags,
                           aliases=self.aliases, seq=self.seq)


_VERSIONS = (select(ModelVersion.id, ModelVersion.seq, ModelVersion.version, ModelVersion.status,
                     ModelVersion.description, ModelVersion.bump, type_coerce(ModelVersion.reasons, String),
                     ModelVersion.digest, ModelVersion.artifact_kind, ModelVersion.artifact_size,
                     type_coerce(ModelVersion.created_at, String), ModelVersion.created_by)
             .where(ModelVersion.model_id == bindparam("model_id")).order_by(ModelVersion.sort_key))
_MODEL_NAMED = select(Model.id).where(Model.name == bindparam("name")).scalar_subquery()
# built once: building a statement (its comparisons, its columns) cost more than running it on SQLite. One
# version is found by the model's name in the same statement (a read of one version is two statements)
_STATEMENTS = {
    "all": _VERSIONS,
    "number": (select(*_VERSIONS.selected_columns).where(ModelVersion.model_id == _MODEL_NAMED,
                                                         ModelVersion.seq == bindparam("number"))),
    "alias": (select(*_VERSIONS.selected_columns).where(ModelVersion.id == select(Alias.version_id).where(
        Alias.model_id == _MODEL_NAMED, Alias.name == bindparam("alias")).scalar_subquery())),
}
_TAGS = select(VersionTag.version_id, VersionTag.key, VersionTag.value)
_TAGS_OF_MODEL = _TAGS.join(ModelVersion, ModelVersion.id == VersionTag.version_id).where(
    ModelVersion.model_id == bindparam("model_id"))
_ALIASES_OF_MODEL = select(Alias.name, Alias.version_id).where(Alias.model_id == bindparam("model_id")).order_by(Alias.name)
# one version's tags and aliases in one statement: (True, key, value) for a tag, (False, alias, NULL) for an alias
_PARTS_OF_ONE: CompoundSelect[Any] = union_all(
    select(literal(True), VersionTag.key, VersionTag.value).where(VersionTag.version_id == bindparam("version_id")),
    select(literal(False), Alias.name, null()).where(Alias.version_id == bindparam("version_id")))


def version_rows(conn: Connection, name: str, model_id: int | None = None, *, number: int | None = None,
                 alias: str | None = None) -> list[VersionRow]:
    """The versions of the model named ``name`` in version order: all of them (the model's id given),
    the one numbered ``number``, or the one ``alias`` holds (found by the name in the same statement).
    No ORM: all of them in three statements, one version in two (its own tags and aliases, not the
    model's). Nothing found (no such version, or no such model) is an empty list."""
    if number is not None:
        rows = conn.execute(_STATEMENTS["number"], {"name": name, "number": number}).all()
    elif alias is not None:
        rows = conn.execute(_STATEMENTS["alias"], {"name": name, "alias": alias}).all()
    else:
        rows = conn.execute(_STATEMENTS["all"], {"model_id": model_id}).all()
    if not rows:
        return []
    tags: dict[int, dict[str, str]] = {}
    aliases: dict[int, list[str]] = {}
    if number is not None or alias is not None:
        version_id = rows[0][0]
        for is_tag, key, value in conn.execute(_PARTS_OF_ONE, {"version_id": version_id}).all():
            if is_tag:
                tags.setdefault(version_id, {})[key] = value
            else:
                aliases.setdefault(version_id, []).append(key)
        aliases.get(version_id, []).sort()
    else:
        for version_id, key, value in conn.execute(_TAGS_OF_MODEL, {"model_id": model_id}).all():  # fetched at once
            tags.setdefault(version_id, {})[key] = value
        for alias_name, version_id in conn.execute(_ALIASES_OF_MODEL, {"model_id": model_id}).all():
            aliases.setdefault(version_id, []).append(alias_name)
    return [VersionRow(id_, name, seq or 0, version, status, description, bump, _reasons(reasons), digest, kind, size,
                       _moment(created), created_by, tags.get(id_, {}), aliases.get(id_, []))
            for id_, seq, version, status, description, bump, reasons, digest, kind, size, created, created_by in rows]


_EVERY_VERSION = (select(*_VERSIONS.selected_columns, Model.name).join(Model, Model.id == ModelVersion.model_id)
                  .order_by(Model.name, ModelVersion.sort_key))
_EVERY_ALIAS = select(Alias.name, Alias.version_id).order_by(Alias.name)


def every_version_row(conn: Connection) -> list[VersionRow]:
    """Every version of every model (by model name, then in version order) in three statements,
    however many models there are (a search of all versions read each model's three)."""
    return _named_rows(conn, conn.execute(_EVERY_VERSION).all(), _TAGS, _EVERY_ALIAS)


def numbered_rows(conn: Connection, numbers: list[tuple[str, int]]) -> list[VersionRow]:
    """The versions named by (model name, number) pairs (a models page's latest versions) in three
    statements, in no particular order; a pair naming nothing is left out."""
    if not numbers:
        return []
    rows = conn.execute(select(*_VERSIONS.selected_columns, Model.name).join(Model, Model.id == ModelVersion.model_id)
                        .where(tuple_(Model.name, ModelVersion.seq).in_(numbers))).all()
    ids = [row[0] for row in rows]
    return _named_rows(conn, rows, _TAGS.where(VersionTag.version_id.in_(ids)), _EVERY_ALIAS.where(Alias.version_id.in_(ids)))


def _named_rows(conn: Connection, rows: Sequence[Any], tag_rows: Any, alias_rows: Any) -> list[VersionRow]:
    """``rows`` (``_VERSIONS``' columns and the model's name) as VersionRows, with the tags and aliases
    the two statements read (version id, key, value; alias, version id)."""
    tags: dict[int, dict[str, str]] = {}
    for version_id, key, value in conn.execute(tag_rows).all():
        tags.setdefault(version_id, {})[key] = value
    aliases: dict[int, list[str]] = {}
    for alias_name, version_id in conn.execute(alias_rows).all():
        aliases.setdefault(version_id, []).append(alias_name)
    return [VersionRow(id_, name, seq or 0, version, status, description, bump, _reasons(reasons), digest, kind, size,
                       _moment(created), created_by, tags.get(id_, {}), aliases.get(id_, []))
            for id_, seq, version, status, description, bump, reasons, digest, kind, size, created, created_by, name in rows]


def _reasons(value: Any) -> list[str]:
    return list(orjson.loads(value) or []) if isinstance(value, str | bytes) else list(value or [])


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
