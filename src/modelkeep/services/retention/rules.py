"""Retention rules in restic's vocabulary, and the decision they make over one line of versions.

``keep_last N`` (the N newest), ``keep_within 30d`` (made within the duration before now),
``keep_hourly/daily/weekly/monthly N`` (the newest version in each of the N most recent hours,
days, ISO weeks or months that have one), ``keep_tags`` (``key`` or ``key=value``), ``keep_top``
(the K best by a metric). A version is kept if any rule keeps it; the reason names the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelkeep.errors import InvalidInput
from modelkeep.services.retention.rule_words import describe_rules

_DURATION = re.compile(r"^(\d+)([hdwmy])$")
_UNITS = {"h": 1, "d": 24, "w": 24 * 7, "m": 24 * 30, "y": 24 * 365}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None:
        raise InvalidInput(f"duration {text!r}: a number and a unit, h, d, w, m (30 days) or y (e.g. 30d, 12h, 6m)")
    return timedelta(hours=int(match.group(1)) * _UNITS[match.group(2)])


class TopRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(min_length=1, max_length=255)
    k: int = Field(ge=1, le=100_000)
    direction: Literal["max", "min"] = "max"


class RetentionRules(BaseModel):
    """What a policy keeps (every rule optional; a policy with no rule keeps nothing but roots)."""

    model_config = ConfigDict(extra="forbid")
    keep_last: int | None = Field(default=None, ge=1, le=1_000_000)
    keep_within: str | None = None
    keep_hourly: int | None = Field(default=None, ge=1, le=1_000_000)
    keep_daily: int | None = Field(default=None, ge=1, le=1_000_000)
    keep_weekly: int | None = Field(default=None, ge=1, le=1_000_000)
    keep_monthly: int | None = Field(default=None, ge=1, le=1_000_000)
    keep_tags: list[str] = Field(default_factory=list)
    keep_top: TopRule | None = None

    @field_validator("keep_within")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    def describe(self) -> str:
        return describe_rules(self.model_dump(exclude_none=True))


@dataclass
class Item:
    """One version as the rules see it."""

    key: str  # "model:NAME@VERSION" or "dataset:NAME@N"
    created_at: datetime
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


BUCKETS: dict[str, Callable[[datetime], Any]] = {
    "keep_hourly": lambda t: (t.year, t.month, t.day, t.hour),
    "keep_daily": lambda t: (t.year, t.month, t.day),
    "keep_weekly": lambda t: tuple(t.isocalendar()[:2]),
    "keep_monthly": lambda t: (t.year, t.month),
}


def decide(items: list[Item], rules: RetentionRules, now: datetime) -> dict[str, str]:
    """``key -> the first rule that keeps it`` for the items the rules keep (the others are not in it)."""
    newest_first = sorted(items, key=lambda i: i.created_at, reverse=True)
    kept: dict[str, str] = {}

    def keep(item: Item, why: str) -> None:
        kept.setdefault(item.key, why)

    if rules.keep_last:
        for item in newest_first[:rules.keep_last]:
            keep(item, f"keep-last {rules.keep_last}")
    if rules.keep_within:
        since = now - parse_duration(rules.keep_within)
        for item in newest_first:
            if item.created_at >= since:
                keep(item, f"keep-within {rules.keep_within}")
    for name, bucket in BUCKETS.items():
        count = getattr(rules, name)
        if not count:
            continue
        seen: set[Any] = set()
        for item in newest_first:  # the newest of each bucket, for the `count` most recent buckets
            slot = bucket(item.created_at)
            if slot in seen:
                continue
            if len(seen) == count:
                break
            seen.add(slot)
            keep(item, f"{name.replace('_', '-')} {count}")
    for wanted in rules.keep_tags:
        key, sep, value = wanted.partition("=")
        for item in newest_first:
            if key in item.tags and (not sep or item.tags[key] == value):
                keep(item, f"keep-tag {wanted}")
    if rules.keep_top:
        top = rules.keep_top
        scored = [i for i in newest_first if top.metric in i.metrics]
        scored.sort(key=lambda i: i.metrics[top.metric], reverse=top.direction == "max")
        for item in scored[:top.k]:
            keep(item, f"keep-top {top.k} by {top.metric}")
    return kept
