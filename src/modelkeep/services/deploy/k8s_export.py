"""A deployment as Kubernetes manifests: a KServe InferenceService, or an Argo Rollout with its
AnalysisTemplate (``mk deploy export``).

Inside a cluster, traffic is split by KServe or Argo Rollouts, not by the gateway: each pod runs
``mk serve NAME --pin NAME@VERSION``, which serves that one version with the deployment's
policy, monitoring and contract, exports its Prometheus metrics, and never routes, advances or
rolls back on its own. The new pods pin the candidate (``single``: the stable version); the
previous revision keeps serving the rest.

What the gateway would have judged is written as the AnalysisTemplate's Prometheus queries, over
the gateway's own metrics (``gateway/monitor.py``), with the policy's thresholds:

* error rate of the candidate's requests at most ``max_error_rate``;
* its p99 latency at most ``p99_ratio`` times the stable version's (and ``max_p99_ms``, if set);
* prediction drift against the version's own baseline at most the monitoring PSI threshold;
* its feedback metric (``policy.metric``) no lower than the value registered with the version,
  less ``max_metric_drop`` (the version's own baseline; skipped for a version without it).

Each metric is measured every ``window_s`` over a range of at least 60 s (two scrapes); a
rollout aborts after ``failing_windows`` failures. Manifests are plain data here; the command
writes them as YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelkeep.errors import InvalidInput

FORMATS = ("kserve", "argo-rollouts")
PORT = 8080  # KServe's port for a custom predictor container; the same for Argo
MIN_RANGE_S = 60  # a rate() needs two scrapes in its range: never shorter than this


@dataclass(frozen=True)
class ExportOptions:
    image: str  # a container image with modelkeep installed (its entry point: mk)
    server_url: str | None = None  # MODELKEEP_URL the pods fetch the deployment and models from
    token_secret: str = "modelkeep-gateway"  # noqa: S105 - the name of a Secret holding key ``token`` (a deployer's)
    prometheus: str = "http://prometheus-operated.monitoring.svc:9090"
    namespace: str | None = None
    replicas: int = 2


@dataclass(frozen=True)
class Exported:
    versions: dict[str, str]  # "new" (what the new pods pin) and "stable" (what serves the rest)
    manifests: list[dict[str, Any]]


def export(status: dict[str, Any], fmt: str, options: ExportOptions, baselines: dict[str, float]) -> Exported:
    """Manifests for the deployment ``status`` (``deployment_status``'s answer). ``baselines``:
    the metrics registered with the version the new pods pin (its own baseline)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    strategy = status["strategy"]
    if strategy not in ("single", "canary", "bluegreen"):
        raise InvalidInput(
            f"deployment {status['name']} is {strategy}: Kubernetes splits traffic between two revisions only",
            hint="export single, canary and bluegreen deployments; serve ab and shadow ones with mk deploy serve",
        )
    arms = {a["name"]: a for a in status["arms"]}
    stable = arms[status["stable"]]["model"]
    new = arms[status["candidate"]]["model"] if status.get("candidate") else stable
    versions = {"new": new, "stable": stable}
    if fmt == "kserve":
        return Exported(versions, [_inference_service(status, new, options)])
    return Exported(versions, _rollout(status, new, stable, options, baselines))


def _metadata(name: str, options: ExportOptions, **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/name": name,
                                                      "app.kubernetes.io/managed-by": "modelkeep"}}
    if options.namespace:
        meta["namespace"] = options.namespace
    if annotations:
        meta["annotations"] = annotations
    return meta


def _container(name: str, deployment: str, version: str, options: ExportOptions) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {"name": "MODELKEEP_TOKEN", "valueFrom": {"secretKeyRef": {"name": options.token_secret, "key": "token"}}},
        {"name": "MODELKEEP_USER", "value": f"gateway-{deployment}"},
    ]
    if options.server_url:
        env.insert(0, {"name": "MODELKEEP_URL", "value": options.server_url})
    probe = {"httpGet": {"path": "/v2/health/ready", "port": PORT}, "periodSeconds": 5}
    return {
        "name": name,
        "image": options.image,
        "command": ["mk"],
        "args": ["serve", deployment, "--pin", version, "--port", str(PORT), "--no-webhooks",
                 "--host", "0.0.0.0"],  # noqa: S104 - every interface of the pod: the Service reaches it there
        "env": env,
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": PORT}, "periodSeconds": 10},
    }


def _inference_service(status: dict[str, Any], new: str, options: ExportOptions) -> dict[str, Any]:
    """KServe: the predictor pins the new version; with a candidate, ``canaryTrafficPercent`` sends
    it the first rollout step (KServe keeps the previous revision for the rest) and the steps
    left are annotations for whoever raises it."""
    name = status["name"]
    predictor: dict[str, Any] = {
        "minReplicas": options.replicas,
        "containers": [_container("kserve-container", name, new, options)],
    }
    annotations = {"modelkeep.io/deployment": name, "modelkeep.io/revision": str(status["revision"]),
                   "modelkeep.io/version": new, "serving.kserve.io/enable-prometheus-scraping": "true"}
    if status.get("candidate"):
        steps = _steps(status)
        predictor["canaryTrafficPercent"] = steps[0]
        annotations["modelkeep.io/rollout-steps"] = ",".join(str(s) for s in steps)
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": _metadata(name, options, **annotations), "spec": {"predictor": predictor}}


