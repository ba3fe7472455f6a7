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
from sqlalchemy import String, select, type_coerce
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


def version_rows(session: Session, name: str, model_id: int, *where: Any) -> list[VersionRow]:
    """The versions of the model ``model_id`` (named ``name``) that ``where`` keeps, in version
    order: three queries, no ORM. One version (a get, a get by alias) reads only its own tags and
    aliases, not the model's."""
    conn = session.connection()
    rows = conn.execute(
        select(ModelVersion.id, ModelVersion.seq, ModelVersion.version, ModelVersion.status, ModelVersion.description,
               ModelVersion.bump, type_coerce(ModelVersion.reasons, String), ModelVersion.digest,
               ModelVersion.artifact_kind, ModelVersion.artifact_size, type_coerce(ModelVersion.created_at, String),
               ModelVersion.created_by)
        .where(ModelVersion.model_id == model_id, *where).order_by(ModelVersion.sort_key)).all()
    if not rows:
        return []
    tagged = select(VersionTag.version_id, VersionTag.key, VersionTag.value)
    held = select(Alias.name, Alias.version_id)
    if len(rows) == 1:
        tagged, held = tagged.where(VersionTag.version_id == rows[0][0]), held.where(Alias.version_id == rows[0][0])
    else:
        tagged = tagged.join(ModelVersion, ModelVersion.id == VersionTag.version_id).where(ModelVersion.model_id == model_id)
        held = held.where(Alias.model_id == model_id)
    tags: dict[int, dict[str, str]] = {}
    for version_id, key, value in conn.execute(tagged):
        tags.setdefault(version_id, {})[key] = value
    aliases: dict[int, list[str]] = {}
    for alias, version_id in conn.execute(held.order_by(Alias.name)):
        aliases.setdefault(version_id, []).append(alias)
    return [VersionRow(id_, name, seq or 0, version, status, description, bump, _reasons(reasons), digest, kind, size,
                       _moment(created), created_by, tags.get(id_, {}), aliases.get(id_, []))
            for id_, seq, version, status, description, bump, reasons, digest, kind, size, created, created_by in rows]


def _reasons(value: Any) -> list[str]:
    return list(orjson.loads(value) or []) if isinstance(value, str | bytes) else list(value or [])


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
