"""The search filter language and its translation to SQL.

Grammar (keywords case-insensitive)::

    filter     := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" filter ")" | comparison
    comparison := FIELD OP VALUE | FIELD "in" "(" VALUE ("," VALUE)* ")"
    OP         := = | == | != | < | <= | > | >= | like
    FIELD      := name | version | status | bump | digest | description | created_by
                | created_at | alias | tags.KEY | params.KEY | metrics.KEY
    VALUE      := 'text' | "text" | number | version (1.2 or 2.1.0.3.0) | date (2026-11-01)

``version`` compares as an ML version (``version >= 1.2`` means ``>= 1.2.0.0.0``);
``created_at`` takes ISO dates or date-times (UTC); ``metrics.*`` compare as numbers;
``params.*`` compare as numbers when the value given is a number, as text otherwise;
``tags.*``, ``name`` and the other text fields compare as text (``like`` takes ``%`` and ``_``).
A key with characters outside ``[A-Za-z0-9_-/]`` can be quoted with backticks:
``metrics.`val auc` > 0.8``.

Every comparison on a child table is a semi-join on an indexed ``(key, value)`` pair, so a
filter touches only matching rows.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select

from modelkeep.errors import InvalidInput
from modelkeep.meta.tables import Alias, Model, ModelVersion, VersionMetric, VersionParam, VersionTag
from modelkeep.version import MLVersion

FIELDS = "name, version, status, bump, digest, description, created_by, created_at, alias, tags.KEY, params.KEY, metrics.KEY"
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|!=|==|<>|=|<|>|\(|\)|,)
      | (?P<word>(?:[A-Za-z0-9_\-/:.+]|`[^`]*`)+)
    )""",
    re.VERBOSE,
)
_OPS = {"=", "==", "!=", "<>", "<", "<=", ">", ">=", "like"}
_TEXT_FIELDS = {
    "name": Model.name,
    "status": ModelVersion.status,
    "bump": ModelVersion.bump,
    "digest": ModelVersion.digest,
    "description": ModelVersion.description,
    "created_by": ModelVersion.created_by,
}


@dataclass(frozen=True)
class Token:
    kind: str  # "str", "op", "word", "end"
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise InvalidInput(f"filter: unexpected character {text[pos:].lstrip()[:1]!r} at {pos}")
        kind = match.lastgroup or "word"
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op in ("=", "=="):
        return column == value
    if op in ("!=", "<>"):
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


def _number(literal: Token, field: str) -> float:
    try:
        return float(literal.text)
    except ValueError:
        raise InvalidInput(f"filter: {field} compares numbers, got {literal.text!r}") from None


def _text(literal: Token) -> str:
    if literal.kind == "str":
        body = literal.text[1:-1]
        return re.sub(r"\\(.)", r"\1", body)
    return literal.text


def parse_datetime(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"filter: invalid date {text!r}: use an ISO date or date-time, e.g. 2026-11-01 "
            "or 2026-11-01T12:00:00"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)  # the database keeps naive UTC
    return parsed


def _split_key(field: str, what: str = "filter: unknown field") -> tuple[str, str]:
    prefix, _, key = field.partition(".")
    key = key.replace("`", "")
    if prefix not in ("tags", "params", "metrics"):
        raise InvalidInput(f"{what} {field!r}; fields are {FIELDS}")
    if not key:
        raise InvalidInput(f"filter: {prefix}. needs a key, e.g. {prefix}.auc")
    return prefix, key


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


