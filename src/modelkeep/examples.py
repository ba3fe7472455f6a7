"""Small models for trying the gateway (``flavor="python"``), used by the demo, tests and benchmarks.

``LinearClassifier`` scores ``x · coef + intercept`` and predicts 1 above 0. Given ``fault_file``,
it checks that file (at most every 50 ms) and misbehaves on purpose while it exists: ``fail``
raises, ``degrade`` flips its answers, ``slow:MS`` sleeps. That is how the demo and the
benchmark inject a fault into a running canary without touching the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class LinearClassifier:
    CHECK_S = 0.05  # how often the fault file is looked at
    SLEEP: Callable[[float], None] = staticmethod(time.sleep)  # ``slow:MS`` (tests advance a fake clock instead)

    def __init__(self, coef: list[float], intercept: float = 0.0, fault_file: str | None = None) -> None:
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.fault_file = fault_file
        self._checked = 0.0
        self._fault = ""

    def get_config(self) -> dict[str, Any]:
        return {"coef": self.coef.tolist(), "intercept": self.intercept, "fault_file": self.fault_file}

    def _current_fault(self) -> str:
        if self.fault_file is None:
            return ""
        now = time.monotonic()
        if now - self._checked >= self.CHECK_S:
            self._checked = now
            path = Path(self.fault_file)
            self._fault = path.read_text().strip() if path.exists() else ""
        return self._fault

    def predict(self, x: np.ndarray) -> np.ndarray:
        fault = self._current_fault()
        if fault == "fail":
            raise RuntimeError("injected fault")
        if fault.startswith("slow:"):
            type(self).SLEEP(float(fault[5:]) / 1000)
        out = (np.asarray(x, dtype=np.float64) @ self.coef + self.intercept > 0).astype(np.int64)
        return 1 - out if fault == "degrade" else out


class Scaler:
    """A preprocessing step: ``(x - mean) / scale``."""

    def __init__(self, mean: list[float], scale: list[float]) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
