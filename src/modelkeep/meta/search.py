"""The search filter language (``meta.search_language``) translated to SQLAlchemy.

Every comparison on a child table is a semi-join on an indexed ``(key, value)`` pair, so a
filter touches only matching rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select

from modelkeep.meta.search_language import (
    AllOf,
    Comparison,
    Filter,
    Negation,
    decode_cursor,
    encode_cursor,
    parse_ordering,
    parse_tree,
)
from modelkeep.meta.tables import Alias, Model, ModelVersion, VersionMetric, VersionParam, VersionTag

__all__ = ["Order", "Probe", "after_cursor", "decode_cursor", "encode_cursor", "parse_filter", "parse_order", "translate"]

_TEXT_COLUMNS = {
    "name": Model.name,
    "status": ModelVersion.status,
    "bump": ModelVersion.bump,
    "digest": ModelVersion.digest,
    "description": ModelVersion.description,
    "created_by": ModelVersion.created_by,
}
_KEYED_TABLES: dict[str, Any] = {"tags": VersionTag, "metrics": VersionMetric, "params": VersionParam}


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    return column.like(value)


# counts the rows of a capped subquery; the key names what it counts (for a cache of counts)
Probe = Callable[[Any, Hashable], int]
# A child-table condition matching at least this many rows is tested per candidate version
# (EXISTS, a primary-key probe) instead of being collected up front (IN): collecting 20k ids
# costs more than probing the few hundred versions a page of results needs.
SEMIJOIN_CAP = 2000


def _semijoin(sub: Any, table: Any, probe: Probe | None, key: Hashable) -> ColumnElement[bool]:
    if probe is not None and probe(sub.limit(SEMIJOIN_CAP), ("semijoin", key)) >= SEMIJOIN_CAP:
        return exists(sub.where(table.version_id == ModelVersion.id))
    return ModelVersion.id.in_(sub)


def condition(compared: Comparison, probe: Probe | None = None) -> ColumnElement[bool]:
    """The SQL condition on ModelVersion (joined with Model) for one comparison.

    ``probe`` counts the rows of a capped subquery; with it, each tag, param or metric condition
    picks IN or EXISTS by how many rows it matches (see ``SEMIJOIN_CAP``).
    """
    field, op, value = compared.field, compared.op, compared.value
    if field in _TEXT_COLUMNS:
        return _compare(_TEXT_COLUMNS[field], op, value)
    if field == "version":
        return _compare(ModelVersion.sort_key, op, value)
    if field == "created_at":
        return _compare(ModelVersion.created_at, op, value)
    if field == "alias":
        return ModelVersion.id.in_(select(Alias.version_id).where(_compare(Alias.name, op, value)))  # aliases are few
    table = _KEYED_TABLES[field]
    column = table.value_num if field == "params" and isinstance(value, float) else table.value
    sub = select(table.version_id).where(table.key == compared.key, _compare(column, op, value))
    return _semijoin(sub, table, probe, (field, compared.key, op, type(value).__name__, value))


def translate(tree: Filter | None, probe: Probe | None = None) -> ColumnElement[bool] | None:
    """A filter's tree (``search_language.parse_tree``) as a SQL condition, or None for no filter."""
    return None if tree is None else _condition_of(tree, probe)


def _condition_of(node: Filter, probe: Probe | None) -> ColumnElement[bool]:
    if isinstance(node, Comparison):
        return condition(node, probe)
    if isinstance(node, Negation):
        return not_(_condition_of(node.term, probe))
    terms = [_condition_of(term, probe) for term in node.terms]
    return and_(*terms) if isinstance(node, AllOf) else or_(*terms)


def parse_filter(text: str | None, probe: Probe | None = None) -> ColumnElement[bool] | None:
    """Parse a filter into a SQL condition, or None for an empty filter.

    Raises:
        InvalidInput: naming the position and what was expected.
    """
    return translate(parse_tree(text), probe)


# --- ordering and cursors -------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    """A parsed ``--order-by``: the SQL expression, its direction and how to (de)serialize it."""

    field: str
    expression: Any  # a column or SQL expression
    descending: bool
    kind: str  # "text", "number", "datetime"
    # For a tag, param or metric: (table, key, value column), whose (key, value) index lists the
    # versions in this order (a version at its largest value: see services/models/search.py).
    scan: tuple[Any, str, Any] | None = None


def parse_order(text: str | None) -> Order:
    """``FIELD [asc|desc]`` or ``-FIELD``; default newest first (``search_language.parse_ordering``)."""
    ordering = parse_ordering(text)
    field, descending, by, kind = ordering.field, ordering.descending, ordering.by, ordering.kind
    if by == "id":
        return Order(field, ModelVersion.id, descending, kind)
    if by == "version":
        return Order(field, ModelVersion.sort_key, descending, kind)
    if by in _TEXT_COLUMNS:
        return Order(field, _TEXT_COLUMNS[by], descending, kind)
    table = _KEYED_TABLES[by]
    column = table.value_num if by == "params" else table.value
    # max() of an expression, not of the bare column: on the bare column SQLite's min/max
    # optimization walks the (key, value) index for every row instead of probing the primary
    # key (version_id, key) — quadratic in the number of versions.
    plain = column + 0 if kind == "number" else column.concat("")
    value = (
        select(func.max(plain))
        .where(table.version_id == ModelVersion.id, table.key == ordering.key)
        .scalar_subquery()
    )
    return Order(field, value, descending, kind, scan=(table, ordering.key, column))


def after_cursor(order: Order, value: Any, last_id: int) -> ColumnElement[bool]:
    """Keyset condition: rows strictly after ``(value, last_id)`` in the order."""
    if order.expression is ModelVersion.id:
        return ModelVersion.id < last_id if order.descending else ModelVersion.id > last_id
    if order.descending:
        return or_(
            order.expression < value, and_(order.expression == value, ModelVersion.id < last_id)
        )
    return or_(order.expression > value, and_(order.expression == value, ModelVersion.id > last_id))
