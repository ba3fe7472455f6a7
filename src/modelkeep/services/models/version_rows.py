"""A model's versions as a long listing needs them (MLflow's version search): rows, not views.

A search returning 1,000 versions spent half its time turning rows into objects: SQLAlchemy's
result processors parsing each timestamp and each JSON list (4 ms), a 25-field ``VersionView``
per row (8 ms). Here each version is a ``VersionRow`` (a named tuple) built from the driver's own
values: timestamps parsed by ``datetime.fromisoformat`` and reasons by orjson where the driver
hands back text (SQLite), taken as they come where it decodes them itself (PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from modelkeep.meta.tables import Alias, ModelVersion, VersionTag


class VersionRow(NamedTuple):
    id: int
    name: str
    seq: int  # the model's 1, 2, 3 ... in registration order (MLflow's version number)
    version: str
    description: str
    bump: str
    reasons: list[str]
    digest: str | None
    created_at: datetime
    created_by: str
    tags: dict[str, str]
    aliases: list[str]


def version_rows(session: Session, name: str, model_id: int) -> list[VersionRow]:
    """Every version of the model ``model_id`` (named ``name``), in version order: three queries, no ORM."""
    conn = session.connection()
    rows = conn.execute(
        select(ModelVersion.id, ModelVersion.seq, ModelVersion.version, ModelVersion.description, ModelVersion.bump,
               type_coerce(ModelVersion.reasons, String), ModelVersion.digest, type_coerce(ModelVersion.created_at, String),
               ModelVersion.created_by)
        .where(ModelVersion.model_id == model_id).order_by(ModelVersion.sort_key)).all()
    tags: dict[int, dict[str, str]] = {}
    for version_id, key, value in conn.execute(
            select(VersionTag.version_id, VersionTag.key, VersionTag.value)
            .join(ModelVersion, ModelVersion.id == VersionTag.version_id).where(ModelVersion.model_id == model_id)):
        tags.setdefault(version_id, {})[key] = value
    aliases: dict[int, list[str]] = {}
    for alias, version_id in conn.execute(select(Alias.name, Alias.version_id).where(Alias.model_id == model_id)
                                          .order_by(Alias.name)):
        aliases.setdefault(version_id, []).append(alias)
    return [VersionRow(id_, name, seq or 0, version, description, bump, _reasons(reasons), digest, _moment(created),
                       created_by, tags.get(id_, {}), aliases.get(id_, []))
            for id_, seq, version, description, bump, reasons, digest, created, created_by in rows]


def _reasons(value: Any) -> list[str]:
    return list(orjson.loads(value) or []) if isinstance(value, str | bytes) else list(value or [])


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
