"""Built-in metrics, as scikit-learn computes them, and the same metrics under bootstrap weights.

A point value comes from ``sklearn.metrics``. For intervals, each metric is also written as a
weighted statistic over rows, evaluated for a whole batch of weight vectors at once (one row of
``W`` per bootstrap resample: how many times each row was drawn). With all weights 1 the
weighted form equals scikit-learn's value (tested), so an interval is around the number the
record shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelkeep.errors import InvalidInput


@dataclass(frozen=True)
class Scored:
    """What one version made of one dataset: truth, predictions and (classifiers) scores."""

    y: np.ndarray
    pred: np.ndarray
    score: np.ndarray | None  # probability of the positive class (binary classifiers)
    # point values already taken on these rows: slice ("all", "COL=VALUE") -> metric -> value (None: undefined)
    points: dict[str, dict[str, float | None]] | None = None

    def known(self, metric: str, slice_name: str = "all") -> float | None:
        """A point value taken before (by whichever process scored), else None."""
        return (self.points or {}).get(slice_name, {}).get(metric)


@dataclass(frozen=True)
class Counted:
    """A metric that is a function of weighted counts of yes/no columns of the rows: ``columns``
    gives the (rows × c) columns, ``finish`` the metric from their (B × c) weighted sums and the
    (B,) total weights. Many such metrics, of both versions, take one product per resample batch."""

    columns: Callable[[Scored], np.ndarray]
    finish: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def weighted(self, s: Scored, w: np.ndarray) -> np.ndarray:
        sums = weighted_counts(np.column_stack([np.ones(len(s.y), dtype=bool), self.columns(s)]), w)
        return self.finish(sums[:, 1:], sums[:, 0])


def weighted_counts(columns: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``w @ columns`` for yes/no columns: in float32 when that is exact (integer counts below 2**24
    rows; no float64 copy of ``w``: ten times faster), else in float64."""
    exact = w.dtype == np.float32 and w.shape[1] < 2**24
    return np.asarray(w @ columns.astype(np.float32 if exact else np.float64), dtype=np.float64)


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    point: Callable[[Scored], float]
    weighted: Callable[[Scored, np.ndarray], np.ndarray] | None  # (B, n) weights -> B values
    counted: Counted | None = None  # the same as weighted counts (then ``weighted`` is its own)

    @classmethod
    def of_counts(cls, name: str, higher_is_better: bool, point: Callable[[Scored], float], counted: Counted) -> Metric:
        return cls(name, higher_is_better, point, counted.weighted, counted)


def _wmean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w @ values.astype(np.float64)) / w.sum(axis=1)


def _accuracy(s: Scored) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(s.y, s.pred))


def _auc(s: Scored) -> float:
    from sklearn.metrics import roc_auc_score

    if s.score is None:
        raise InvalidInput("auc needs scores: the model has no predict_proba")
    return float(roc_auc_score(s.y, s.score))


AUC_BINS = 8192
_histograms: dict[int, tuple[np.ndarray, Any, int]] = {}


def _histogram_matrix(s: Scored) -> tuple[Any, int]:
    """A sparse (rows × 2K) matrix sending each row's weight to its score bin, positives in the
    first K columns: exact when there are at most :data:`AUC_BINS` distinct scores (tree models),
    else quantile bins of equal size (an AUC within about 1e-5 of the exact one)."""
    import scipy.sparse as sparse

    assert s.score is not None
    cached = _histograms.get(id(s.score))
    if cached is not None and cached[0] is s.score:
        return cached[1], cached[2]
    distinct = np.unique(s.score)
    edges = distinct[1:] if len(distinct) <= AUC_BINS else np.quantile(s.score, np.linspace(0, 1, AUC_BINS + 1)[1:-1])
    k = len(edges) + 1
    bins = np.searchsorted(edges, s.score, side="right")
    columns = bins + k * (s.y != _positive(s.y))
    matrix = sparse.csr_matrix((np.ones(len(bins), dtype=np.float32), (np.arange(len(bins)), columns)),
                               shape=(len(bins), 2 * k))
    if len(_histograms) > 8:
        _histograms.clear()
    _histograms[id(s.score)] = (s.score, matrix, k)
    return matrix, k


