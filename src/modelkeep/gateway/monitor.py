"""Per-arm measurements: the current analysis window, and the Prometheus series.

The request path only appends to the open window and bumps pre-bound Prometheus children; the
control loop swaps the window out (``rotate``) and computes distributions and drift from it.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from modelkeep.services.deploy.windows import WindowSummary

MAX_ROWS = 5_000  # feature rows and predictions kept per window (drift needs a sample, not all)
LABELS = ["deployment", "model", "version", "arm"]
LIVE: dict[str, Any] = {"multiprocess_mode": "livemostrecent"}  # gauges across workers: a live one's latest


class Metrics:
    """The gateway's Prometheus registry (one per gateway, so tests can run several in a process).

    With ``mk serve --workers N`` every worker writes into prometheus_client's multiprocess folder
    (``PROMETHEUS_MULTIPROC_DIR``, set by ``mk serve``) and :meth:`exposition` merges them: counters
    and histograms summed over the workers (never going backwards whichever worker a scrape
    reaches), gauges the most recent value of a live worker."""

    def __init__(self) -> None:
        disable_created_metrics()  # the *_created series only double the output
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("modelkeep_gateway_requests", "Requests served, by outcome (ok, error, shadow_ok, "
                                "shadow_error)", [*LABELS, "outcome"], registry=self.registry)
        self.latency = Histogram("modelkeep_gateway_latency_seconds", "Model latency per request",
                                 LABELS, registry=self.registry,
                                 buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.bad_requests = Counter("modelkeep_gateway_bad_requests", "Requests refused as malformed (4xx)",
                                    ["deployment"], registry=self.registry)
        self.weight = Gauge("modelkeep_gateway_traffic_weight", "Share of traffic routed to the arm (percent)",
                            LABELS, registry=self.registry, **LIVE)
        self.prediction_share = Gauge("modelkeep_gateway_prediction_share", "Share of each predicted value in the "
                                      "last window", [*LABELS, "value"], registry=self.registry, **LIVE)
        self.prediction_mean = Gauge("modelkeep_gateway_prediction_mean", "Mean prediction in the last window",
                                     LABELS, registry=self.registry, **LIVE)
        self.feature_psi = Gauge("modelkeep_gateway_feature_psi", "PSI of a numeric feature against the version's "
                                 "training data", [*LABELS, "feature"], registry=self.registry, **LIVE)
        self.feature_js = Gauge("modelkeep_gateway_feature_js", "Jensen-Shannon distance of a categorical feature "
                                "against the training data", [*LABELS, "feature"], registry=self.registry, **LIVE)
        self.prediction_drift = Gauge("modelkeep_gateway_prediction_drift", "PSI (numeric) or JS distance "
                                      "(categorical) of predictions against the version's baseline", LABELS,
                                      registry=self.registry, **LIVE)
        self.quality = Gauge("modelkeep_gateway_feedback_metric", "Accuracy, precision and recall from feedback "
                             "labels in the last window", [*LABELS, "metric"], registry=self.registry, **LIVE)
        self.business = Gauge("modelkeep_gateway_business_metric", "Mean of a posted business metric in the last "
                              "window", [*LABELS, "metric"], registry=self.registry, **LIVE)
        self.agreement = Gauge("modelkeep_gateway_shadow_agreement", "Share of shadow answers equal to the primary's",
                               LABELS, registry=self.registry, **LIVE)
        self.degraded = Gauge("modelkeep_gateway_degraded", "1 while the arm is degraded against its own baseline",
                              LABELS, registry=self.registry, **LIVE)


    def exposition(self) -> bytes:
        """The text a scrape gets: this gateway's series, or every worker's, merged."""
        import os

        from prometheus_client import generate_latest

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)


def labels_of(deployment: str, model_ref: str, arm: str) -> dict[str, str]:
    model, _, version = model_ref.partition("@")
    return {"deployment": deployment, "model": model, "version": version, "arm": arm}


class ArmStats:
    """The open window of one arm (one pinned version), thread-safe."""

    def __init__(self, metrics: Metrics, deployment: str, arm: str, model: str) -> None:
        self.arm, self.model = arm, model
        self.labels = labels_of(deployment, model, arm)
        self.metrics = metrics
        # (served, shadow copy): a blue-green standby is mirrored, then serves after a switch
        self._ok = {False: metrics.requests.labels(**self.labels, outcome="ok"),
                    True: metrics.requests.labels(**self.labels, outcome="shadow_ok")}
        self._err = {False: metrics.requests.labels(**self.labels, outcome="error"),
                     True: metrics.requests.labels(**self.labels, outcome="shadow_error")}
        self._latency = metrics.latency.labels(**self.labels)
        self._lock = threading.Lock()
        self._window = WindowSummary(arm, model)
        self._arrays: list[np.ndarray] = []
        self._kept = 0
        self.compared = self.agreed = 0

    def record(self, latency_ms: float, rows: np.ndarray, predictions: list[Any], *, shadow: bool = False) -> None:
        self._ok[shadow].inc()
        self._latency.observe(latency_ms / 1000.0)
        with self._lock:
            w = self._window
            w.n += 1
            w.latencies_ms.append(latency_ms)
            if self._kept < MAX_ROWS:
                self._arrays.append(rows)
                self._kept += len(rows)
                w.predictions.extend(predictions)

    def record_error(self, latency_ms: float, *, shadow: bool = False) -> None:
        self._err[shadow].inc()
        with self._lock:
            self._window.n += 1
            self._window.errors += 1
            self._window.latencies_ms.append(latency_ms)

    def record_agreement(self, agreed: bool) -> None:
        with self._lock:
            self.compared += 1
            self.agreed += agreed

    def feedback(self, prediction: Any, label: Any, positive: str) -> None:
        hit, pred_pos, label_pos = _same(prediction, label), _same(prediction, positive), _same(label, positive)
        with self._lock:
            w = self._window
            w.labeled += 1
            w.correct += hit
            w.tp += pred_pos and label_pos
            w.fp += pred_pos and not label_pos
            w.fn += label_pos and not pred_pos

    def business(self, metric: str, value: float) -> None:
        with self._lock:
            self._window.business.setdefault(metric, []).append(value)

    def rotate(self) -> tuple[WindowSummary, float | None]:
        """Close the window; returns it (rows filled in) and the shadow agreement of the window."""
        with self._lock:
            window, arrays = self._window, self._arrays
            agreement = self.agreed / self.compared if self.compared else None
            self._window, self._arrays, self._kept = WindowSummary(self.arm, self.model), [], 0
            self.compared = self.agreed = 0
        if arrays:
            window.rows = np.concatenate(arrays)[:MAX_ROWS].tolist() if arrays[0].dtype != object else [
                r for a in arrays for r in a.tolist()][:MAX_ROWS]
        return window, agreement

    def export(self, window: WindowSummary, health: dict[str, Any], agreement: float | None) -> None:
        """Publish a closed window's distributions, drift and quality as gauges."""
        m, labels = self.metrics, self.labels
        values = [_flat(p) for p in window.predictions]
        if values and all(isinstance(v, int | str | bool) for v in values[:200]):
            counts: dict[str, int] = {}
            for v in values:
                counts[str(v)] = counts.get(str(v), 0) + 1
            for value, count in sorted(counts.items(), key=lambda kv: -kv[1])[:20]:
                m.prediction_share.labels(**labels, value=value).set(count / len(values))
        elif values:
            try:
                m.prediction_mean.labels(**labels).set(float(np.mean(np.asarray(values, dtype=np.float64))))
            except (TypeError, ValueError):
                pass
        for feature, drift in (health.get("feature_drift") or {}).items():
            if "psi" in drift:
                m.feature_psi.labels(**labels, feature=feature).set(drift["psi"])
            if "js" in drift:
                m.feature_js.labels(**labels, feature=feature).set(drift["js"])
        pd = health.get("prediction_drift") or {}
        if "psi" in pd or "js" in pd:
            m.prediction_drift.labels(**labels).set(pd.get("psi", pd.get("js", 0.0)))
        brief = window.brief()
        for metric in ("accuracy", "precision", "recall"):
            if brief[metric] is not None:
                m.quality.labels(**labels, metric=metric).set(brief[metric])
        for metric, stats in brief["business"].items():
            m.business.labels(**labels, metric=metric).set(stats["mean"])
        if agreement is not None:
            m.agreement.labels(**labels).set(agreement)
        m.degraded.labels(**labels).set(1.0 if health.get("degraded") else 0.0)


def _flat(value: Any) -> Any:
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _same(a: Any, b: Any) -> bool:
    a, b = _flat(a), _flat(b)
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)
