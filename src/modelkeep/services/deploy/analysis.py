"""Per-window analysis of a deployment: each version against its own baseline, the candidate
against the stable version on the same traffic, who is at fault, and what to do.

* health: an arm's window against *its own* baseline (training-data profile and validation
  metrics recorded at registration): error rate, p99 latency, feedback metric, prediction drift,
  feature (input) drift.
* comparison: the candidate against the stable arm on the same window (significance tests, so
  an A/A run does not fail): error rate, p99, feedback metric, business metrics, prediction drift.
* attribution: inputs drifting on every live arm, or every live arm degraded at once, is an
  upstream (data) problem: alert, never roll back. One version whose own behaviour degrades
  while another is healthy on the same traffic is that version's fault, drift or not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from modelkeep.services.deploy.spec import DeploymentSpec
from modelkeep.services.deploy.windows import WindowSummary
from modelkeep.stats.drift import DriftThresholds, column_drift, mean_drop_p, proportion_upper, two_proportion_p


@dataclass
class Baseline:
    """A version's own baseline: its training profile and validation metrics."""

    profile: dict[str, Any] | None
    metrics: dict[str, float]


def thresholds(spec: DeploymentSpec) -> DriftThresholds:
    m = spec.monitoring
    return DriftThresholds(psi=m.psi, ks_pvalue=m.ks_pvalue, ks_min_distance=m.ks_min_distance,
                           chi2_pvalue=m.chi2_pvalue, js=m.js, min_samples=m.min_samples)


def health(window: WindowSummary, baseline: Baseline, spec: DeploymentSpec,
           inputs: list[str] | None = None) -> dict[str, Any]:
    """The arm against its own baseline: ``degraded``, ``reasons``, ``input_drift`` (features).

    ``inputs`` are the version's input names in request order (its signature): profile columns
    are matched to request columns by name, so a baseline table with extra columns (a label, an
    id) still lines up. Without a signature, the profile's column order is the request's.
    """
    policy, limits = spec.policy, thresholds(spec)
    reasons: list[str] = []
    out: dict[str, Any] = {"arm": window.arm, "model": window.model, "requests": window.n}
    if window.n < policy.min_samples:
        return {**out, "degraded": False, "reasons": [], "performance": [], "input_drift": [], "enough": False}
    if window.error_rate > policy.max_error_rate:
        reasons.append(f"error rate {window.error_rate:.1%} > {policy.max_error_rate:.1%}")
    p99 = window.p(99)
    if policy.max_p99_ms is not None and p99 is not None and p99 > policy.max_p99_ms:
        reasons.append(f"p99 latency {p99:.1f} ms > {policy.max_p99_ms:g} ms")
    expected = baseline.metrics.get(policy.metric)
    if expected is not None and window.labeled >= policy.min_labels and window.accuracy is not None:
        out[policy.metric] = {"live": round(window.accuracy, 4), "baseline": expected, "labeled": window.labeled}
        # Below the allowed drop, and surely so: the upper end of its 99 % interval is under the baseline.
        upper = proportion_upper(window.correct, window.labeled)  # Wilson, 99 %
        if window.accuracy < expected - policy.max_metric_drop and upper < expected:
            reasons.append(f"{policy.metric} {window.accuracy:.3f} < baseline {expected:.3f} - {policy.max_metric_drop:g}")
    profile = baseline.profile or {}
    if profile.get("predictions") and window.predictions:
        drift = column_drift(profile["predictions"], [_scalar(p) for p in window.predictions], limits)
        out["prediction_drift"] = drift
        if drift.get("drifted"):
            reasons.append("predictions drifted from the version's baseline")
    drifted: list[str] = []
    features = profile.get("features") or {}
    columns = profile.get("columns") or list(features)
    wanted = spec.monitoring.features
    feature_report: dict[str, Any] = {}
    position = {name: j for j, name in enumerate(inputs)} if inputs else {name: j for j, name in enumerate(columns)}
    if window.rows and features:
        tested = [n for n in columns if n in features and n in position and (wanted is None or n in wanted)]
        # Bonferroni over the features tested, so a wide table does not alert on noise.
        per_feature = replace(limits, ks_pvalue=limits.ks_pvalue / max(1, len(tested)),
                              chi2_pvalue=limits.chi2_pvalue / max(1, len(tested)))
        for name in tested:
            j = position[name]
            values = [row[j] for row in window.rows if j < len(row)]
            drift = column_drift(features[name], values, per_feature)
            feature_report[name] = drift
            if drift.get("drifted"):
                drifted.append(name)
    out["feature_drift"] = feature_report
    performance = list(reasons)
    if drifted:
        reasons.append(f"inputs drifted from the training data: {', '.join(drifted)}")
    return {**out, "degraded": bool(reasons), "reasons": reasons, "performance": performance, "input_drift": drifted,
            "enough": True}


