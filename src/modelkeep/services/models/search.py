"""Searching model versions with the filter language of :mod:`modelkeep.meta.search`."""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.sql.util import find_tables

from modelkeep.errors import InvalidInput
from modelkeep.meta.db import Database, among
from modelkeep.meta.search import (
    Probe,
    after_cursor,
    decode_cursor,
    encode_cursor,
    parse_order,
    translate,
)
from modelkeep.meta.search_language import MAX_LIMIT, Filter, parse_tree, pinned_model
from modelkeep.meta.tables import Model, ModelVersion, VersionMetric, table_of
from modelkeep.services.models.view_loading import load_views
from modelkeep.services.models.views import SearchPage

# Above this many matching versions, a page ordered by a tag, param or metric walks that key's
# index (cost: about one page of rows) instead of computing and sorting every match's value.
SCAN_ABOVE = 500
# Index rows a walk may read for one page (or is bound to need) before sorting the matches instead:
# a walk pays off where at least a twentieth of the key's rows match (one model's 5,000 versions among
# 200,000, 2.5 %, walked in 87 ms and sorted in 44 on PostgreSQL).
SCAN_BUDGET = 1024
FIRST_BATCH = 256  # index rows a walk reads first (at least four pages' worth)


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
    tree = parse_tree(text)  # parsed once: its condition, and the model it may pin
    with db.reader() as session:
        condition = translate(tree, counter(db, session))
        if order.scan is not None:
            model_id = _ranked_within(session, tree, order)
            many = model_id is not None or db.hints.count(
                ("matches", text, SCAN_ABOVE), lambda: _matches(session, condition, SCAN_ABOVE)) >= SCAN_ABOVE
            if many:
                # a filter that is the model's name alone keeps every row of the model's walk
                kept = None if model_id is not None and pinned_model(tree, alone=True) else condition
                walked = _page_by_scan(session, kept, order, text, limit, cursor, model_id)
                if walked is not None:
                    return walked
        return _page(session, condition, order, text, limit, cursor)


def counter(db: Database, session: Any) -> Probe:
    """The filter's probe (``meta.search``): a capped count, kept a while in ``db.hints`` (it only
    chooses the statement's form)."""
    def probe(sub: Any, key: Hashable) -> int:
        return db.hints.count(key, lambda: int(session.scalar(select(func.count()).select_from(sub.subquery())) or 0))
    return probe


def _matches(session: Any, condition: Any, n: int) -> int:
    """How many versions match ``condition``, counting to ``n`` at most."""
    query = _versions(condition)
    if condition is not None:
        query = query.where(condition)
    return int(session.scalar(select(func.count()).select_from(query.limit(n).subquery())) or 0)


def _versions(condition: Any) -> Any:
    """``SELECT model_versions.id``, joined to its model only where ``condition`` reads the model
    (its name): every other condition is on the version and its rows, and the join was a probe of
    the models' index for each version tested."""
    query = select(ModelVersion.id)
    if condition is not None and table_of(Model) in find_tables(condition, check_columns=True):
        query = query.join(Model, Model.id == ModelVersion.model_id)
    return query


def _ranked_within(session: Any, tree: Filter | None, order: Any) -> int | None:
    """The id of the one model a filter keeps to, when its versions are ranked by a metric: its
    metric rows are walked on the (model_id, key, value) index, a model's 5,000 versions among a
    million as fast as all of them."""
    name = pinned_model(tree)
    if name is None or order.scan[0] is not VersionMetric:
        return None
    model_id: int | None = session.scalar(select(Model.id).where(Model.name == name))
    return model_id


def _page_by_scan(
    session: Any, condition: Any, order: Any, text: str, limit: int, cursor: str | None, model_id: int | None = None
) -> SearchPage | None:
    """A page ordered by a tag, param or metric when many versions match: walk that key's
    (key, value) index in the order asked instead of computing every match's value and sorting.

    A version may hold several values of one key (a metric per evaluation dataset); it is ordered by
    its largest, so a row counts only when it holds its version's largest value (the version's other
    rows, before or after it in the walk, are passed over). Rows come in growing batches until a page
    of matching versions is full; ties go by version id, as in the SQL order. None when
    ``SCAN_BUDGET`` rows did not fill the page (a filter that keeps few of them: one model's
    versions among a million), for the caller to sort the matches instead.
    """
    table, key, column = order.scan
    want = limit + 1
    position = decode_cursor(cursor, order, text) if cursor else None
    found: list[tuple[int, Any]] = []
    # within one model every row is likely a match: a page's versions with a second value each
    batch = min(2 * want if model_id is not None else max(4 * want, FIRST_BATCH), SCAN_BUDGET)
    walked = 0
    while len(found) < want:
        if walked >= SCAN_BUDGET:
            return None  # the filter keeps too few of the key's rows: sorting its matches is cheaper
        rows = session.execute(_walk(order, condition, position, batch, model_id)).all()
        if not rows:
            break
        position = (rows[-1][1], rows[-1][0])
        walked += len(rows)
        taken = {version_id for version_id, _ in found}
        for version_id, value, largest, kept in rows:
            if kept and value == largest and version_id not in taken:
                found.append((version_id, value))
                taken.add(version_id)
                if len(found) == want:
                    break
        if len(rows) < batch:
            break
        if len(found) < want and len(found) * SCAN_BUDGET < want * walked:
            return None  # at this rate the budget will not fill the page: give way now, not after it
        # the rows the rest of the page needs at the rate seen so far, and a quarter more: a row costs
        # its version's probes, and growing fourfold read 768 rows for the last 9 of a page
        batch = min(math.ceil((want - len(found)) * walked / len(found) * 1.25) + 8, SCAN_BUDGET - walked) or batch
    return _keyed_page(session, found, limit, order, text)


