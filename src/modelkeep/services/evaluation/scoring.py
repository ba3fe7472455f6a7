"""Scoring a version on a pinned dataset version, on the caller's side of the connection.

The version is loaded through its flavor (skops types only, no unpickling without
``allow_pickle``), the dataset version's file read from the store (CSV or Parquet; a split is a
file named after it, or the rows whose ``split`` column holds it), and the features are the
signature's inputs (else every column but the target, the slice column and ``split``).
"""

from __future__ import annotations

import io
import platform
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelkeep.errors import InvalidInput, ModelKeepError
from modelkeep.services.evaluation.metrics import Metric, Scored, builtin, custom, usable
from modelkeep.services.evaluation.records import EvaluationRecord, EvaluationView

TARGETS = ("label", "target", "y", "class", "is_fraud")


@dataclass
class Table:
    """The rows of one dataset version (and split) an evaluation uses."""

    ref: str
    digest: str
    frame: Any  # pandas.DataFrame
    split: str | None


def read_table(conn: Any, data: str, split: str | None) -> Table:
    try:
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError:
        raise InvalidInput("evaluations read tables with pandas: pip install 'modelkeep[evaluate]'") from None

    view = conn.datasets.get(data)
    files = conn.datasets.files(view.ref)
    readable = {p: e for p, e in files.items() if p.lower().endswith((".csv", ".parquet", ".pq"))}
    named = [p for p in readable if p.rsplit("/", 1)[-1].rsplit(".", 1)[0] == split or p.startswith(f"{split}/")]
    chosen = named if split is not None and named else list(readable)
    if len(chosen) != 1:
        raise InvalidInput(f"{view.ref}: expected one CSV or Parquet file{f' for split {split!r}' if split else ''}, "
                           f"found {len(chosen)} ({', '.join(sorted(readable)) or 'none'})",
                           hint="name the split (--split test) after a file, or keep one file with a 'split' column")
    path = chosen[0]
    raw = b"".join(bytes(part) for part in conn.datasets.cat(view.ref, path))
    frame = pd.read_csv(io.BytesIO(raw)) if path.lower().endswith(".csv") else pd.read_parquet(io.BytesIO(raw))
    if split is not None and not named:  # one file: the split is a column
        if "split" not in frame.columns:
            raise InvalidInput(f"{view.ref}: no file named after split {split!r} and no 'split' column in {path}")
        frame = frame[frame["split"].astype(str) == split].reset_index(drop=True)
        if frame.empty:
            raise InvalidInput(f"{view.ref}: no rows whose split is {split!r}")
    return Table(view.ref, view.digest, frame, split)


def pick_target(frame: Any, target: str | None) -> str:
    if target is not None:
        if target not in frame.columns:
            raise InvalidInput(f"target column {target!r} is not in the data ({', '.join(map(str, frame.columns))})")
        return target
    for name in TARGETS:
        if name in frame.columns:
            return name
    raise InvalidInput(f"no target column: name it with --target (columns: {', '.join(map(str, frame.columns))})")


def task_of(y: np.ndarray) -> str:
    if y.dtype.kind in "bOUS" or (y.dtype.kind in "iu" and len(np.unique(y)) <= 20):
        return "classification"
    return "classification" if y.dtype.kind == "f" and len(np.unique(y)) <= 2 else "regression"


