"""Checking and normalizing what callers hand to the registry (names, refs, params, metrics)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modelkeep.errors import InvalidInput

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
NAME_RULE = "names start with a letter or digit and have up to 128 letters, digits, '.', '_' or '-'"
KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/ ]{0,254}\Z")
DATA_REF = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]{0,127})@([0-9]+|[0-9a-f]{6,64})\Z")
_METRIC = re.compile(r"(?P<key>[^\[\]=]+?)(?:\[(?P<scope>[^\]]*)\])?\Z")


def check_name(name: str, what: str = "model name") -> str:
    """A name; a model name may be a branch line, ``MODEL~BRANCH`` (both parts names)."""
    if what == "model name" and isinstance(name, str) and name.count("~") == 1:
        model, branch = name.split("~")
        if NAME_PATTERN.match(model) and NAME_PATTERN.match(branch):
            return name
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        line = " (a branch line: MODEL~BRANCH)" if what == "model name" else ""
        raise InvalidInput(f"invalid {what} {name!r}: {NAME_RULE}{line}")
    return name


def split_ref(ref: str) -> tuple[str, str]:
    """``NAME@SPEC`` → (name, spec); ``NAME`` alone means ``NAME@latest``."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput("empty model reference; use NAME@SPEC, e.g. fraud@1.2.0 or fraud@production")
    name, at, spec = ref.strip().partition("@")
    check_name(name)
    if at and not spec:
        raise InvalidInput(f"{ref!r} ends with '@' but names no version or alias; use NAME@SPEC (e.g. {name}@latest, "
                           f"{name}@1.2.0, {name}@production) or NAME alone for the latest")
    return name, spec or "latest"


def split_dataset_ref(ref: str) -> tuple[str, str | None]:
    """``NAME@SPEC`` (or ``NAME``: the latest) of a dataset version."""
    name, _, spec = ref.strip().partition("@")
    check_name(name, "dataset name")
    return name, spec or None


def check_key(key: str, what: str) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidInput(
            f"invalid {what} key {key!r}: up to 255 letters, digits, '_', '.', '-', '/' or spaces, "
            "starting with a letter, digit or '_'"
        )
    return key


def parse_pairs(pairs: Iterable[str], what: str, *, check_keys: bool = True) -> dict[str, str]:
    """``["k=v", ...]`` from the command line into a dict; a key given twice is an error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"invalid {what} {pair!r}: expected KEY=VALUE")
        key = check_key(key.strip(), what) if check_keys else key.strip()
        if key in out:
            raise InvalidInput(f"{what} {key!r} is given twice")
        out[key] = value
    return out


def normalize_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    out = {}
    for key, value in (params or {}).items():
        check_key(key, "param")
        out[key] = "true" if value is True else "false" if value is False else str(value)
    return out


def param_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class MetricValue:
    key: str
    value: float
    dataset: str = ""
    split: str = ""


def parse_metric_label(label: str, value: Any) -> MetricValue:
    """``auc``, ``auc[test]`` (a split) or ``auc[fraud-eval@3:test]`` (dataset and split)."""
    match = _METRIC.match(label.strip())
    if not match:
        raise InvalidInput(f"invalid metric {label!r}: use KEY, KEY[SPLIT] or KEY[DATASET:SPLIT]")
    key = check_key(match["key"].strip(), "metric")
    scope = match["scope"] or ""
    dataset, _, split = scope.rpartition(":") if ":" in scope else ("", "", scope)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"metric {label!r} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InvalidInput(f"metric {label!r} must be a finite number, got {value!r}")
    return MetricValue(key, number, dataset.strip(), split.strip())


def normalize_metrics(metrics: Mapping[str, Any] | Iterable[MetricValue] | None) -> list[MetricValue]:
    if metrics is None:
        return []
    if isinstance(metrics, Mapping):
        items = [parse_metric_label(k, v) for k, v in metrics.items()]
    else:
        items = list(metrics)
    seen: set[tuple[str, str, str]] = set()
    for item in items:
        ident = (item.key, item.dataset, item.split)
        if ident in seen:
            raise InvalidInput(f"metric {item.key!r} is given twice for the same dataset/split")
        seen.add(ident)
    return items


def normalize_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}


def normalize_data_refs(refs: Iterable[str] | None) -> list[str]:
    out = []
    for ref in refs or []:
        if not isinstance(ref, str) or not DATA_REF.match(ref.strip()):
            raise InvalidInput(
                f"invalid dataset reference {ref!r}: use NAME@N (a version number) or "
                "NAME@DIGEST (6 to 64 hex digits), e.g. fraud-train@3"
            )
        out.append(ref.strip())
    if len({r.partition("@")[0] for r in out}) != len(out):
        raise InvalidInput("a dataset may be linked once per model version; give one version of each")
    return sorted(out)


def merge_tags(current: dict[str, Any] | None, changes: dict[str, Any] | None) -> dict[str, str]:
    """``current`` with ``changes`` applied: a value sets the tag (as text), None deletes it."""
    merged = {k: str(v) for k, v in (current or {}).items()}
    for key, value in (changes or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged
