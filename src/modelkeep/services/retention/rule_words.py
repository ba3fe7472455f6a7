"""A retention policy's rules in words (what ``mk retention show`` says of them), from the form they
are stored in (``RetentionRules.model_dump``): saying them needs no pydantic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COUNTED = ("keep_last", "keep_within", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly")  # in this order


def describe_rules(rules: Mapping[str, Any]) -> str:
    parts = [f"{key.replace('_', '-')} {rules[key]}" for key in COUNTED if rules.get(key) is not None]
    parts += [f"keep-tag {tag}" for tag in rules.get("keep_tags") or []]
    top = rules.get("keep_top")
    if top:
        parts.append(f"keep-top {top['k']} by {top['metric']} ({top.get('direction', 'max')})")
    return ", ".join(parts) or "keep nothing but roots"