def _steps(status: dict[str, Any]) -> list[int]:
    rollout = status.get("rollout") or {}
    steps = rollout.get("steps") or [100.0]
    return [max(1, round(float(s))) for s in steps]


def _rollout(status: dict[str, Any], new: str, stable: str, options: ExportOptions,
             baselines: dict[str, float]) -> list[dict[str, Any]]:
    name = status["name"]
    policy = status["policy"]
    template_name = f"{name}-modelkeep"
    window = max(1, round(float(policy["window_s"])))
    analysis = {"templates": [{"templateName": template_name}],
                "args": [{"name": "version", "value": new.partition("@")[2]},
                         {"name": "stable-version", "value": stable.partition("@")[2]}]}
    bake = round(float((status.get("rollout") or {}).get("bake_s", 60)))
    selector = {"app.kubernetes.io/name": name}
    pod = {"metadata": {"labels": selector, "annotations": {"prometheus.io/scrape": "true",
                                                            "prometheus.io/port": str(PORT),
                                                            "prometheus.io/path": "/metrics",
                                                            "modelkeep.io/version": new}},
           "spec": {"containers": [_container("gateway", name, new, options)]}}
    strategy: dict[str, Any]
    if status["strategy"] == "bluegreen":
        strategy = {"blueGreen": {"activeService": name, "previewService": f"{name}-preview",
                                  "autoPromotionEnabled": False,
                                  "prePromotionAnalysis": analysis}}
    else:
        steps: list[dict[str, Any]] = []
        for weight in _steps(status):
            steps.append({"setWeight": weight})
            if weight < 100:
                steps.append({"pause": {"duration": f"{bake}s"}})
        strategy = {"canary": {"steps": steps, "analysis": {**analysis, "startingStep": 1}}}
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": _metadata(name, options, **{"modelkeep.io/deployment": name,
                                                "modelkeep.io/revision": str(status["revision"])}),
        "spec": {"replicas": options.replicas, "revisionHistoryLimit": 3, "selector": {"matchLabels": selector},
                 "template": pod, "strategy": strategy},
    }
    services = [_service(name, selector, options)]
    if status["strategy"] == "bluegreen":
        services.append(_service(f"{name}-preview", selector, options))
    template = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": _metadata(template_name, options),
        "spec": {"args": [{"name": "version"}, {"name": "stable-version"}],
                 "metrics": _analysis_metrics(status, new, window, options, baselines)},
    }
    return [rollout, template, *services]


def _service(name: str, selector: dict[str, str], options: ExportOptions) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(name, options),
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": PORT}]}}


def _analysis_metrics(status: dict[str, Any], new: str, window: int, options: ExportOptions,
                      baselines: dict[str, float]) -> list[dict[str, Any]]:
    """The policy's checks as Prometheus queries over the gateway's metrics."""
    policy, monitoring = status["policy"], status["monitoring"]
    model = new.partition("@")[0]
    span = f"{max(window, MIN_RANGE_S)}s"

    def series(version_arg: str, extra: str = "") -> str:
        return f'deployment="{status["name"]}",model="{model}",version="{{{{args.{version_arg}}}}}"{extra}'

    def p99(version_arg: str) -> str:
        return (f"histogram_quantile(0.99, sum by (le) (rate(modelkeep_gateway_latency_seconds_bucket"
                f"{{{series(version_arg)}}}[{span}])))")

    def metric(name: str, query: str, condition: str) -> dict[str, Any]:
        return {"name": name, "interval": f"{window}s", "failureLimit": max(0, int(policy["failing_windows"]) - 1),
                "successCondition": condition,
                "provider": {"prometheus": {"address": options.prometheus, "query": query}}}

    requests = "modelkeep_gateway_requests_total"
    failed, answered = ',outcome="error"', ',outcome=~"ok|error"'
    errors = f"sum(rate({requests}{{{series('version', failed)}}}[{span}]))"
    served = f"sum(rate({requests}{{{series('version', answered)}}}[{span}]))"
    out = [
        metric("error-rate", f"({errors} / {served}) or vector(0)",
               f"isNaN(result[0]) || result[0] <= {policy['max_error_rate']}"),
        metric("p99-latency-vs-stable", f"{p99('version')} / {p99('stable-version')}",
               f"isNaN(result[0]) || isInf(result[0]) || result[0] <= {policy['p99_ratio']}"),
    ]
    if policy.get("max_p99_ms"):
        out.append(metric("p99-latency", p99("version"),
                          f"isNaN(result[0]) || result[0] <= {float(policy['max_p99_ms']) / 1000:g}"))
    if policy.get("drift", True):
        drift = f"max(modelkeep_gateway_prediction_drift{{{series('version')}}}) or vector(0)"
        out.append(metric("prediction-drift", drift, f"result[0] <= {monitoring['psi']}"))
    baseline = baselines.get(policy["metric"])
    if baseline is not None:
        floor = float(baseline) - float(policy["max_metric_drop"])
        which = f',metric="{policy["metric"]}"'
        quality = f"max(modelkeep_gateway_feedback_metric{{{series('version', which)}}}) or vector(NaN)"
        out.append(metric(f"feedback-{policy['metric']}", quality, f"isNaN(result[0]) || result[0] >= {floor:.6g}"))
    return out