def _scalar(value: Any) -> Any:
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def compare(stable: WindowSummary, candidate: WindowSummary, healths: dict[str, dict[str, Any]],
            spec: DeploymentSpec) -> list[dict[str, Any]]:
    """The candidate against the stable arm on the same window: one result per check."""
    policy = spec.policy
    if stable.n < policy.min_samples or candidate.n < policy.min_samples:
        return [{"check": "samples", "result": "inconclusive",
                 "detail": f"{candidate.n} candidate / {stable.n} stable requests, {policy.min_samples} needed"}]
    checks: list[dict[str, Any]] = []
    p_err = two_proportion_p(stable.errors, stable.n, candidate.errors, candidate.n)
    failing = candidate.error_rate > policy.max_error_rate and p_err < policy.significance
    checks.append({"check": "error_rate", "result": "fail" if failing else "pass",
                   "stable": round(stable.error_rate, 4), "candidate": round(candidate.error_rate, 4),
                   "p_value": p_err})
    s99, c99 = stable.p(99) or 0.0, candidate.p(99) or 0.0
    slow = c99 > s99 * policy.p99_ratio and c99 - s99 > policy.min_latency_delta_ms and (
        policy.max_p99_ms is None or c99 > policy.max_p99_ms)
    checks.append({"check": "p99_latency", "result": "fail" if slow else "pass", "stable": round(s99, 3),
                   "candidate": round(c99, 3)})
    if stable.labeled >= policy.min_labels and candidate.labeled >= policy.min_labels:
        p_acc = two_proportion_p(stable.labeled - stable.correct, stable.labeled,
                                 candidate.labeled - candidate.correct, candidate.labeled)
        drop = (stable.accuracy or 0.0) - (candidate.accuracy or 0.0)
        checks.append({"check": policy.metric, "result": "fail" if drop > policy.max_metric_drop and
                       p_acc < policy.significance else "pass", "stable": round(stable.accuracy or 0, 4),
                       "candidate": round(candidate.accuracy or 0, 4), "p_value": p_acc})
    else:
        checks.append({"check": policy.metric, "result": "inconclusive",
                       "detail": f"{candidate.labeled} / {stable.labeled} labels, {policy.min_labels} needed"})
    for metric, max_drop in sorted(policy.business.items()):
        a, b = stable.business.get(metric, []), candidate.business.get(metric, [])
        if len(a) < policy.min_samples or len(b) < policy.min_samples:
            checks.append({"check": f"business:{metric}", "result": "inconclusive",
                           "detail": f"{len(b)} / {len(a)} values, {policy.min_samples} needed"})
            continue
        ma, mb = float(np.mean(a)), float(np.mean(b))
        p_drop = mean_drop_p(a, b)
        checks.append({"check": f"business:{metric}", "result": "fail" if mb < ma * (1 - max_drop) and
                       p_drop < policy.significance else "pass", "stable": round(ma, 4), "candidate": round(mb, 4),
                       "p_value": p_drop})
    if policy.drift:
        own = (healths.get(candidate.arm) or {}).get("prediction_drift") or {}
        ref = (healths.get(stable.arm) or {}).get("prediction_drift") or {}
        version_only = bool(own.get("drifted")) and not ref.get("drifted")
        checks.append({"check": "prediction_drift", "result": "fail" if version_only else "pass",
                       "candidate": {k: own.get(k) for k in ("psi", "js", "ks") if k in own},
                       "stable": {k: ref.get(k) for k in ("psi", "js", "ks") if k in ref}})
    return checks


def alone(candidate: WindowSummary, own: dict[str, Any], spec: DeploymentSpec) -> list[dict[str, Any]]:
    """The candidate with no stable traffic beside it (a canary at 100 %, blue-green without a
    mirror): judged against its own baseline only."""
    if candidate.n < spec.policy.min_samples:
        return [{"check": "samples", "result": "inconclusive",
                 "detail": f"{candidate.n} candidate requests, {spec.policy.min_samples} needed"}]
    return [{"check": "own_baseline", "result": "fail" if own.get("degraded") else "pass",
             "detail": "; ".join(own.get("reasons", [])) or "as good as its baseline"}]


def attribute(healths: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``scope``: ``none``, ``version`` (``blamed`` arms) or ``upstream``, with the reasons.

    Input drift is a property of the traffic, so it never blames a version by itself; a version
    whose own behaviour (errors, latency, feedback metric, predictions) degrades while another
    live version on the same traffic does not is to blame, drift or not.
    """
    live = {arm: h for arm, h in healths.items() if h.get("enough")}
    degraded = {arm: h for arm, h in live.items() if h["degraded"]}
    if not degraded:
        return {"scope": "none", "blamed": []}
    performing = {arm: h for arm, h in live.items() if h["performance"]}
    drift_everywhere = all(h["input_drift"] for h in live.values())
    if performing and (len(performing) < len(live) or (len(live) == 1 and not drift_everywhere)):
        upstream = " (the inputs drift too, on every version)" if drift_everywhere else ""
        return {"scope": "version", "blamed": sorted(performing),
                "message": "; ".join(f"{h['model']} ({a}) degraded against its own baseline: {', '.join(h['performance'])}"
                                     for a, h in sorted(performing.items())) + upstream,
                "arms": {a: h["reasons"] for a, h in performing.items()}}
    if drift_everywhere or len(performing) == len(live):
        features = sorted({f for h in live.values() for f in h["input_drift"]})
        why = (f"the inputs drifted from the training data on every live version ({', '.join(features)})"
               if drift_everywhere else "every live version degraded at once on the same traffic")
        return {"scope": "upstream", "blamed": [], "message": f"upstream data problem: {why}; no version is at fault",
                "features": features, "arms": {a: h["reasons"] for a, h in live.items()}}
    features = sorted({f for h in degraded.values() for f in h["input_drift"]})
    return {"scope": "inputs", "blamed": [], "features": features,
            "message": f"inputs drifted on some versions' traffic only ({', '.join(features)}): check the routing keys",
            "arms": {a: h["reasons"] for a, h in degraded.items()}}


def verdict(checks: list[dict[str, Any]], attribution: dict[str, Any]) -> str:
    """pass / fail / inconclusive for the candidate in this window (upstream faults never fail it)."""
    if attribution["scope"] == "upstream":
        return "inconclusive"
    results = [c["result"] for c in checks]
    if "fail" in results:
        return "fail"
    if not results or results == ["inconclusive"] or checks[0]["check"] == "samples":
        return "inconclusive"
    return "pass"