def _auc_weighted(s: Scored, w: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC for every row of ``w`` (ties count a half), from each resample's
    histograms of positive and negative weight over the score bins."""
    if s.score is None:
        raise InvalidInput("auc needs scores: the model has no predict_proba")
    matrix, k = _histogram_matrix(s)
    hist = np.asarray(w @ matrix, dtype=np.float64)  # (B, 2K): rows × bins, in one sparse pass
    hp, hn = hist[:, :k], hist[:, k:]
    below = np.cumsum(hn, axis=1) - hn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((hp * (below + 0.5 * hn)).sum(axis=1) / (hp.sum(axis=1) * hn.sum(axis=1)))


def _positive(y: np.ndarray) -> Any:
    values = np.unique(y)
    return values.max() if len(values) else 1


def _f1(s: Scored) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(s.y, s.pred, pos_label=_positive(s.y), zero_division=0.0))


def _f1_columns(s: Scored) -> np.ndarray:
    positive = _positive(s.y)
    truth, said = s.y == positive, s.pred == positive
    return np.column_stack([truth & said, ~truth & said, truth & ~said])  # tp, fp, fn


def _f1_finish(sums: np.ndarray, total: np.ndarray) -> np.ndarray:
    tp, fp, fn = sums.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)


def _log_loss(s: Scored) -> float:
    from sklearn.metrics import log_loss

    if s.score is None:
        raise InvalidInput("log_loss needs scores: the model has no predict_proba")
    return float(log_loss(s.y == _positive(s.y), s.score, labels=[False, True]))


def _log_loss_rows(s: Scored) -> np.ndarray:
    assert s.score is not None
    p = np.clip(s.score, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    return np.asarray(np.where(s.y == _positive(s.y), -np.log(p), -np.log(1 - p)))


def _regression(s: Scored) -> tuple[np.ndarray, np.ndarray]:
    return s.y.astype(np.float64), s.pred.astype(np.float64)


def _rmse(s: Scored) -> float:
    from sklearn.metrics import mean_squared_error

    return float(np.sqrt(mean_squared_error(s.y, s.pred)))


def _mae(s: Scored) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(s.y, s.pred))


def _r2(s: Scored) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(s.y, s.pred))


def _r2_weighted(s: Scored, w: np.ndarray) -> np.ndarray:
    y, pred = _regression(s)
    total = w.sum(axis=1)
    mean = (w @ y) / total
    ss_res = w @ ((y - pred) ** 2)
    ss_tot = w @ (y**2) - total * mean**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(1 - ss_res / ss_tot)


CLASSIFICATION = {
    "accuracy": Metric.of_counts("accuracy", True, _accuracy,
                                 Counted(lambda s: (s.y == s.pred)[:, None], lambda sums, total: sums[:, 0] / total)),
    "auc": Metric("auc", True, _auc, _auc_weighted),
    "f1": Metric.of_counts("f1", True, _f1, Counted(_f1_columns, _f1_finish)),
    "log_loss": Metric("log_loss", False, _log_loss, lambda s, w: _wmean(_log_loss_rows(s), w)),
}
REGRESSION = {
    "rmse": Metric("rmse", False, _rmse, lambda s, w: np.sqrt(_wmean((_regression(s)[0] - _regression(s)[1]) ** 2, w))),
    "mae": Metric("mae", False, _mae, lambda s, w: _wmean(np.abs(_regression(s)[0] - _regression(s)[1]), w)),
    "r2": Metric("r2", True, _r2, _r2_weighted),
}


def builtin(task: str) -> dict[str, Metric]:
    return CLASSIFICATION if task == "classification" else REGRESSION


def custom(path: str, trusted: list[str]) -> Metric:
    """A metric function ``module:function(y_true, y_pred) -> float`` the caller trusts (importing
    runs the module's code); higher is better unless the function says ``higher_is_better = False``."""
    from pathlib import Path

    from modelkeep.flavors.trust import import_trusted

    func = import_trusted(Path(path), path, trusted)
    name = path.rsplit(":", 1)[-1]
    return Metric(name, bool(getattr(func, "higher_is_better", True)), lambda s: float(func(s.y, s.pred)), None)


def usable(metrics: dict[str, Metric], scored: Scored) -> dict[str, Metric]:
    """The metrics this model's output allows (no scores: no auc or log_loss)."""
    return {k: m for k, m in metrics.items() if scored.score is not None or k not in ("auc", "log_loss")}
