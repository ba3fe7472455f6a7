"""MLflow's search filters and orderings for runs and experiments (``runs/search``,
``experiments/search``), evaluated over the documents the routes answer with.

A filter is clauses joined by ``AND``: ``IDENTIFIER OPERATOR VALUE``. An identifier is
``KIND.KEY`` (KIND ``metrics``/``metric``, ``params``/``param``/``parameters``, ``tags``/``tag``,
``attributes``/``attribute``/``attr``/``run``; a KEY with spaces or dots in backticks or double
quotes) or a bare attribute (``status``, ``run_name``). As in MLflow: metrics and numeric attributes
(``start_time``, ``end_time``, ``created``; an experiment's ``creation_time``, ``last_update_time``)
compare as numbers with ``= != < <= > >=``; params and tags take ``= != LIKE ILIKE IS NULL IS NOT
NULL``; string attributes take ``= != LIKE ILIKE IN NOT IN``. ``LIKE`` is SQL's (``%`` any run of
characters, ``_`` one; ``ILIKE`` ignoring case). A run without the metric, param or tag a clause
names does not match it (but ``IS NULL``).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from modelkeep.errors import InvalidInput
from modelkeep.services.models.views import RunColumns

KINDS = {"metric": "metric", "metrics": "metric", "param": "param", "params": "param", "parameter": "param",
         "parameters": "param", "tag": "tag", "tags": "tag", "attribute": "attribute", "attributes": "attribute",
         "attr": "attribute", "run": "attribute"}
RUN_NUMERIC = {"start_time": "start_time", "end_time": "end_time", "created": "start_time", "Created": "start_time"}
RUN_STRINGS = {"run_id": "run_id", "run_name": "run_name", "run name": "run_name", "Run name": "run_name",
               "Run Name": "run_name", "status": "status", "user_id": "user_id", "artifact_uri": "artifact_uri",
               "lifecycle_stage": "lifecycle_stage"}
EXPERIMENT_NUMERIC = {"creation_time": "creation_time", "last_update_time": "last_update_time"}
EXPERIMENT_STRINGS = {"name": "name", "experiment_id": "experiment_id", "lifecycle_stage": "lifecycle_stage"}
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE")

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
  | (?P<op>!=|>=|<=|=|>|<|\(|\)|,)
  | (?P<ident>[A-Za-z_][\w]*(?:\.(?:`[^`]+`|"[^"]+"|[\w.:/-]+))?|`[^`]+`)
)""", re.VERBOSE)


@dataclass(frozen=True)
class Clause:
    kind: str  # metric, param, tag or attribute
    key: str
    op: str  # = != < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL
    value: Any  # a float, a str, a tuple of str, or None


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at, text = [], 0, text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise InvalidInput(f"filter {text!r}: cannot read it from {text[at:].strip()!r} on")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        at = match.end()
    return out


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return text[1:-1].replace(text[0] * 2, text[0]) if text[0] != "`" else text[1:-1]
    return text


def parse(text: str, numeric: dict[str, str], strings: dict[str, str]) -> list[Clause]:
    """The clauses of a filter; anything MLflow would refuse is refused, naming what is valid."""
    tokens, clauses, at = _tokens(text), [], 0

    def take() -> tuple[str, str]:
        nonlocal at
        if at >= len(tokens):
            raise InvalidInput(f"filter {text!r} ends too soon: KIND.KEY OPERATOR VALUE [AND ...]")
        at += 1
        return tokens[at - 1]

    while at < len(tokens):
        lexeme, name = take()
        if lexeme != "ident":
            raise InvalidInput(f"filter {text!r}: {name!r} where a column (metrics.KEY, params.KEY, tags.KEY, "
                               "attributes.KEY) should be")
        prefix, dot, rest = name.partition(".")
        kind, key = (KINDS.get(prefix.lower()), _unquote(rest)) if dot else ("attribute", _unquote(name))
        if kind is None:
            raise InvalidInput(f"filter {text!r}: {prefix!r} is not a kind of column: metrics, params, tags or attributes")
        if kind == "attribute":
            if key not in numeric and key not in strings:
                raise InvalidInput(f"filter {text!r}: attribute {key!r} is not one of {', '.join(sorted({*numeric, *strings}))}")
            key = numeric.get(key) or strings[key]
        op = take()[1].upper()
        if op == "NOT":
            op = "NOT " + take()[1].upper()
        elif op == "IS":
            op = "IS " + take()[1].upper()
            if op == "IS NOT":
                op += " " + take()[1].upper()
        clauses.append(_clause(text, kind, key, op, take, numeric))
        if at < len(tokens):
            word = take()[1]
            if word.upper() != "AND":
                raise InvalidInput(f"filter {text!r}: clauses are joined by AND, not {word!r}")
    return clauses