def _walk(order: Any, condition: Any, position: tuple[Any, int] | None, batch: int, model_id: int | None) -> Any:
    """One batch of the walk, one statement: the next ``batch`` rows of the key's index after
    ``position`` (of one model's rows, with ``model_id``), each with its version's largest value of
    the key and whether the version matches the filter (three statements a batch before, most of a
    walk's time)."""
    table, key, column = order.scan
    walk = select(table.version_id, column.label("value")).where(table.key == key, column.is_not(None))
    if model_id is not None:
        walk = walk.where(table.model_id == model_id)
    if position is not None:
        walk = walk.where(_after(order.descending, column, table.version_id, *position))
    if order.descending:
        walk = walk.order_by(column.desc(), table.version_id.desc())
    else:
        walk = walk.order_by(column.asc(), table.version_id.asc())
    rows = walk.limit(batch).subquery("walk")
    other = aliased(table)
    largest = (select(func.max(getattr(other, column.key)))
               .where(other.version_id == rows.c.version_id, other.key == key).scalar_subquery())
    kept: Any = true()
    if condition is not None:
        kept = exists(_versions(condition).where(ModelVersion.id == rows.c.version_id, condition))
    value, version_id = rows.c.value, rows.c.version_id
    ordered = (value.desc(), version_id.desc()) if order.descending else (value.asc(), version_id.asc())
    return select(version_id, value, largest, kept).order_by(*ordered)


def _keyed_page(session: Any, found: list[Any], limit: int, order: Any, text: str) -> SearchPage:
    """The page of the first ``limit`` of ``found`` ((version id, its value) in order), its
    versions loaded whole, and the cursor after it when there is more."""
    page, more = found[:limit], len(found) > limit
    by_id = {version.id: (version, name) for version, name in session.execute(
        select(ModelVersion, Model.name).join(Model, Model.id == ModelVersion.model_id)
        .where(among(session, ModelVersion.id, [version_id for version_id, _ in page])))}
    views = load_views(session, [by_id[version_id] for version_id, _ in page])
    next_cursor = encode_cursor(order, text, page[-1][1], page[-1][0]) if more and page else None
    return SearchPage(views, next_cursor)


def _after(descending: bool, column: Any, version_id: Any, value: Any, last_id: int) -> Any:
    """Index rows strictly after (value, last_id) in the walk's order."""
    if descending:
        return or_(column < value, and_(column == value, version_id < last_id))
    return or_(column > value, and_(column == value, version_id > last_id))


def _page(session: Any, condition: Any, order: Any, text: str, limit: int, cursor: str | None) -> SearchPage:
    if order.scan is not None:
        return _page_by_key(session, condition, order, text, limit, cursor)
    query = select(ModelVersion, Model.name, order.expression).join(Model, Model.id == ModelVersion.model_id)
    if condition is not None:
        query = query.where(condition)
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


def _page_by_key(session: Any, condition: Any, order: Any, text: str, limit: int, cursor: str | None) -> SearchPage:
    """A page ordered by a tag, param or metric, sorting the matches: each match joined to its rows
    of the key and grouped, so its largest value is computed once (as a correlated subquery it was
    computed for the filter, for the order and twice more after a cursor). The sort carries only
    (version id, value); the page's versions are read whole afterwards (grouping whole rows, one
    model's 5,000 versions among 1,000,000 on PostgreSQL took 48 ms under EXPLAIN ANALYZE, now 30)."""
    table, key, column = order.scan
    value = func.max(column)
    query = (select(ModelVersion.id, value)
             .join(Model, Model.id == ModelVersion.model_id)
             .join(table, and_(table.version_id == ModelVersion.id, table.key == key, column.is_not(None)))
             .group_by(ModelVersion.id))
    if condition is not None:
        query = query.where(condition)
    if cursor:
        query = query.having(_after(order.descending, value, ModelVersion.id, *decode_cursor(cursor, order, text)))
    if order.descending:
        query = query.order_by(value.desc(), ModelVersion.id.desc())
    else:
        query = query.order_by(value.asc(), ModelVersion.id.asc())
    return _keyed_page(session, session.execute(query.limit(limit + 1)).all(), limit, order, text)
