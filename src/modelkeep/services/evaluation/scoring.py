"""Scoring a version on a pinned dataset version, on the caller's side of the connection.

The version is loaded through its flavor (skops types only, no unpickling without
``allow_pickle``), the dataset version's file read from the store (CSV or Parquet; a split is a
file named after it, or the rows whose ``split`` column holds it), and the features are the
signature's inputs (else every column but the target, the slice column and ``split``).
"""

from __future__ import annotations

import io
import platform
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelkeep.errors import InvalidInput, ModelKeepError
from modelkeep.services.evaluation.metrics import Metric, Scored, builtin, custom, usable

if TYPE_CHECKING:
    from modelkeep.services.evaluation.records import EvaluationView

TARGETS = ("label", "target", "y", "class", "is_fraud")


@dataclass
class Table:
    """The rows of one dataset version (and split) an evaluation uses."""

    ref: str
    digest: str
    frame: Any  # pandas.DataFrame
    split: str | None


@dataclass(frozen=True)
class TableSource:
    """The one file of a dataset version (and split) an evaluation reads, before it is parsed:
    what a scoring process is handed."""

    ref: str
    digest: str
    path: str
    raw: bytes
    split: str | None
    split_is_column: bool  # the split is the rows whose 'split' column holds it, not a file


def read_table(conn: Any, data: str, split: str | None) -> Table:
    return parse_table(table_source(conn, data, split))


def table_source(conn: Any, data: str, split: str | None) -> TableSource:
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
    return TableSource(view.ref, view.digest, path, raw, split, split is not None and not named)


def parse_table(source: TableSource) -> Table:
    try:
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError:
        raise InvalidInput("evaluations read tables with pandas: pip install 'modelkeep[evaluate]'") from None

    raw, path, split = io.BytesIO(source.raw), source.path, source.split
    frame = pd.read_csv(raw) if path.lower().endswith(".csv") else pd.read_parquet(raw)
    if source.split_is_column:
        if "split" not in frame.columns:
            raise InvalidInput(f"{source.ref}: no file named after split {split!r} and no 'split' column in {path}")
        frame = frame[frame["split"].astype(str) == split].reset_index(drop=True)
        if frame.empty:
            raise InvalidInput(f"{source.ref}: no rows whose split is {split!r}")
    return Table(source.ref, source.digest, frame, split)


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


@dataclass(frozen=True)
class ModelFiles:
    """A version's files fetched to this machine: what loading and scoring it needs."""

    ref: str
    folder: str
    inputs: list[str]  # the signature's input columns (none: the model's own, else the numeric ones)


def model_files(conn: Any, ref: str) -> tuple[Any, ModelFiles]:
    from modelkeep.services.model_files import cached_files

    view = conn.registry.get(ref)
    folder = cached_files(conn.store, view, conn.model_cache)
    inputs = [str(c.get("name")) for c in (view.signature or {}).get("inputs") or []]
    return view, ModelFiles(view.ref, str(folder), inputs)


@dataclass
class Scoring:
    """One table scored by one or more versions: each :class:`Scored` carries its built-in
    metrics' point values, on all rows and per slice."""

    target: str
    task: str
    slices: np.ndarray | None  # each row's slice value (as text), with a slice column
    scored: list[Scored]


def score_table(table: Table, models: list[ModelFiles], target: str | None, slice_by: str | None, *,
                allow_pickle: bool = False, trusted: list[str] | None = None) -> Scoring:
    """Load each version and score it on the table's rows (here, or in a scoring process)."""
    column = pick_target(table.frame, target)
    if slice_by is not None and slice_by not in table.frame.columns:
        raise InvalidInput(f"slice column {slice_by!r} is not in {table.ref} ({', '.join(map(str, table.frame.columns))})")
    scored = [score_files(m, table, column, slice_by, allow_pickle=allow_pickle, trusted=trusted) for m in models]
    task = task_of(scored[0].y)
    slices = table.frame[slice_by].astype(str).to_numpy() if slice_by is not None else None
    with_points = [replace(s, points=points_by_slice(dict(usable(builtin(task), s)), s, slices, slice_by)) for s in scored]
    return Scoring(column, task, slices, with_points)


