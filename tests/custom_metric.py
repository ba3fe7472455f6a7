"""A custom metric for tests/test_evaluation.py (imported only when trusted)."""

import numpy as np


def error_rate(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true != y_pred))


error_rate.higher_is_better = False  # type: ignore[attr-defined]