def condition(field: str, op: str, literal: Token, probe: Probe | None = None) -> ColumnElement[bool]:
    """The SQL condition on ModelVersion (joined with Model) for one comparison.

    ``probe`` counts the rows of a capped subquery; with it, each tag, param or metric condition
    picks IN or EXISTS by how many rows it matches (see ``SEMIJOIN_CAP``).
    """
    lowered = field.lower()
    if lowered in _TEXT_FIELDS:
        return _compare(_TEXT_FIELDS[lowered], op, _text(literal))
    if lowered == "version":
        if op == "like":
            raise InvalidInput("filter: version takes =, !=, <, <=, >, >= (not like)")
        return _compare(ModelVersion.sort_key, op, MLVersion.parse(_text(literal)).sort_key)
    if lowered == "created_at":
        return _compare(ModelVersion.created_at, op, parse_datetime(_text(literal)))
    if lowered in ("alias", "aliases"):
        sub = select(Alias.version_id).where(_compare(Alias.name, op, _text(literal)))
        return ModelVersion.id.in_(sub)  # aliases are few
    prefix, key = _split_key(field)
    if prefix == "tags":
        sub = select(VersionTag.version_id).where(
            VersionTag.key == key, _compare(VersionTag.value, op, _text(literal))
        )
    elif prefix == "metrics":
        sub = select(VersionMetric.version_id).where(
            VersionMetric.key == key, _compare(VersionMetric.value, op, _number(literal, field))
        )
    elif prefix == "params":
        as_number = None if literal.kind == "str" or op == "like" else _maybe_number(literal.text)
        if as_number is not None:
            test = _compare(VersionParam.value_num, op, as_number)
        else:
            test = _compare(VersionParam.value, op, _text(literal))
        sub = select(VersionParam.version_id).where(VersionParam.key == key, test)
    else:
        raise InvalidInput(f"filter: unknown field {field!r}; fields are {FIELDS}")
    return _semijoin(sub, {"tags": VersionTag, "metrics": VersionMetric, "params": VersionParam}[prefix], probe,
                     (prefix, key, op, literal.kind, literal.text))


def _maybe_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class _Parser:
    def __init__(self, text: str, probe: Probe | None = None) -> None:
        self.text = text
        self.probe = probe
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = self.terms = 0
        self.names: list[str] = []  # the literal of each `name = ...` outside parentheses and 'not'
        self.either = False  # whether an 'or' joins terms outside parentheses

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "word" and token.text.lower() == word:
            self.index += 1
            return True
        return False

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise self.error(token, f"expected {text!r}")

    def error(self, token: Token, what: str) -> InvalidInput:
        found = repr(token.text) if token.kind != "end" else "the end"
        return InvalidInput(
            f"filter: {what} at position {token.pos}, found {found} in {self.text!r}; "
            "e.g. metrics.auc > 0.9 and tags.team = 'risk' and version >= 1.2"
        )

    def parse(self) -> ColumnElement[bool]:
        self.depth = self.terms = 0
        result = self.parse_or()
        if self.peek().kind != "end":
            raise self.error(self.peek(), "expected 'and', 'or' or the end")
        return result

    def parse_or(self) -> ColumnElement[bool]:
        terms = [self.parse_and()]
        while self.keyword("or"):
            self.either = self.either or self.depth == 0
            terms.append(self.parse_and())
        return terms[0] if len(terms) == 1 else or_(*terms)

    def parse_and(self) -> ColumnElement[bool]:
        terms = [self.parse_not()]
        while self.keyword("and"):
            terms.append(self.parse_not())
        return terms[0] if len(terms) == 1 else and_(*terms)

    def _nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(token, f"filter nests deeper than {MAX_DEPTH} parentheses or 'not's; simplify it")

    def parse_not(self) -> ColumnElement[bool]:
        token = self.peek()
        if self.keyword("not"):
            self._nest(token)
            inner = not_(self.parse_not())
            self.depth -= 1
            return inner
        if token.text == "(" and token.kind == "op":
            self._nest(token)
            self.take()
            inner = self.parse_or()
            self.expect(")")
            self.depth -= 1
            return inner
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(token, f"filter has more than {MAX_TERMS} comparisons; narrow it, or use 'in (...)'")
        return self.parse_comparison()

    def parse_comparison(self) -> ColumnElement[bool]:
        field = self.take()
        if field.kind != "word":
            raise self.error(field, f"expected a field ({FIELDS})")
        op_token = self.take()
        op = op_token.text.lower()
        if op == "in" and op_token.kind == "word":
            self.expect("(")
            values = [self.literal()]
            while self.peek().text == ",":
                self.take()
                values.append(self.literal())
                if len(values) > MAX_IN_VALUES:
                    raise self.error(self.peek(), f"'in (...)' takes at most {MAX_IN_VALUES} values")
            self.expect(")")
            return or_(*(condition(field.text, "=", v, self.probe) for v in values))
        if op not in _OPS:
            raise self.error(op_token, "expected an operator (=, !=, <, <=, >, >=, like, in)")
        literal = self.literal()
        if self.depth == 0 and op in ("=", "==") and field.text.lower() == "name":
            self.names.append(_text(literal))
        return condition(field.text, op, literal, self.probe)

    def literal(self) -> Token:
        token = self.take()
        if token.kind not in ("str", "word"):
            raise self.error(token, "expected a value")
        return token


