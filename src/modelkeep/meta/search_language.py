"""The search filter language: its grammar, parsed into a tree of typed comparisons, its order
and its cursors, free of any database library. ``meta.search`` translates a tree to SQLAlchemy
for the services; ``meta.sqlite_search`` to SQLite's text for a read command's fast path. Every
check of a filter is here, so both say the same of a bad one.

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
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from modelkeep.errors import InvalidInput
from modelkeep.version import MLVersion

FIELDS = "name, version, status, bump, digest, description, created_by, created_at, alias, tags.KEY, params.KEY, metrics.KEY"
TEXT_FIELDS = ("name", "status", "bump", "digest", "description", "created_by")  # compared as text, as stored
KEYED = ("tags", "params", "metrics")  # a field per key, in a table of (version, key, value) rows
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|!=|==|<>|=|<|>|\(|\)|,)
      | (?P<word>(?:[A-Za-z0-9_\-/:.+]|`[^`]*`)+)
    )""",
    re.VERBOSE,
)
_OPS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "like": "like"}

MAX_DEPTH = 32  # nested parentheses / 'not'
MAX_TERMS = 200  # comparisons in one filter (SQLite's expression tree has a depth limit of 1000)
MAX_IN_VALUES = 500
MAX_LIMIT = 1000  # versions on one page of a search


@dataclass(frozen=True)
class Token:
    kind: str  # "str", "op", "word", "end"
    text: str
    pos: int


@dataclass(frozen=True)
class Comparison:
    """One comparison, its value already what it is compared with: text; a float (a metric, or a
    param given a number: its numeric column); a version's sort key; a naive UTC datetime."""

    field: str  # a TEXT_FIELDS name, "version", "created_at", "alias", or one of KEYED
    op: str  # =, !=, <, <=, >, >=, like
    value: str | float | datetime
    key: str = ""  # the tag, param or metric


@dataclass(frozen=True)
class AllOf:
    terms: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    terms: tuple[Filter, ...]


@dataclass(frozen=True)
class Negation:
    term: Filter


Filter = Comparison | AllOf | AnyOf | Negation


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


def _number(literal: Token, field: str) -> float:
    try:
        return float(literal.text)
    except ValueError:
        raise InvalidInput(f"filter: {field} compares numbers, got {literal.text!r}") from None


def _maybe_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


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


def split_key(field: str, what: str = "filter: unknown field") -> tuple[str, str]:
    prefix, _, key = field.partition(".")
    key = key.replace("`", "")
    if prefix not in KEYED:
        raise InvalidInput(f"{what} {field!r}; fields are {FIELDS}")
    if not key:
        raise InvalidInput(f"filter: {prefix}. needs a key, e.g. {prefix}.auc")
    return prefix, key


