"""A deployment as listings, its status and its history show it, from its stored spec document
(``DeploymentSpec.model_dump(mode="json")``, as ``deployments.spec`` keeps it): plain data in, plain data
out, so ``mk deploy list``, ``status`` and ``history`` on a personal registry (``services.deploy.fast_reads``)
shape it without pydantic or SQLAlchemy, exactly as the service does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any


def deployment_view(name: str, revision: int, status: str, spec: Mapping[str, Any], updated_at: datetime) -> dict[str, Any]:
    """A spec document lacking a field raises KeyError: a fast read then declines."""
    rollout = spec["rollout"]
    return {"name": name, "revision": revision, "status": status, "strategy": spec["strategy"],
            "stable": spec["stable"], "candidate": spec["candidate"],
            "arms": [{"name": a["name"], "model": a["model"], "weight": a["weight"], "preprocess": a["preprocess"]}
                     for a in spec["arms"]],
            "shadows": [{"name": s["name"], "model": s["model"], "fraction": s["fraction"]} for s in spec["shadows"]],
            "rollout": None if rollout is None else dict(rollout),
            "updated_at": updated_at.isoformat() + "Z"}


# The fields of the spec's sections a status shows whole, in the models' order (``spec.Policy``, ``Monitoring``
# and ``Sticky``; a test holds them equal). A stored section with other fields (written by another release)
# is declined by the fast path: the service fills what it lacks.
POLICY_FIELDS = ("auto_rollback", "window_s", "min_samples", "failing_windows", "max_error_rate", "max_p99_ms",
                 "p99_ratio", "min_latency_delta_ms", "metric", "max_metric_drop", "min_labels", "business", "drift",
                 "significance", "pooled")
MONITORING_FIELDS = ("psi", "ks_pvalue", "ks_min_distance", "chi2_pvalue", "js", "min_samples", "features",
                     "positive_label")
STICKY_FIELDS = ("header", "field")


def _section(spec: Mapping[str, Any], name: str, fields: tuple[str, ...]) -> dict[str, Any]:
    stored = spec[name]
    if set(stored) != set(fields):
        raise KeyError(name)
    return {field: stored[field] for field in fields}


def status_view(name: str, revision: int, status: str, spec: Mapping[str, Any], updated_at: datetime,
                gateways: Sequence[tuple[str, int, datetime, Mapping[str, Any]]]) -> dict[str, Any]:
    """A deployment's status: its view, its policy, monitoring, contract and routing key, and what each
    gateway (name, revision, at, report) last said, by gateway. KeyError for a spec of another shape."""
    out = deployment_view(name, revision, status, spec, updated_at)
    out["policy"] = _section(spec, "policy", POLICY_FIELDS)
    out["monitoring"] = _section(spec, "monitoring", MONITORING_FIELDS)
    out["contract"] = spec["contract"]
    out["sticky"] = _section(spec, "sticky", STICKY_FIELDS)
    out["gateways"] = [{"gateway": gateway, "revision": seen, "at": at.isoformat() + "Z", **report}
                       for gateway, seen, at, report in gateways]
    return out


def revision_view(revision: int, action: str, status: str, reason: str, actor: str, at: datetime,
                  spec: Mapping[str, Any], evidence: Any, validation: Any) -> dict[str, Any]:
    """One revision as the history shows it."""
    return {"revision": revision, "action": action, "status": status, "reason": reason, "actor": actor,
            "at": at.isoformat() + "Z",
            "arms": [{"name": a["name"], "model": a["model"], "weight": a["weight"], "preprocess": a.get("preprocess")}
                     for a in spec["arms"]],
            "evidence": evidence, "validation": validation}