MAX_DEPTH = 32  # nested parentheses / 'not'
MAX_TERMS = 200  # comparisons in one filter (SQLite's expression tree has a depth limit of 1000)
MAX_IN_VALUES = 500


def pinned_model(text: str | None, *, alone: bool = False) -> str | None:
    """The model every version matching ``text`` belongs to, when the filter says so outright
    (``name = 'fraud' and ...``: a ``name =`` joined to the rest by 'and' alone; with ``alone``,
    only ``name = 'fraud'``: every version of it matches); else None."""
    if text is None or not text.strip():
        return None
    parser = _Parser(text)
    parser.parse()
    if alone and parser.terms != 1:
        return None
    return parser.names[0] if len(set(parser.names)) == 1 and not parser.either else None


def parse_filter(text: str | None, probe: Probe | None = None) -> ColumnElement[bool] | None:
    """Parse a filter into a SQL condition, or None for an empty filter.

    Raises:
        InvalidInput: naming the position and what was expected.
    """
    if text is None or not text.strip():
        return None
    return _Parser(text, probe).parse()


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
    """``FIELD [asc|desc]`` or ``-FIELD``; default newest first."""
    if not text or not text.strip():
        return Order("created", ModelVersion.id, True, "number")
    words = text.strip().split()
    field, descending = words[0], False
    if field.startswith("-"):
        field, descending = field[1:], True
    if len(words) == 2 and words[1].lower() in ("asc", "desc"):
        descending = words[1].lower() == "desc"
    elif len(words) > 1:
        raise InvalidInput(f"invalid order {text!r}: use FIELD, FIELD asc, FIELD desc or -FIELD")
    lowered = field.lower()
    if lowered in ("created", "created_at", "id"):
        return Order(field, ModelVersion.id, descending, "number")
    if lowered == "version":
        return Order(field, ModelVersion.sort_key, descending, "text")
    if lowered in _TEXT_FIELDS:
        return Order(field, _TEXT_FIELDS[lowered], descending, "text")
    prefix, key = _split_key(field, "cannot order by")
    table: Any
    column: Any
    if prefix == "metrics":
        table, column, kind = VersionMetric, VersionMetric.value, "number"
    elif prefix == "params":
        table, column, kind = VersionParam, VersionParam.value_num, "number"
    elif prefix == "tags":
        table, column, kind = VersionTag, VersionTag.value, "text"
    else:
        raise InvalidInput(f"cannot order by {field!r}; fields are {FIELDS}")
    # max() of an expression, not of the bare column: on the bare column SQLite's min/max
    # optimization walks the (key, value) index for every row instead of probing the primary
    # key (version_id, key) — quadratic in the number of versions.
    plain = column + 0 if kind == "number" else column.concat("")
    value = (
        select(func.max(plain))
        .where(table.version_id == ModelVersion.id, table.key == key)
        .scalar_subquery()
    )
    return Order(field, value, descending, kind, scan=(table, key, column))


def encode_cursor(order: Order, filter_text: str, value: Any, last_id: int) -> str:
    payload = {"o": order.field, "d": order.descending, "f": filter_text, "v": value, "i": last_id}
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order, filter_text: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        value, last_id = payload["v"], int(payload["i"])
        same = payload["o"] == order.field and payload["d"] == order.descending
        same = same and payload["f"] == filter_text
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"invalid cursor {cursor!r}: pass next_cursor from a previous page") from None
    if not same:
        raise InvalidInput("this cursor belongs to a different filter or order; start again without it")
    return value, last_id


def after_cursor(order: Order, value: Any, last_id: int) -> ColumnElement[bool]:
    """Keyset condition: rows strictly after ``(value, last_id)`` in the order."""
    if order.expression is ModelVersion.id:
        return ModelVersion.id < last_id if order.descending else ModelVersion.id > last_id
    if order.descending:
        return or_(
            order.expression < value, and_(order.expression == value, ModelVersion.id < last_id)
        )
    return or_(order.expression > value, and_(order.expression == value, ModelVersion.id > last_id))