def score_files(model: ModelFiles, table: Table, target: str, slice_by: str | None, *, allow_pickle: bool = False,
                trusted: list[str] | None = None) -> Scored:
    from modelkeep.services.model_files import load_version

    obj, flavor = load_version(Path(model.folder), allow_pickle=allow_pickle, trusted=list(trusted or []))
    frame = table.frame
    names = model.inputs or [str(c) for c in getattr(obj, "feature_names_in_", [])]
    if not names:  # no signature: the numeric columns but the label, the slice column and split
        names = [str(c) for c in frame.columns if c not in (target, slice_by, "split") and frame[c].dtype.kind in "biuf"]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InvalidInput(f"{table.ref} lacks column {missing[0]!r} of {model.ref}'s inputs ({', '.join(names)})")
    x = frame[names].to_numpy()
    y = frame[target].to_numpy()
    try:
        return _predict(obj, flavor, x, y)
    except ModelKeepError:
        raise
    except Exception as exc:  # the model's own failure on these rows: said plainly, no traceback
        raise InvalidInput(f"{model.ref} failed on {table.ref} ({len(names)} input columns: "
                           f"{', '.join(names[:8])}): {type(exc).__name__}: {exc}") from exc


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


class Scorer:
    """Loads versions and scores them on tables, in this process."""

    def __init__(self, conn: Any, *, allow_pickle: bool = False, trusted: list[str] | None = None) -> None:
        self.conn, self.allow_pickle, self.trusted = conn, allow_pickle, list(trusted or [])

    def score(self, ref: str, table: Table, target: str, slice_by: str | None) -> tuple[Any, Scored]:
        view, files = model_files(self.conn, ref)
        return view, score_files(files, table, target, slice_by, allow_pickle=self.allow_pickle, trusted=self.trusted)


def evaluate(conn: Any, ref: str, data: str, *, split: str | None = None, slice_by: str | None = None,
             target: str | None = None, metrics: list[str] | None = None, allow_pickle: bool = False,
             trusted: list[str] | None = None, reuse: bool = True) -> EvaluationView:
    """Score ``ref`` on dataset version ``data`` and record it (or find the record made before)."""
    from modelkeep.services.evaluation.records import EvaluationRecord

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
    """Point values (to 6 places, with the row count ``n``) on all rows, and on the rows of each
    value of the slice column: what an evaluation records."""
    found = points_by_slice(metrics, scored, slices, slice_by)
    counts = {"all": len(scored.y)}
    if slices is not None and slice_by:
        values, sizes = np.unique(slices, return_counts=True)
        counts |= {f"{slice_by}={v}": int(c) for v, c in zip(values, sizes, strict=True)}
    return {name: {"n": float(counts[name])} | {k: round(v, 6) for k, v in values_.items() if v is not None}
            for name, values_ in found.items()}


def points_by_slice(metrics: dict[str, Metric], scored: Scored, slices: np.ndarray | None,
                    slice_by: str | None) -> dict[str, dict[str, float | None]]:
    """Each metric's point value on all rows and per slice (None: not defined there, e.g. auc on a
    slice of one class); the values ``scored`` already carries are taken as they are."""
    out = {"all": _points(metrics, scored, "all")}
    if slices is not None and slice_by:
        for value in sorted(set(slices)):
            mask = slices == value
            name = f"{slice_by}={value}"
            out[name] = _points(metrics, scored, name, Scored(
                scored.y[mask], scored.pred[mask], None if scored.score is None else scored.score[mask]))
    return out


def _points(metrics: dict[str, Metric], scored: Scored, name: str, rows: Scored | None = None) -> dict[str, float | None]:
    known = (scored.points or {}).get(name, {})
    out: dict[str, float | None] = {}
    for metric_name, metric in metrics.items():
        if metric_name in known:
            out[metric_name] = known[metric_name]
            continue
        try:
            out[metric_name] = float(metric.point(rows or scored))
        except ValueError:  # e.g. auc on a slice holding one class only
            out[metric_name] = None
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
