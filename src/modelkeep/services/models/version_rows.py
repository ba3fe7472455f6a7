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

from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import String, bindparam, select, type_coerce
from sqlalchemy.orm import Session

from modelkeep.meta.tables import Alias, ModelVersion, VersionTag
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
# built once: building a statement (its comparisons, its columns) cost more than running it on SQLite
_STATEMENTS = {
    "all": _VERSIONS,
    "number": _VERSIONS.where(ModelVersion.seq == bindparam("number")),
    "alias": _VERSIONS.where(ModelVersion.id == select(Alias.version_id).where(
        Alias.model_id == bindparam("model_id"), Alias.name == bindparam("alias")).scalar_subquery()),
}
_TAGS = select(VersionTag.version_id, VersionTag.key, VersionTag.value)
_TAGS_OF_ONE = _TAGS.where(VersionTag.version_id == bindparam("version_id"))
_TAGS_OF_MODEL = _TAGS.join(ModelVersion, ModelVersion.id == VersionTag.version_id).where(
    ModelVersion.model_id == bindparam("model_id"))
_ALIASES = select(Alias.name, Alias.version_id).order_by(Alias.name)
_ALIASES_OF_ONE = _ALIASES.where(Alias.version_id == bindparam("version_id"))
_ALIASES_OF_MODEL = _ALIASES.where(Alias.model_id == bindparam("model_id"))


def version_rows(session: Session, name: str, model_id: int, *, number: int | None = None,
                 alias: str | None = None) -> list[VersionRow]:
    """The versions of the model ``model_id`` (named ``name``) in version order: all of them, the
    one numbered ``number``, or the one ``alias`` holds. Three queries, no ORM. One version (a get,
    a get by alias) reads only its own tags and aliases, not the model's."""
    conn = session.connection()
    if number is not None:
        rows = conn.execute(_STATEMENTS["number"], {"model_id": model_id, "number": number}).all()
    elif alias is not None:
        rows = conn.execute(_STATEMENTS["alias"], {"model_id": model_id, "alias": alias}).all()
    else:
        rows = conn.execute(_STATEMENTS["all"], {"model_id": model_id}).all()
    if not rows:
        return []
    one = len(rows) == 1
    which = {"version_id": rows[0][0]} if one else {"model_id": model_id}
    tags: dict[int, dict[str, str]] = {}
    for version_id, key, value in conn.execute(_TAGS_OF_ONE if one else _TAGS_OF_MODEL, which).all():  # fetched at once
        tags.setdefault(version_id, {})[key] = value
    aliases: dict[int, list[str]] = {}
    for alias_name, version_id in conn.execute(_ALIASES_OF_ONE if one else _ALIASES_OF_MODEL, which).all():
        aliases.setdefault(version_id, []).append(alias_name)
    return [VersionRow(id_, name, seq or 0, version, status, description, bump, _reasons(reasons), digest, kind, size,
                       _moment(created), created_by, tags.get(id_, {}), aliases.get(id_, []))
            for id_, seq, version, status, description, bump, reasons, digest, kind, size, created, created_by in rows]


def _reasons(value: Any) -> list[str]:
    return list(orjson.loads(value) or []) if isinstance(value, str | bytes) else list(value or [])


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