def _clause(text: str, kind: str, key: str, op: str, take: Callable[[], tuple[str, str]],
            numeric: dict[str, str]) -> Clause:
    number = kind == "metric" or (kind == "attribute" and key in numeric.values())
    allowed = NUMERIC_OPS if number else ((*STRING_OPS, "IN", "NOT IN") if kind == "attribute" else
                                          (*STRING_OPS, "IS NULL", "IS NOT NULL"))
    if op not in allowed:
        raise InvalidInput(f"filter {text!r}: {kind} {key!r} takes {', '.join(allowed)}, not {op!r}")
    if op in ("IS NULL", "IS NOT NULL"):
        return Clause(kind, key, op, None)
    if op in ("IN", "NOT IN"):
        if take()[1] != "(":
            raise InvalidInput(f"filter {text!r}: {op} takes a list: ('a', 'b')")
        values = []
        while True:
            form, value = take()
            if form != "string":
                raise InvalidInput(f"filter {text!r}: {op} takes quoted strings, got {value!r}")
            values.append(_unquote(value))
            separator = take()[1]
            if separator == ")":
                return Clause(kind, key, op, tuple(values))
            if separator != ",":
                raise InvalidInput(f"filter {text!r}: the list after {op} is ('a', 'b', ...)")
    form, value = take()
    if number:
        if form != "number":
            raise InvalidInput(f"filter {text!r}: {kind} {key!r} compares with a number, not {value!r}")
        return Clause(kind, key, op, float(value))
    if form != "string":
        raise InvalidInput(f"filter {text!r}: {kind} {key!r} compares with a quoted string, not {value!r}")
    return Clause(kind, key, op, _unquote(value))


@lru_cache(maxsize=256)  # a search tests each run against the same few patterns
def _like(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def holds(clause: Clause, found: Any) -> bool:
    """Whether a document's value (None: it has none) meets the clause."""
    op, value = clause.op, clause.value
    if op == "IS NULL":
        return found is None
    if op == "IS NOT NULL":
        return found is not None
    if found is None:
        return False
    if isinstance(value, float):
        number = float(found)
        return {"=": number == value, "!=": number != value, "<": number < value, "<=": number <= value,
                ">": number > value, ">=": number >= value}[op]
    text = str(found)
    if op in ("IN", "NOT IN"):
        return (text in value) == (op == "IN")
    if op in ("LIKE", "ILIKE"):
        return _like(value, op == "ILIKE").fullmatch(text) is not None
    return (text == value) == (op == "=")


def run_value(doc: dict[str, Any], kind: str, key: str) -> Any:
    """What a run document (``shapes.run``) has for a column (None: nothing)."""
    if kind == "metric":
        return next((m["value"] for m in doc["data"]["metrics"] if m["key"] == key), None)
    if kind == "attribute":
        return doc["info"].get(RUN_NUMERIC.get(key) or RUN_STRINGS.get(key, key))
    return next((p["value"] for p in doc["data"]["params" if kind == "param" else "tags"] if p["key"] == key), None)


def run_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """MLflow's run filter as a test of a run document."""
    clauses = parse(text, RUN_NUMERIC, RUN_STRINGS)
    return lambda doc: all(holds(c, run_value(doc, c.kind, c.key)) for c in clauses)


def experiment_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """MLflow's experiment filter (name, times, tags) as a test of an experiment document."""
    clauses = parse(text, EXPERIMENT_NUMERIC, EXPERIMENT_STRINGS)
    for clause in clauses:
        if clause.kind not in ("attribute", "tag"):
            raise InvalidInput(f"filter {text!r}: experiments are searched by attributes and tags, not {clause.kind}s")

    def value(doc: dict[str, Any], clause: Clause) -> Any:
        if clause.kind == "tag":
            return next((t["value"] for t in doc.get("tags", []) if t["key"] == clause.key), None)
        return doc.get(clause.key)

    return lambda doc: all(holds(c, value(doc, c)) for c in clauses)


def newest_first(start_time: int | None, run_id: str) -> tuple[int, str]:
    """The order runs take before (and beneath) any ``order_by``: start time in milliseconds, newest
    first, then run id."""
    return -(start_time or 0), run_id


def _order_clauses(order_by: list[str]) -> list[tuple[str, str, str]]:
    """``order_by``'s clauses as (kind, key, ASC or DESC)."""
    out = []
    for clause in order_by:
        match = re.fullmatch(r"(?:(params|param|tags|tag|metrics|metric|attributes|attribute)\.)?`?([^`\s]+)`?"
                             r"(?:\s+(ASC|DESC))?", clause.strip(), flags=re.IGNORECASE)
        if match is None:
            raise InvalidInput(f"order_by {clause!r}: [KIND.]KEY [ASC|DESC], KIND metrics, params, tags or attributes")
        out.append((KINDS[(match[1] or "attributes").lower()], match[2], (match[3] or "ASC").upper()))
    return out


def run_columns(text: str, order_by: list[str]) -> RunColumns:
    """The metrics, params and tags a run filter and order read: a search reads only those of every
    run, and the page's runs whole."""
    named = [(c.kind, c.key) for c in parse(text, RUN_NUMERIC, RUN_STRINGS)] if text else []
    named += [(kind, key) for kind, key, _ in _order_clauses(order_by)]
    return RunColumns(*(frozenset(key for kind, key in named if kind == wanted) for wanted in ("metric", "param", "tag")))


def run_order(docs: list[dict[str, Any]], order_by: list[str]) -> list[dict[str, Any]]:
    """MLflow's ``order_by``: ``[KIND.]KEY [ASC|DESC]`` clauses (KIND metrics, params, tags or
    attributes, the default), runs lacking a value last; then start time (newest first) and id."""
    docs = sorted(docs, key=lambda d: newest_first(d["info"].get("start_time"), str(d["info"]["run_id"])))
    for kind, key, direction in reversed(_order_clauses(order_by)):
        present = [d for d in docs if run_value(d, kind, key) is not None]
        missing = [d for d in docs if run_value(d, kind, key) is None]
        number = kind == "metric" or key in RUN_NUMERIC
        present.sort(key=lambda d: float(run_value(d, kind, key)) if number else str(run_value(d, kind, key)),
                     reverse=direction == "DESC")
        docs = present + missing
    return docs
