"""The gateway's live state and its control loop.

``Live`` is an immutable snapshot (revision, spec, router, loaded arms); a new revision is
loaded and warmed up beside the old one and swapped in with one assignment, so requests never
see half a change and a version that fails to load gets no traffic. The control loop (a thread)
polls the deployment's revision, closes analysis windows, publishes metrics and reports, raises
alerts, advances canaries and rolls back - each change a compare-and-set on the revision.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelkeep.errors import Conflict, InvalidInput, ModelKeepError, NotFound, Unavailable
from modelkeep.gateway.monitor import ArmStats, Metrics, labels_of
from modelkeep.gateway.predlog import PredictionLog
from modelkeep.services.deploy.analysis import (
    Baseline,
    WindowSummary,
    alone,
    attribute,
    compare,
    health,
    verdict,
)
from modelkeep.services.deploy.predictor import (
    ArmPredictor,
    ModelFailure,
    ModelLoader,
    rows_to_array,
    validation,
)
from modelkeep.services.deploy.routing import Router
from modelkeep.services.deploy.sequential import SequentialErrors
from modelkeep.services.deploy.spec import DeploymentSpec, Pinned
from modelkeep.services.deploy.windows import pool_windows
from modelkeep.services.interface import DeploymentControl

log = logging.getLogger("modelkeep.gateway")
RECENT = 200_000  # predictions remembered for feedback
SHADOW_QUEUE = 1_000  # shadow copies waiting; beyond this they are dropped (and counted), never queued on the primary
ALERT_REPEAT_S = 60.0


@dataclass(frozen=True)
class Live:
    revision: int
    status: str
    spec: DeploymentSpec
    router: Router
    arms: dict[str, ArmPredictor]
    shadows: list[tuple[str, float, ArmPredictor]]  # (arm, fraction, predictor): copies never answered
    failed: dict[str, str]
    stats: dict[str, ArmStats]  # arm -> the measurements of the version it pins now
    loaded_at: float = 0.0  # the gateway's clock when this revision went live


class Gateway:
    def __init__(self, deployments: DeploymentControl, loader: ModelLoader, name: str, *, gateway_id: str | None = None,
                 poll_s: float = 0.5, window_s: float | None = None, dispatch: Callable[[], object] | None = None,
                 prediction_log: PredictionLog | None = None, clock: Callable[[], float] = time.monotonic,
                 timer: Callable[[], float] = time.perf_counter, pin: str | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        """``clock`` (seconds) drives windows, bake times and alert repeats; ``timer`` (seconds)
        measures each prediction's latency. Tests inject both, so no verdict reads the wall clock.
        ``pin`` (an exact ``NAME@VERSION`` the deployment pins): serve that version alone, with
        the deployment's policy, monitoring and contract, and never route, advance or roll back:
        something else (Kubernetes: KServe, Argo Rollouts) splits traffic and decides from this
        gateway's metrics (``mk deploy export``). ``wall`` (seconds since the epoch, alike on every
        host) numbers the windows replicas pool (``Policy.pooled``)."""
        self.pin = pin
        self.wall = wall
        self._window_no: int | None = None  # pooled: the wall-clock window being measured
        self.deployments = deployments
        self.loader = loader
        self.name = name
        self.clock = clock
        self.timer = timer
        self.gateway_id = gateway_id or f"{socket.gethostname()}:{os.getpid()}"
        self.poll_s = poll_s
        self.window_override = window_s
        self.metrics = Metrics()
        self.live: Live | None = None
        self.stats: dict[tuple[str, str], ArmStats] = {}
        self.baselines: dict[int, Baseline] = {}
        self.sequential: dict[int, SequentialErrors] = {}  # revision -> evidence across its windows
        self.recent: OrderedDict[str, tuple[str, str, Any]] = OrderedDict()
        self.shadow_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self.shadow_submitted = 0  # written by the serving thread only
        self.shadow_done = 0  # written by the shadow thread only
        self.shadow_dropped = 0
        self.last_report: dict[str, Any] = {}
        self.failing_windows = 0
        self.alerted: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._window_started = self.clock()
        self._last_poll = 0.0
        self._dispatch = dispatch  # delivers the events outbox (alerts, rollbacks) to webhooks
        self.prediction_log = prediction_log
        self._last_dispatch = 0.0

    # --- loading ----------------------------------------------------------------------------

    def start(self, *, control: bool = True) -> None:
        self.reload()
        if control:
            self._thread = threading.Thread(target=self._control_loop, name="gateway-control", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.shadow_pool.shutdown(wait=False, cancel_futures=True)
        if self.prediction_log is not None:
            self.prediction_log.close()

    def reload(self) -> bool:
        """Load the current revision if it is new; True when it changed."""
        revision, spec, status = self.deployments.spec(self.name)
        if self.live is not None and self.live.revision == revision:
            return False
        if self.pin is not None:
            only = spec.alone(self.pin)
            if only is None and self.live is not None:
                log.warning("deployment %s revision %d no longer pins %s: still serving it", self.name, revision, self.pin)
                return False
            if only is None:
                pins = ", ".join(sorted(p.model for p in spec.pinned()))
                raise InvalidInput(f"deployment {self.name} does not pin {self.pin}; it pins {pins}",
                                   hint="pass one of those exact versions to --pin")
            spec = only
        previous = self.live
        arms: dict[str, ArmPredictor] = {}
        failed: dict[str, str] = {}
        warm_rows = list(spec.smoke)
        for pinned in spec.pinned():
            weight = getattr(pinned, "weight", None)
            if weight == 0 and spec.strategy not in ("bluegreen", "canary"):
                continue
            arm = self._reuse(previous, pinned) or self._load(pinned, spec, warm_rows, failed)
            if arm is not None:
                arms[pinned.name] = arm
        unavailable = {a.name for a in spec.arms if a.name not in arms}
        fallback = spec.stable if spec.stable in arms else next(iter(arms), spec.stable)
        router = Router(self.name, [(a.name, a.weight) for a in spec.arms], fallback=fallback, unavailable=unavailable)
        shadows = [(s.name, s.fraction, arms[s.name]) for s in spec.shadows if s.name in arms]
        if spec.strategy == "bluegreen" and spec.mirror > 0:
            standby = [a for a in spec.arms if a.weight == 0 and a.name in arms]
            shadows += [(a.name, spec.mirror, arms[a.name]) for a in standby]
        for pinned in spec.pinned():  # measurements carry over while an arm keeps its version
            key = (pinned.name, pinned.model)
            if key not in self.stats and pinned.name in arms:
                self.stats[key] = ArmStats(self.metrics, self.name, pinned.name, pinned.model)
        stats = {p.name: self.stats[(p.name, p.model)] for p in spec.pinned() if p.name in arms}
        live = Live(revision, status, spec, router, arms, shadows, failed, stats, loaded_at=self.clock())
        share = router.share()
        for a in spec.arms:
            self.metrics.weight.labels(**labels_of(self.name, a.model, a.name)).set(share.get(a.name, 0.0))
        self.live = live  # one assignment: requests see the old revision or the new one, never half
        self.failing_windows = 0
        self._window_started = self.clock()
        log.info("deployment %s revision %d live: %s", self.name, revision, share)
        return True

    def _reuse(self, previous: Live | None, pinned: Pinned) -> ArmPredictor | None:
        if previous is None:
            return None
        for arm in previous.arms.values():
            if arm.pinned.version_id == pinned.version_id and arm.pinned.preprocess_id == pinned.preprocess_id:
                clone = ArmPredictor(pinned, arm.model, arm.preprocess, arm.load_ms)
                clone.warmup_ms = arm.warmup_ms
                return clone
        return None

    def _load(self, pinned: Pinned, spec: DeploymentSpec, warm_rows: list[Any], failed: dict[str, str]) -> ArmPredictor | None:
        try:
            arm = self.loader.load(pinned, spec.trusted)
            baseline = self.baseline(pinned)
            arm.warm_up(warm_rows or list((baseline.profile or {}).get("sample", []))[:10])
            return arm
        except Exception as exc:
            message = f"{pinned.model} failed to load: {type(exc).__name__}: {exc}"
            log.error("%s", message)
            failed[pinned.name] = message
            return None

    def baseline(self, pinned: Pinned) -> Baseline:
        cached = self.baselines.get(pinned.version_id)
        if cached is None:
            version = self.loader.registry.get(pinned.model)
            metrics = {k: v for k, v in version.metrics.items() if isinstance(v, int | float)}
            cached = Baseline((version.metadata or {}).get("baseline"), metrics)
            self.baselines[pinned.version_id] = cached
        return cached

    # --- serving ----------------------------------------------------------------------------

    @property
    def shadow_pending(self) -> int:
        """Shadow copies queued or running (two counters, each written by one thread: no lock)."""
        return self.shadow_submitted - self.shadow_done

    def current(self) -> Live:
        if self.live is None:
            raise Unavailable(f"deployment {self.name} is not loaded yet")
        return self.live

    def infer(self, rows: Any, key: str | None, request_id: str | None = None, *, arm_name: str | None = None) -> dict[str, Any]:
        live = self.current()
        if arm_name is None:
            route = live.router.route(key)
            arm_name = route.arm
        arm = live.arms.get(arm_name)
        if arm is None:
            raise Unavailable(f"no loaded version can serve {self.name}: {'; '.join(live.failed.values()) or 'none'}")
        try:
            array = rows_to_array(rows, arm.inputs)
        except InvalidInput:
            self.metrics.bad_requests.labels(deployment=self.name).inc()
            raise
        stats = live.stats[arm_name]
        started = self.timer()
        try:
            predictions = arm.predict(array)
        except ModelFailure:
            stats.record_error((self.timer() - started) * 1000)
            raise
        stats.record((self.timer() - started) * 1000, array, predictions)
        request_id = request_id or uuid.uuid4().hex
        recent = self.recent
        recent[request_id] = (arm_name, arm.pinned.model, predictions[0] if len(predictions) == 1 else predictions)
        if len(recent) > RECENT:
            recent.popitem(last=False)
        if live.shadows:
            self._shadow(live, array, predictions)
        if self.prediction_log is not None:
            self.prediction_log.record(request_id, key, arm_name, arm.pinned.model, live.revision, predictions)
        return {"predictions": predictions, "model": arm.pinned.model, "arm": arm_name, "request_id": request_id,
                "revision": live.revision}

    def _shadow(self, live: Live, array: np.ndarray, primary: list[Any]) -> None:
        for name, fraction, arm in live.shadows:
            if fraction < 1.0 and random.random() >= fraction:
                continue
            if self.shadow_pending >= SHADOW_QUEUE:
                self.shadow_dropped += 1
                continue
            self.shadow_submitted += 1
            self.shadow_pool.submit(self._run_shadow, live.stats[name], arm, array, primary)

    def _run_shadow(self, stats: ArmStats, arm: ArmPredictor, array: np.ndarray, primary: list[Any]) -> None:
        try:
            started = self.timer()
            try:
                answer = arm.predict(array)
            except ModelFailure:
                stats.record_error((self.timer() - started) * 1000, shadow=True)
                return
            stats.record((self.timer() - started) * 1000, array, answer, shadow=True)
            stats.record_agreement(answer == primary)
        finally:
            self.shadow_done += 1

    def feedback(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Ground-truth labels (``label``) and business metrics (``metrics``) for earlier requests."""
        live = self.current()
        accepted, unknown = 0, []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
                raise InvalidInput(f"feedback[{i}]: expected an object with a string 'request_id'")
            metrics = item.get("metrics", {})
            if not isinstance(metrics, dict) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values()):
                raise InvalidInput(f"feedback[{i}].metrics: expected an object of numbers, e.g. {{\"conversion\": 1}}")
            if "label" not in item and not metrics:
                raise InvalidInput(f"feedback[{i}]: give 'label' (the ground truth) and/or 'metrics'")
            seen = self.recent.get(item["request_id"])
            if seen is None:
                unknown.append(item["request_id"])
                continue
            arm, model, prediction = seen
            stats = self.stats.get((arm, model))
            if stats is None:
                unknown.append(item["request_id"])
                continue
            if "label" in item:
                stats.feedback(prediction, item["label"], live.spec.monitoring.positive_label)
            for metric, value in metrics.items():
                stats.business(str(metric), float(value))
            accepted += 1
        return {"accepted": accepted, "unknown": unknown}

    def business(self, arm_or_version: str, metric: str, values: list[float]) -> int:
        """Business metric values posted per version (or arm) rather than per request."""
        live = self.current()
        for arm, stats in live.stats.items():
            if arm_or_version in (arm, stats.model):
                for value in values:
                    stats.business(metric, value)
                return len(values)
        raise NotFound(f"{arm_or_version!r} is neither an arm nor a version of deployment {self.name}")

    def readiness(self) -> dict[str, Any]:
        live = self.live
        if live is None:
            return {"ready": False, "deployment": self.name, "reason": "not loaded"}
        serving = [a.name for a in live.spec.arms if a.weight > 0]
        ready = all(name in live.arms for name in serving) or live.spec.stable in live.arms
        return {"ready": ready, "deployment": self.name, "revision": live.revision, "status": live.status,
                "loaded": {n: {"model": a.pinned.model, "load_ms": round(a.load_ms, 1),
                               "warmup_ms": None if a.warmup_ms is None else round(a.warmup_ms, 2)}
                           for n, a in live.arms.items()},
                "failed": live.failed, "traffic": live.router.share()}

    # --- control loop ---------------------------------------------------------------------

    def _control_loop(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.tick()
                if self._dispatch is not None and self.clock() - self._last_dispatch >= 1.0:
                    self._last_dispatch = self.clock()
                    self._dispatch()
            except Exception:
                log.exception("gateway control loop")

    def tick(self, *, force_window: bool = False) -> dict[str, Any] | None:
        now = self.clock()
        if now - self._last_poll >= self.poll_s:
            self._last_poll = now
            if self.deployments.revision(self.name) != self.current().revision:
                self.reload()
        live = self.current()
        window_s = self.window_override or live.spec.policy.window_s
        if live.spec.policy.pooled:  # windows numbered by the wall clock, alike on every replica
            number = int(self.wall() // window_s)
            if self._window_no is None:
                self._window_no = number
            if not force_window and number == self._window_no:
                return None
            closed, self._window_no = self._window_no, max(number, self._window_no + 1)
            return self.analyze(live, pooled=closed)
        if force_window or now - self._window_started >= window_s:
            self._window_started = now
            return self.analyze(live)
        return None

    def _health(self, pinned: Pinned, window: WindowSummary, spec: DeploymentSpec) -> dict[str, Any]:
        inputs = [str(c.get("name")) for c in (pinned.signature or {}).get("inputs", [])] or None
        return health(window, self.baseline(pinned), spec, inputs)

    def _pool(self, live: Live, closed: int, windows: dict[str, WindowSummary]) -> tuple[
            dict[str, WindowSummary], dict[str, dict[str, Any]], dict[str, Any]]:
        """Share this replica's window ``closed``; return the window before it over every replica
        (each had a whole window to share it), its healths, and who it pooled."""
        try:
            self.deployments.share_window(self.name, live.revision, closed, self.gateway_id, windows)
            shared = self.deployments.pooled_window(self.name, live.revision, closed - 1)
        except ModelKeepError as exc:
            log.warning("could not pool analysis windows: %s", exc)
            shared = {}
        pins = {p.name: p for p in live.spec.pinned()}
        pooled = pool_windows(shared, set(pins))
        healths = {arm: self._health(pins[arm], w, live.spec) for arm, w in pooled.items()}
        return pooled, healths, {"window": closed - 1, "gateways": {g: {a: w.n for a, w in arms.items()}
                                                                     for g, arms in shared.items()}}

    def analyze(self, live: Live, *, pooled: int | None = None) -> dict[str, Any]:
        """Close the window of every arm, judge it, and act (alert, advance, roll back). With
        ``pooled`` (the number of the window closed), judge the window before it, pooled over
        every replica, instead of this replica's own."""
        spec = live.spec
        windows: dict[str, WindowSummary] = {}
        healths: dict[str, dict[str, Any]] = {}
        agreements: dict[str, float | None] = {}
        for pinned in spec.pinned():
            stats = live.stats.get(pinned.name)
            if stats is None:
                continue
            window, agreement = stats.rotate()
            windows[pinned.name] = window
            agreements[pinned.name] = agreement
            healths[pinned.name] = self._health(pinned, window, spec)
            stats.export(window, healths[pinned.name], agreement)  # this replica's gauges: its own traffic
        pool = None
        if pooled is not None:
            windows, healths, pool = self._pool(live, pooled, windows)
        standby_mirrored = {s[0] for s in live.shadows} - {s.name for s in spec.shadows}
        considered = {a.name for a in spec.arms if a.weight > 0} | standby_mirrored
        attribution = attribute({a: h for a, h in healths.items() if a in considered})
        checks: list[dict[str, Any]] = []
        decision = "none"
        result = "inconclusive"
        candidate = spec.candidate
        in_rollout = candidate is not None and live.status in ("progressing", "active") and \
            spec.arm(candidate).weight > 0 and candidate in windows
        decisive = False
        if in_rollout:
            stable = windows.get(spec.stable)
            if stable is not None and stable.n > 0:
                checks = compare(stable, windows[str(candidate)], healths, spec)
            else:
                checks = alone(windows[str(candidate)], healths[str(candidate)], spec)
            result = verdict(checks, attribution)
            # Evidence across windows, so low traffic still decides: windows under min_samples are each
            # inconclusive, their failures add up (services/deploy/sequential.py).
            if live.revision not in self.sequential:
                self.sequential = {live.revision: SequentialErrors()}
            evidence = self.sequential[live.revision]
            own = windows[str(candidate)]
            evidence.update(own.n, own.errors, stable.n if stable else 0, stable.errors if stable else 0,
                            spec.policy.max_error_rate)
            too_few = bool(checks) and checks[0]["check"] == "samples"
            if too_few and evidence.failing(spec.policy.max_error_rate) and attribution["scope"] != "upstream":
                checks.append({"check": "error_rate_sequential", "result": "fail", **evidence.summary()})
                result, decisive = "fail", True
            self.failing_windows = self.failing_windows + 1 if result == "fail" else 0
        report = {
            "gateway": self.gateway_id, "revision": live.revision, "strategy": spec.strategy, "verdict": result,
            "failing_windows": self.failing_windows, "attribution": attribution, "checks": checks,
            "windows": {a: w.brief() for a, w in windows.items()},
            "health": {a: {k: h[k] for k in ("degraded", "reasons", "input_drift")} for a, h in healths.items()},
            "shadow_agreement": {a: v for a, v in agreements.items() if v is not None},
            "shadow_dropped": self.shadow_dropped, "traffic": live.router.share(), "failed": live.failed,
        }
        if pool is not None:
            report["pooled"] = pool
        if attribution["scope"] in ("version", "upstream"):  # drift on part of the traffic only is reported, not alerted
            self._alert(live, attribution, report)
        if in_rollout and result == "fail" and (decisive or self.failing_windows >= spec.policy.failing_windows) \
                and spec.policy.auto_rollback:
            decision = self._rollback(live, report)
        elif in_rollout and spec.strategy == "canary" and spec.rollout is not None and result == "pass" \
                and self.clock() - live.loaded_at >= spec.rollout.bake_s:
            decision = self._advance(live, report)
        report["decision"] = decision
        self.last_report = report
        try:
            self.deployments.report(self.name, self.gateway_id, live.revision, report)
        except ModelKeepError as exc:
            log.warning("could not store the gateway report: %s", exc)
        return report

    def _alert(self, live: Live, attribution: dict[str, Any], report: dict[str, Any]) -> None:
        key = f"{live.revision}:{attribution['scope']}:{','.join(attribution['blamed'])}"
        now = self.clock()
        if now - self.alerted.get(key, -1e9) < ALERT_REPEAT_S:
            return
        self.alerted[key] = now
        models = {p.name: p.model for p in live.spec.pinned()}
        blamed = {a: models.get(a, a) for a in attribution["blamed"]}
        evidence = {"deployment": self.name, "revision": live.revision, "gateway": self.gateway_id,
                    "scope": attribution["scope"], "message": attribution.get("message", ""),
                    "blamed": [{"arm": a, "model": m} for a, m in blamed.items()],
                    "rollback": attribution["scope"] == "version" and live.spec.candidate in attribution["blamed"],
                    "windows": report["windows"], "health": report["health"]}
        log.warning("alert on %s: %s", self.name, evidence["message"])
        self.deployments.alert(self.name, evidence)

    def _rollback(self, live: Live, report: dict[str, Any]) -> str:
        failing = [c["check"] for c in report["checks"] if c["result"] == "fail"]
        reason = (f"automatic rollback: {live.spec.arm(str(live.spec.candidate)).model} failed "
                  f"{', '.join(failing)} for {self.failing_windows} consecutive windows")
        try:
            self.deployments.rollback(self.name, reason=reason, expected_revision=live.revision, evidence={
                "checks": report["checks"], "windows": report["windows"], "attribution": report["attribution"],
                "failing_windows": self.failing_windows, "gateway": self.gateway_id, "pooled": report.get("pooled")})
        except Conflict:
            self.reload()  # another replica (or a person) changed it first
            return "superseded"
        self.reload()
        validation = self.validate()
        self.deployments.record_validation(self.name, self.current().revision, validation)
        log.warning("%s; validation %s", reason, "passed" if validation["ok"] else "FAILED")
        return "rollback"

    def _advance(self, live: Live, report: dict[str, Any]) -> str:
        try:
            self.deployments.advance(self.name, expected_revision=live.revision,
                                     evidence={"checks": report["checks"], "windows": report["windows"],
                                               "pooled": report.get("pooled")})
        except Conflict:
            self.reload()
            return "superseded"
        self.reload()
        return "advance"

    def validate(self) -> dict[str, Any]:
        """After a rollback: health, the recorded smoke requests through every serving arm, and the
        metric check (the stable arm's last window against its own baseline)."""
        live = self.current()
        last = (self.last_report.get("health") or {}).get(live.spec.stable, {})
        metric = "fail" if last.get("degraded") else "pass" if last else "inconclusive"
        return validation(live.spec, live.arms, metric_check=metric)
