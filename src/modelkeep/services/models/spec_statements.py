"""The statements that find the version a ``NAME@SPEC`` names (an alias, an exact version, the
newest in a range or ``latest``), built once per shape of spec and bound by parameters: building a
statement cost more than running it on SQLite."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, select

from modelkeep.meta.tables import Alias, Model, ModelVersion
from modelkeep.version import VersionSpec

REPRODUCTION = "reproduction"  # status of a version `mk reproduce --verify` registered: named exactly, never `latest`


_RESOLVE_FROM = {"version": select(ModelVersion), "id": select(ModelVersion.id)}


def resolving(what: str, name: str, spec_text: str) -> tuple[Any, dict[str, Any]]:
    """The statement (of ``what``: the version's row or its id) that finds the version ``NAME@SPEC``
    names, and its parameters: one query on the hot path; the model is looked up separately only to
    explain a miss."""
    spec = VersionSpec.parse(spec_text)
    return resolve_statement(what, spec.kind, spec.lower is not None, spec.upper is not None), \
        {"name": name, "alias": spec.alias} | spec_params(spec)


@functools.cache
def resolve_statement(what: str, kind: str, lower: bool, upper: bool) -> Any:
    """Built once per shape of spec: building a statement cost more than running it on SQLite."""
    query = _RESOLVE_FROM[what].join(Model, Model.id == ModelVersion.model_id).where(Model.name == bindparam("name"))
    if kind == "alias":
        return query.join(Alias, Alias.version_id == ModelVersion.id).where(Alias.name == bindparam("alias"))
    return within(query, kind, lower, upper).order_by(ModelVersion.sort_key.desc()).limit(1)


def within(query: Any, kind: str, lower: bool, upper: bool) -> Any:
    """Restrict a ModelVersion query to the versions a (non-alias) spec admits, bound by
    ``spec_params``: ``latest`` and ranges never pick a reproduction (it re-makes a version; it
    does not succeed it)."""
    if kind == "exact":
        return query.where(ModelVersion.sort_key == bindparam("lower"))
    query = query.where(ModelVersion.status != REPRODUCTION)
    if lower:
        query = query.where(ModelVersion.sort_key >= bindparam("lower"))
    if upper:
        query = query.where(ModelVersion.sort_key < bindparam("upper"))
    return query


def spec_params(spec: VersionSpec) -> dict[str, Any]:
    """What ``within`` binds: the range's sort keys."""
    lower, upper = spec.sort_bounds
    return {"lower": lower, "upper": upper}
