"""Proposing which part of the version to bump, by comparing a candidate with its parent.

Rules, strongest first (the chosen part is the strongest that applies; every reason found is
kept so the user sees the whole picture):

* marked as an experiment                                     → EXPERIMENT (always wins)
* output schema, task or architecture family changed,
  an input feature removed, or components removed             → MAJOR
* new input features, new data sources, components added,
  or the combination strategy changed                         → MINOR
* hyperparameters, code, the artifact (with the same data),
  a pinned component version or the combination config changed → PATCH
* only the training data versions changed                      → DATA
* nothing changed                                              → PATCH, saying so
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelkeep.version import Part

ARCHITECTURE_KEYS = ("architecture", "family", "model_family")
TASK_KEYS = ("task",)


@dataclass
class Snapshot:
    """The facts of one version that the proposal compares."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    signature: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    data: list[str] = field(default_factory=list)  # "NAME@N"
    digest: str | None = None
    code: dict[str, Any] | None = None
    components: list[str] = field(default_factory=list)  # "NAME@VERSION"
    composite_config: dict[str, Any] | None = None


def _fact(snapshot: Snapshot, keys: tuple[str, ...]) -> str | None:
    meta = snapshot.metadata or {}
    for key in keys:
        for source in (meta, snapshot.tags, snapshot.params):
            if source.get(key) not in (None, ""):
                return str(source[key])
    return None


def _columns(signature: dict[str, Any] | None, side: str) -> list[dict[str, Any]]:
    return list((signature or {}).get(side, []))


def by_name(refs: list[str]) -> dict[str, str]:
    """``["NAME@VERSION", ...]`` → ``{NAME: VERSION}`` (datasets and components alike)."""
    return {ref.partition("@")[0]: ref.partition("@")[2] for ref in refs}


def _changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            out.append(f"{key} {old.get(key, '(unset)')} → {new.get(key, '(unset)')}")
    return out


def propose(parent: Snapshot, candidate: Snapshot, *, experiment: bool = False) -> tuple[Part, list[str]]:
    """Return the part to bump and the reasons, most significant first."""
    found: dict[Part, list[str]] = {p: [] for p in Part}

    for label, keys in (("task", TASK_KEYS), ("architecture family", ARCHITECTURE_KEYS)):
        before, after = _fact(parent, keys), _fact(candidate, keys)
        if before is not None and after is not None and before != after:
            found[Part.MAJOR].append(f"{label} changed: {before} → {after}")

    if parent.signature is not None and candidate.signature is not None:
        if _columns(parent.signature, "outputs") != _columns(candidate.signature, "outputs"):
            found[Part.MAJOR].append("output schema changed")
        old_inputs = {c.get("name") for c in _columns(parent.signature, "inputs")}
        new_inputs = {c.get("name") for c in _columns(candidate.signature, "inputs")}
        if removed := sorted(str(n) for n in old_inputs - new_inputs):
            found[Part.MAJOR].append(f"input features removed: {', '.join(removed)}")
        if added := sorted(str(n) for n in new_inputs - old_inputs):
            found[Part.MINOR].append(f"new input features: {', '.join(added)}")
        retyped = {
            c.get("name")
            for c in _columns(candidate.signature, "inputs")
            if c.get("name") in old_inputs and c not in _columns(parent.signature, "inputs")
        }
        if retyped:
            found[Part.PATCH].append(f"input types changed: {', '.join(sorted(map(str, retyped)))}")

    old_data, new_data = by_name(parent.data), by_name(candidate.data)
    if new_sources := sorted(set(new_data) - set(old_data)):
        found[Part.MINOR].append(f"new data sources: {', '.join(new_sources)}")
    data_changes = [
        f"{name}@{old_data[name]} → {name}@{new_data[name]}"
        for name in sorted(set(old_data) & set(new_data))
        if old_data[name] != new_data[name]
    ]
    if dropped := sorted(set(old_data) - set(new_data)):
        data_changes.append(f"data sources dropped: {', '.join(dropped)}")

    old_parts, new_parts = by_name(parent.components), by_name(candidate.components)
    if removed_c := sorted(set(old_parts) - set(new_parts)):
        found[Part.MAJOR].append(f"components removed: {', '.join(removed_c)}")
    if added_c := sorted(set(new_parts) - set(old_parts)):
        found[Part.MINOR].append(f"components added: {', '.join(added_c)}")
    for name in sorted(set(old_parts) & set(new_parts)):
        if old_parts[name] != new_parts[name]:
            found[Part.PATCH].append(f"component {name} {old_parts[name]} → {new_parts[name]}")
    if parent.composite_config and candidate.composite_config:
        if parent.composite_config.get("strategy") != candidate.composite_config.get("strategy"):
            found[Part.MINOR].append(
                f"combination strategy changed: {parent.composite_config.get('strategy')} → "
                f"{candidate.composite_config.get('strategy')}"
            )
        elif parent.composite_config != candidate.composite_config:
            found[Part.PATCH].append("combination config changed")

    if param_changes := _changes(parent.params, candidate.params):
        found[Part.PATCH].append("hyperparameters changed: " + "; ".join(param_changes))
    if (parent.code or {}) != (candidate.code or {}) and candidate.code:
        found[Part.PATCH].append("code changed")
    if data_changes:
        found[Part.DATA].append("training data changed: " + "; ".join(data_changes))
    elif (
        not found[Part.PATCH]
        and parent.digest
        and candidate.digest
        and parent.digest != candidate.digest
        and not candidate.components
    ):
        found[Part.PATCH].append("model artifact changed with the same training data")

    reasons = [r for part in Part for r in found[part]]
    if experiment:
        return Part.EXPERIMENT, ["marked as an experiment", *reasons]
    for part in Part:
        if found[part]:
            return part, reasons
    return Part.PATCH, ["no difference from the parent version was detected; defaulting to patch"]
