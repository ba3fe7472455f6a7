"""The search filter language (``meta.search_language``) translated to SQLite's text, for ``mk
model search`` on a personal registry (``meta.sqlite_fast.search_records``): the statements
``services.models.search`` has SQLAlchemy build, condition for condition, without importing it.

Over ``model_versions v JOIN models m``. Only names from this module's tables are joined into the text;
every value is a bound parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from modelkeep.meta.search_language import AllOf, Comparison, Filter, Negation, Ordering

_COLUMNS = {"name": "m.name", "status": "v.status", "bump": "v.bump", "digest": "v.digest",
            "description": "v.description", "created_by": "v.created_by", "version": "v.sort_key",
            "created_at": "v.created_at", "id": "v.id"}
_TABLES = {"tags": "version_tags", "metrics": "version_metrics", "params": "version_params"}
_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "like": "LIKE"}


def _stored(value: str | float | datetime) -> str | float:
    """A value as SQLAlchemy binds it on SQLite: a datetime as the text its DateTime type stores."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def _value_column(field: str, numeric: bool) -> str:
    """The column of a tag, param or metric table compared or ordered by."""
    return "value_num" if field == "params" and numeric else "value"


def _comparison(compared: Comparison, args: list[Any]) -> str:
    op = _OPS[compared.op]
    if compared.field == "alias":
        args.append(compared.value)
        return f"v.id IN (SELECT version_id FROM aliases WHERE name {op} ?)"  # noqa: S608 (values are ?s)
    if compared.field in _TABLES:
        args.extend((compared.key, _stored(compared.value)))
        column = _value_column(compared.field, isinstance(compared.value, float))
        return f"v.id IN (SELECT version_id FROM {_TABLES[compared.field]} WHERE key = ? AND {column} {op} ?)"  # noqa: S608
    args.append(_stored(compared.value))
    return f"{_COLUMNS[compared.field]} {op} ?"


def where(node: Filter, args: list[Any]) -> str:
    """The condition ``node`` is, its values appended to ``args`` in order."""
    if isinstance(node, Comparison):
        return _comparison(node, args)
    if isinstance(node, Negation):
        return f"NOT ({where(node.term, args)})"
    joiner = " AND " if isinstance(node, AllOf) else " OR "
    return "(" + joiner.join(where(term, args) for term in node.terms) + ")"


def page_statement(tree: Filter | None, ordering: Ordering, select: str, after: tuple[Any, int] | None,
                   limit: int) -> tuple[str, list[Any]]:
    """``select`` (columns of ``v`` and ``m``) and the order's value of each version matching ``tree``,
    after ``after`` (a cursor's value and id) in ``ordering``'s order, ``limit`` at most: ordered by a
    tag, param or metric, a version at its largest value of the key, and one without it left out
    (``services.models.search._page_by_key``)."""
    args: list[Any] = []
    sql = f"SELECT {select}, "
    keyed = ordering.by in _TABLES
    if keyed:
        column = f"k.{_value_column(ordering.by, True)}"
        value = f"max({column})"
        sql += (f"{value} FROM model_versions v JOIN models m ON m.id = v.model_id JOIN {_TABLES[ordering.by]} k "
                f"ON k.version_id = v.id AND k.key = ? AND {column} IS NOT NULL")
        args.append(ordering.key)
    else:
        value = _COLUMNS[ordering.by]
        sql += f"{value} FROM model_versions v JOIN models m ON m.id = v.model_id"
    conditions = [] if tree is None else [where(tree, args)]
    later: str | None = None
    more: list[Any] = []
    if after is not None:
        before = "<" if ordering.descending else ">"
        if ordering.by == "id":
            later, more = f"v.id {before} ?", [after[1]]
        else:
            later, more = f"({value} {before} ? OR ({value} = ? AND v.id {before} ?))", [after[0], after[0], after[1]]
    if later is not None and not keyed:
        conditions.append(later)
        args.extend(more)
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if keyed:
        sql += " GROUP BY v.id"
        if later is not None:
            sql += f" HAVING {later}"
            args.extend(more)
    direction = "DESC" if ordering.descending else "ASC"
    sql += f" ORDER BY {value} {direction}, v.id {direction} LIMIT ?"
    args.append(limit)
    return sql, args