def comparison(field: str, op: str, literal: Token) -> Comparison:
    """``field op literal`` checked, its value converted to what the field compares as."""
    lowered, op = field.lower(), _OPS[op]
    if lowered in TEXT_FIELDS:
        return Comparison(lowered, op, _text(literal))
    if lowered == "version":
        if op == "like":
            raise InvalidInput("filter: version takes =, !=, <, <=, >, >= (not like)")
        return Comparison("version", op, MLVersion.parse(_text(literal)).sort_key)
    if lowered == "created_at":
        return Comparison("created_at", op, parse_datetime(_text(literal)))
    if lowered in ("alias", "aliases"):
        return Comparison("alias", op, _text(literal))
    prefix, key = split_key(field)
    value: str | float | None
    if prefix == "metrics":
        value = _number(literal, field)
    elif prefix == "params":
        value = None if literal.kind == "str" or op == "like" else _maybe_number(literal.text)
        if value is None:
            value = _text(literal)
    else:
        value = _text(literal)
    return Comparison(prefix, op, value, key)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = self.terms = 0

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

    def parse(self) -> Filter:
        self.depth = self.terms = 0
        result = self.parse_or()
        if self.peek().kind != "end":
            raise self.error(self.peek(), "expected 'and', 'or' or the end")
        return result

    def parse_or(self) -> Filter:
        terms = [self.parse_and()]
        while self.keyword("or"):
            terms.append(self.parse_and())
        return terms[0] if len(terms) == 1 else AnyOf(tuple(terms))

    def parse_and(self) -> Filter:
        terms = [self.parse_not()]
        while self.keyword("and"):
            terms.append(self.parse_not())
        return terms[0] if len(terms) == 1 else AllOf(tuple(terms))

    def _nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(token, f"filter nests deeper than {MAX_DEPTH} parentheses or 'not's; simplify it")

    def parse_not(self) -> Filter:
        token = self.peek()
        if self.keyword("not"):
            self._nest(token)
            inner = Negation(self.parse_not())
            self.depth -= 1
            return inner
        if token.text == "(" and token.kind == "op":
            self._nest(token)
            self.take()
            nested = self.parse_or()
            self.expect(")")
            self.depth -= 1
            return nested
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(token, f"filter has more than {MAX_TERMS} comparisons; narrow it, or use 'in (...)'")
        return self.parse_comparison()

    def parse_comparison(self) -> Filter:
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
            either = [comparison(field.text, "=", v) for v in values]
            return either[0] if len(either) == 1 else AnyOf(tuple(either))
        if op not in _OPS:
            raise self.error(op_token, "expected an operator (=, !=, <, <=, >, >=, like, in)")
        return comparison(field.text, op, self.literal())

    def literal(self) -> Token:
        token = self.take()
        if token.kind not in ("str", "word"):
            raise self.error(token, "expected a value")
        return token


def parse_tree(text: str | None) -> Filter | None:
    """A filter's tree, or None for an empty filter.

    Raises:
        InvalidInput: naming the position and what was expected, or the field or value that is wrong.
    """
    if text is None or not text.strip():
        return None
    return _Parser(text).parse()


def pinned_model(tree: Filter | None, *, alone: bool = False) -> str | None:
    """The model every version matching ``tree`` belongs to, when the filter says so outright
    (``name = 'fraud' and ...``: a ``name =`` joined to the rest by 'and' alone; with ``alone``,
    only ``name = 'fraud'``: every version of it matches); else None."""
    terms = () if tree is None else tree.terms if isinstance(tree, AllOf) else (tree,)
    if alone and len(terms) != 1:
        return None
    names = {str(t.value) for t in terms if isinstance(t, Comparison) and t.field == "name" and t.op == "="}
    return names.pop() if len(names) == 1 else None


# --- ordering and cursors -------------------------------------------------------------------


@dataclass(frozen=True)
class Ordering:
    """A parsed ``--order-by``: by the version's id (newest first by default), its version's sort
    key, a text field, or a tag, param or metric (a version at its largest value of the key; one
    without the key is not in such an order)."""

    field: str  # as written: a cursor names it
    descending: bool
    by: str  # "id", "version", a TEXT_FIELDS name, or one of KEYED
    key: str = ""  # the tag, param or metric

    @property
    def kind(self) -> str:
        """How its values compare: "number" or "text"."""
        return "number" if self.by in ("id", "params", "metrics") else "text"


def parse_ordering(text: str | None) -> Ordering:
    """``FIELD [asc|desc]`` or ``-FIELD``; default newest first."""
    if not text or not text.strip():
        return Ordering("created", True, "id")
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
        return Ordering(field, descending, "id")
    if lowered == "version" or lowered in TEXT_FIELDS:
        return Ordering(field, descending, lowered)
    prefix, key = split_key(field, "cannot order by")
    return Ordering(field, descending, prefix, key)


class Ordered(Protocol):
    """What a cursor records of an order."""

    @property
    def field(self) -> str: ...

    @property
    def descending(self) -> bool: ...


def encode_cursor(order: Ordered, filter_text: str, value: Any, last_id: int) -> str:
    payload = {"o": order.field, "d": order.descending, "f": filter_text, "v": value, "i": last_id}
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: Ordered, filter_text: str) -> tuple[Any, int]:
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
