"""What a gateway measured for one arm in one analysis window, and how replicas pool it.

Kept apart from ``analysis`` (which needs numpy and the statistics): the server's routes that
take replicas' windows (``policy.pooled``) import this, and the server's start-up stays light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class WindowSummary:
    """What a gateway measured for one arm in one window."""

    arm: str
    model: str
    n: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    labeled: int = 0
    correct: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    business: dict[str, list[float]] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.errors / self.n if self.n else 0.0

    def p(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        import numpy as np

        return float(np.percentile(self.latencies_ms, q))

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labeled if self.labeled else None

    def brief(self) -> dict[str, Any]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else None
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        return {"arm": self.arm, "model": self.model, "requests": self.n, "errors": self.errors,
                "error_rate": round(self.error_rate, 4), "p50_ms": _r(self.p(50)), "p99_ms": _r(self.p(99)),
                "labeled": self.labeled, "accuracy": _r(self.accuracy), "precision": _r(precision),
                "recall": _r(recall),
                "business": {k: {"n": len(v), "mean": _r(math.fsum(v) / len(v))} for k, v in self.business.items() if v}}


    def shared(self) -> dict[str, Any]:
        """This window as replicas pool it (``Policy.pooled``): counts exact, samples (latencies,
        predictions, rows, business values) thinned evenly to ``SHARED_SAMPLE``, plain JSON."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = _plain(_thinned(value))
            elif isinstance(value, dict):
                value = {k: _plain(_thinned(v)) for k, v in value.items()}
            out[f.name] = value
        return out

    @classmethod
    def from_shared(cls, doc: dict[str, Any]) -> WindowSummary:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    @classmethod
    def pooled(cls, parts: list[WindowSummary]) -> WindowSummary:
        """One arm's window over every replica: counts added, samples joined."""
        out = cls(parts[0].arm, parts[0].model)
        for part in parts:
            for f in fields(cls):
                mine, theirs = getattr(out, f.name), getattr(part, f.name)
                if isinstance(mine, int) and not isinstance(mine, bool):
                    setattr(out, f.name, mine + theirs)
                elif isinstance(mine, list):
                    mine.extend(theirs)
                elif isinstance(mine, dict):
                    for key, values in theirs.items():
                        mine.setdefault(key, []).extend(values)
        return out


SHARED_SAMPLE = 1_000  # samples of each kind one replica shares per window and arm


def pool_windows(shared: dict[str, dict[str, WindowSummary]], arms: set[str]) -> dict[str, WindowSummary]:
    """``gateway -> arm -> window`` as one window per arm (of ``arms``) over every replica."""
    out: dict[str, list[WindowSummary]] = {}
    for windows in shared.values():
        for arm, window in windows.items():
            if arm in arms:
                out.setdefault(arm, []).append(window)
    return {arm: WindowSummary.pooled(parts) for arm, parts in out.items()}


def _thinned(values: list[Any]) -> list[Any]:
    if len(values) <= SHARED_SAMPLE:
        return values
    step = math.ceil(len(values) / SHARED_SAMPLE)
    return values[::step]


def _plain(value: Any) -> Any:
    """JSON's own types (a model's numpy scalars become numbers)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if type(value).__module__ == "numpy":  # a model's numpy scalar (numpy is not imported for this)
        return value.item()
    return value


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
