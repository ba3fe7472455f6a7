"""Data profiles: a compact, JSON-able summary of a feature table (or of predictions).

A profile is recorded with a model version at registration (its training data and the model's
predictions on it) and is the baseline its live traffic is compared with. Per column:

* numeric: ``edges`` (decile bin edges, for PSI), ``proportions`` (share of rows per bin, the
  outer bins open-ended), ``quantiles`` (0..100 %, 101 values, for KS), ``mean``, ``std``;
* categorical: ``frequencies`` (share per value, the 50 most common; the rest as ``__other__``).

``sample`` keeps a few raw rows: the gateway warms a version up with them and they are the
default smoke requests of a deployment.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

OTHER = "__other__"
TOP_CATEGORIES = 50
MAX_ROWS = 100_000  # rows profiled (a deterministic stride sample beyond that)
SAMPLE_ROWS = 20


def _floats(values: list[Any]) -> np.ndarray | None:
    """The column as float64, or None when any value is not a number (the column is categorical)."""
    if values and all(isinstance(v, bool) for v in values[:50]):
        return None
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 1 else None


def numeric_profile(array: np.ndarray) -> dict[str, Any]:
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return {"kind": "numeric", "count": int(array.size), "missing": int(array.size), "edges": [],
                "proportions": [1.0], "quantiles": [], "mean": None, "std": None}
    edges = np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9)))
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
    return {
        "kind": "numeric",
        "count": int(array.size),
        "missing": int(array.size - finite.size),
        "edges": [float(e) for e in edges],
        "proportions": [float(c) / finite.size for c in counts],
        "quantiles": [float(q) for q in np.quantile(finite, np.linspace(0, 1, 101))],
        "mean": float(finite.mean()),
        "std": float(finite.std()),
    }


def categorical_profile(values: list[Any]) -> dict[str, Any]:
    counts = Counter(str(v) for v in values)
    total = sum(counts.values()) or 1
    top = dict(counts.most_common(TOP_CATEGORIES))
    frequencies = {k: c / total for k, c in top.items()}
    rest = total - sum(top.values())
    if rest:
        frequencies[OTHER] = rest / total
    return {"kind": "categorical", "count": len(values), "frequencies": frequencies}


def column_profile(values: list[Any], *, categorical: bool | None = None) -> dict[str, Any]:
    """Numeric unless a value is not a number, or ``categorical`` says otherwise."""
    array = None if categorical else _floats(values)
    if array is None:
        return categorical_profile(values)
    if categorical is None and array.size and np.all(array == np.round(array)) and np.unique(array).size <= 20:
        return categorical_profile([_label(v) for v in array])  # few integer values: class labels
    return numeric_profile(array)


def _label(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and value == int(value) else str(value)


def to_rows(data: Any, names: list[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Column names and rows of a NumPy array, a pandas DataFrame, a list of lists or of dicts."""
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):  # pandas
        return [str(c) for c in data.columns], data.to_numpy().tolist()
    if hasattr(data, "tolist") and hasattr(data, "shape"):
        rows = data.tolist()
        if data.ndim == 1:
            rows = [[v] for v in rows]
        width = len(rows[0]) if rows else 0
        return names or [f"f{i}" for i in range(width)], rows
    rows = list(data)
    if rows and isinstance(rows[0], dict):
        keys = names or list(rows[0])
        return keys, [[row.get(k) for k in keys] for row in rows]
    width = len(rows[0]) if rows else 0
    return names or [f"f{i}" for i in range(width)], [list(r) for r in rows]


def profile(data: Any, *, names: list[str] | None = None, predictions: Any = None) -> dict[str, Any]:
    """The profile of a feature table and, optionally, of the model's predictions on it."""
    columns, rows = to_rows(data, names)
    if not rows:
        raise ValueError("cannot profile an empty table")
    stride = max(1, len(rows) // MAX_ROWS)
    used = rows[::stride]
    result: dict[str, Any] = {
        "rows": len(rows),
        "features": {name: column_profile([row[i] for row in used]) for i, name in enumerate(columns)},
        "sample": [[_jsonable(v) for v in row] for row in rows[:SAMPLE_ROWS]],
        "columns": columns,
    }
    if predictions is not None:
        flat = predictions.tolist() if hasattr(predictions, "tolist") else list(predictions)
        result["predictions"] = column_profile([p[0] if isinstance(p, list) else p for p in flat[::stride]])
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