class Scorer:
    """Loads versions once and scores them on tables (a gate scores two on one table)."""

    def __init__(self, conn: Any, *, allow_pickle: bool = False, trusted: list[str] | None = None) -> None:
        self.conn, self.allow_pickle, self.trusted = conn, allow_pickle, list(trusted or [])

    def score(self, ref: str, table: Table, target: str, slice_by: str | None) -> tuple[Any, Scored]:
        from modelkeep.services.model_files import cached_files, load_version

        view = self.conn.registry.get(ref)
        folder = cached_files(self.conn.store, view, self.conn.model_cache)
        obj, flavor = load_version(folder, allow_pickle=self.allow_pickle, trusted=self.trusted)
        frame = table.frame
        names = [str(c.get("name")) for c in (view.signature or {}).get("inputs") or []]
        names = names or [str(c) for c in getattr(obj, "feature_names_in_", [])]
        if not names:  # no signature: the numeric columns but the label, the slice column and split
            names = [str(c) for c in frame.columns
                     if c not in (target, slice_by, "split") and frame[c].dtype.kind in "biuf"]
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise InvalidInput(f"{table.ref} lacks column {missing[0]!r} of {view.ref}'s inputs ({', '.join(names)})")
        x = frame[names].to_numpy()
        y = frame[target].to_numpy()
        try:
            return view, self._predict(obj, flavor, x, y)
        except ModelKeepError:
            raise
        except Exception as exc:  # the model's own failure on these rows: said plainly, no traceback
            raise InvalidInput(f"{view.ref} failed on {table.ref} ({len(names)} input columns: "
                               f"{', '.join(names[:8])}): {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _predict(obj: Any, flavor: str, x: np.ndarray, y: np.ndarray) -> Scored:
        if flavor in ("sklearn", "python") and hasattr(obj, "predict"):
            pred = np.asarray(obj.predict(x))
            score = None
            proba = getattr(obj, "predict_proba", None)
            if callable(proba) and len(np.unique(y)) == 2:
                score = np.asarray(proba(x))[:, -1].astype(np.float64)
        else:
            from modelkeep.services.deploy.predictor import LoadedModel

            pred, score = np.asarray(LoadedModel(obj, flavor).call(x)).reshape(len(x), -1)[:, 0], None
        return Scored(y, pred, score)


def evaluate(conn: Any, ref: str, data: str, *, split: str | None = None, slice_by: str | None = None,
             target: str | None = None, metrics: list[str] | None = None, allow_pickle: bool = False,
             trusted: list[str] | None = None, reuse: bool = True) -> EvaluationView:
    """Score ``ref`` on dataset version ``data`` and record it (or find the record made before)."""
    table = read_table(conn, data, split)
    column = pick_target(table.frame, target)
    if slice_by is not None and slice_by not in table.frame.columns:
        raise InvalidInput(f"slice column {slice_by!r} is not in {table.ref} ({', '.join(map(str, table.frame.columns))})")
    if reuse and not metrics:
        found: EvaluationView | None = conn.evaluations.find(ref, table.digest, split, slice_by, column)
        if found is not None:
            return found
    view, scored = Scorer(conn, allow_pickle=allow_pickle, trusted=trusted).score(ref, table, column, slice_by)
    task = task_of(scored.y)
    chosen = metric_set(task, scored, metrics, trusted)
    slices = table.frame[slice_by].astype(str).to_numpy() if slice_by is not None else None
    results = by_slice(chosen, scored, slices, slice_by)
    record = EvaluationRecord(ref=view.ref, dataset=table.ref, dataset_digest=table.digest, split=split, slice_by=slice_by,
                              target=column, task=task, metrics=results, environment=environment())  # type: ignore[arg-type]
    result: EvaluationView = conn.evaluations.record(record)
    return result


def metric_set(task: str, scored: Scored, extra: list[str] | None, trusted: list[str] | None) -> dict[str, Metric]:
    chosen = dict(usable(builtin(task), scored))
    for path in extra or []:
        chosen[path] = custom(path, list(trusted or []))
    return chosen


def by_slice(metrics: dict[str, Metric], scored: Scored, slices: np.ndarray | None,
             slice_by: str | None) -> dict[str, dict[str, float]]:
    """Point values on all rows, and on the rows of each value of the slice column."""
    out = {"all": point_values(metrics, scored)}
    if slices is not None and slice_by:
        for value in sorted(set(slices)):
            mask = slices == value
            out[f"{slice_by}={value}"] = point_values(metrics, Scored(
                scored.y[mask], scored.pred[mask], None if scored.score is None else scored.score[mask]))
    return out


def point_values(metrics: dict[str, Metric], scored: Scored) -> dict[str, float]:
    out: dict[str, float] = {"n": float(len(scored.y))}
    for name, metric in metrics.items():
        try:
            out[name] = round(metric.point(scored), 6)
        except ValueError:  # e.g. auc on a slice holding one class only
            continue
    return out


def environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("modelkeep", "scikit-learn", "numpy", "pandas"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": packages}
