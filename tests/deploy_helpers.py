"""Shared set-up for deployment and gateway tests: versions of a small model, and traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelkeep.examples import LinearClassifier, Scaler
from modelkeep.gateway.runtime import Gateway
from modelkeep.services.deploy.predictor import ModelLoader
from modelkeep.services.models.views import VersionView
from modelkeep.services.workspace import Workspace

CLASS = "modelkeep.examples:LinearClassifier"
SCALER = "modelkeep.examples:Scaler"
RNG = np.random.default_rng(0)
TRAIN = RNG.normal(size=(3000, 3))


def register(ws: Workspace, coef: list[float], *, intercept: float = -1.0, fault: Path | None = None,
             name: str = "clf", accuracy: float = 0.95, inputs: int = 3) -> VersionView:
    """A version of a linear classifier (about 20 % ones on TRAIN) with its baseline profile."""
    model = LinearClassifier(coef, intercept, str(fault) if fault else None)
    data = TRAIN[:, :inputs]
    with ws.runs.start("train") as run:
        run.seed(0)
        return run.log_model(model, name, flavor="python", sample_input=data[:5], baseline=data,
                             metrics={"accuracy": accuracy})


def register_scaler(ws: Workspace) -> VersionView:
    with ws.runs.start("features") as run:
        run.seed(0)
        return run.log_model(Scaler([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]), "features", flavor="python",
                             sample_input=TRAIN[:5])


class FakeTime:
    """A clock the test moves: inject ``now`` as the gateway's clock or latency timer, and make a
    ``slow:MS`` model advance it (``LinearClassifier.SLEEP = fake.advance``) instead of sleeping."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def gateway(ws: Workspace, name: str, tmp: Path, *, trusted: list[str] | None = None, **clocks: Any) -> Gateway:
    loader = ModelLoader(ws.registry, ws.store, tmp / "serve-cache", trusted=trusted)
    clocks.setdefault("timer", FakeTime().now)  # latencies 0 unless a test makes a model slow: load cannot sway a verdict
    gw = Gateway(ws.deployments, loader, name, gateway_id="test", **clocks)
    gw.start(control=False)
    return gw


def rows(n: int, *, shift: float = 0.0, seed: int = 1) -> list[list[float]]:
    data = np.random.default_rng(seed).normal(size=(n, 3))
    data[:, :2] += shift
    return data.tolist()


def send(gw: Gateway, data: list[list[float]], *, prefix: str = "k") -> list[dict[str, Any]]:
    """One request per row, each with its own sticky key; model failures come back as errors."""
    from modelkeep.services.deploy.predictor import ModelFailure

    out = []
    for i, row in enumerate(data):
        try:
            out.append(gw.infer([row], f"{prefix}{i}"))
        except ModelFailure as exc:
            out.append({"error": str(exc), "arm": exc.arm, "model": exc.model})
    return out


def truth(row: list[float]) -> int:
    """Ground truth the stable model gets right about 95 % of the time."""
    return int(row[0] + 0.5 * row[1] - 1.0 > 0)
