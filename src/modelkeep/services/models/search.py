"""Searching model versions with the filter language of :mod:`modelkeep.meta.search`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from modelkeep.errors import InvalidInput
from modelkeep.meta.db import Database
from modelkeep.meta.search import after_cursor, decode_cursor, encode_cursor, parse_filter, parse_order
from modelkeep.meta.tables import Model, ModelVersion
from modelkeep.services.models.view_loading import load_views
from modelkeep.services.models.views import SearchPage

MAX_LIMIT = 1000


def search_versions(
    db: Database,
    filter_text: str | None = None,
    *,
    order_by: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SearchPage:
    """One page of versions matching ``filter_text``, in ``order_by`` order (newest first).

    ``next_cursor`` continues after the last result (keyset pagination: stable while new
    versions arrive, and as fast on page 1,000 as on page 1).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    text = filter_text or ""
    order = parse_order(order_by)
    with db.reader() as session:

        def probe(sub: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(sub.subquery())) or 0)

        condition = parse_filter(text, probe)
        return _page(session, condition, order, text, limit, cursor)


def _page(session: Any, condition: Any, order: Any, text: str, limit: int, cursor: str | None) -> SearchPage:
    query = select(ModelVersion, Model.name, order.expression).join(Model, Model.id == ModelVersion.model_id)
    if condition is not None:
        query = query.where(condition)
    if order.required is not None:
        query = query.where(order.required)
    if cursor:
        value, last_id = decode_cursor(cursor, order, text)
        query = query.where(after_cursor(order, value, last_id))
    if order.descending:
        query = query.order_by(order.expression.desc(), ModelVersion.id.desc())
    else:
        query = query.order_by(order.expression.asc(), ModelVersion.id.asc())
    query = query.limit(limit + 1)
    rows = session.execute(query).all()
    page, more = rows[:limit], len(rows) > limit
    views = load_views(session, [(row[0], row[1]) for row in page])
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = encode_cursor(order, text, last[2], last[0].id)
    return SearchPage(views, next_cursor)
