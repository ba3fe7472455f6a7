"""``mk deploy ...`` (deployment records: create, update, status, history, rollback, switch) and
``mk serve NAME`` (the gateway)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelkeep.cli.output import emit_json, err_console, out_console
from modelkeep.errors import InvalidInput

if TYPE_CHECKING:
    from modelkeep.services.interface import DeploymentsService

app = typer.Typer(help="Deployments: what serves traffic, how it rolls out, when it rolls back.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Name = Annotated[str, typer.Argument(help="Deployment name.")]


def _weighted(values: list[str], what: str, *, fraction: bool = False) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = []
    for text in values:
        ref, sep, number = text.rpartition("=") if "=" in text else (text, "", "")
        try:
            value = float(number) if sep else None
        except ValueError:
            raise InvalidInput(f"{what} {text!r}: expected REF or REF=NUMBER") from None
        if value is not None and fraction and not 0 < value <= 1:
            raise InvalidInput(f"{what} {text!r}: the fraction must be in (0, 1]")
        out.append((ref, value))
    return out


def _doc(path: Path | None, what: str) -> Any:
    from modelkeep.services.models.metadata import load_document

    return load_document(path, what) if path is not None else None


def _policy(path: Path | None, window: float | None, min_samples: int | None) -> dict[str, Any]:
    policy = dict(_doc(path, "policy") or {})
    if window is not None:
        policy["window_s"] = window
    if min_samples is not None:
        policy["min_samples"] = min_samples
    return policy


def _steps(steps: str | None, bake: float | None) -> dict[str, Any]:
    rollout: dict[str, Any] = {}
    if steps:
        try:
            rollout["steps"] = [float(s) for s in steps.split(",")]
        except ValueError:
            raise InvalidInput(f"--steps {steps!r}: expected comma-separated percentages, e.g. 5,25,50,100") from None
    if bake is not None:
        rollout["bake_s"] = bake
    return rollout


def _show(doc: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(doc)
        return
    out = out_console()
    out.print(f"deployment {doc['name']} revision {doc['revision']}: {doc['strategy']}, [bold]{doc['status']}[/bold]",
              soft_wrap=True)
    for arm in doc["arms"]:
        pre = f" (preprocess {arm['preprocess']})" if arm.get("preprocess") else ""
        out.print(f"  {arm['name']:<8} {arm['weight']:6.2f} %  {arm['model']}{pre}", markup=False, soft_wrap=True)
    for shadow in doc.get("shadows", []):
        out.print(f"  {shadow['name']:<8} shadow {shadow['fraction']:.0%} {shadow['model']}", markup=False, soft_wrap=True)
    if doc.get("rollout"):
        r = doc["rollout"]
        out.print(
            f"  rollout step {r['step'] + 1}/{len(r['steps'])} of {r['steps']}, bake {r['bake_s']:g} s",
            markup=False,
            soft_wrap=True,
        )
    for gw in doc.get("gateways", []):
        att = gw.get("attribution", {})
        out.print(
            f"  gateway {gw['gateway']} (revision {gw['revision']}, {gw['at']}): verdict {gw.get('verdict')}, "
            f"{att.get('message') or 'no fault found'}",
            markup=False,
            soft_wrap=True,
        )


def _target() -> DeploymentsService:
    """The deployments of the connection: the local repository's, or the server's (MODELKEEP_URL)."""
    from modelkeep.cli.remote import connection

    return connection().deployments


def create(
    name: Name,
    model: Annotated[str, typer.Option("--model", help="The stable version (NAME@SPEC).")],
    candidate: Annotated[str | None, typer.Option("--candidate", help="The version to roll out (canary, bluegreen).")] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="single, canary, bluegreen, ab or shadow.")] = None,
    steps: Annotated[str | None, typer.Option("--steps", help="Canary weight steps in percent, e.g. 5,25,50,100.")] = None,
    bake: Annotated[float | None, typer.Option("--bake", help="Seconds each canary step must pass before the next.")] = None,
    arm: Annotated[list[str], typer.Option("--arm", help="ab: another arm REF[=WEIGHT] (repeat).")] = [],  # noqa: B006
    shadow: Annotated[list[str], typer.Option("--shadow", help="A shadow REF[=FRACTION] (repeat).")] = [],  # noqa: B006
    preprocess: Annotated[
        str | None, typer.Option("--preprocess", help="Feature pipeline version pinned with the model.")
    ] = None,
    candidate_preprocess: Annotated[
        str | None, typer.Option("--candidate-preprocess", help="The candidate's pipeline, if different.")
    ] = None,
    sticky_header: Annotated[str | None, typer.Option("--sticky-header", help="Header with the routing key.")] = None,
    sticky_field: Annotated[str | None, typer.Option("--sticky-field", help="Body field with the routing key.")] = None,
    policy: Annotated[Path | None, typer.Option("--policy", help="Rollback policy (JSON or YAML).")] = None,
    monitoring: Annotated[Path | None, typer.Option("--monitoring", help="Drift thresholds (JSON or YAML).")] = None,
    window: Annotated[float | None, typer.Option("--window", help="Analysis window in seconds.")] = None,
    min_samples: Annotated[int | None, typer.Option("--min-samples", help="Requests per window before judging.")] = None,
    mirror: Annotated[float | None, typer.Option("--mirror", help="bluegreen: share of traffic copied to the standby.")] = None,
    smoke: Annotated[Path | None, typer.Option("--smoke", help="Smoke request rows (JSON list) run after a rollback.")] = None,
    trust: Annotated[list[str], typer.Option("--trust", help="A Python class the gateway may import (repeat).")] = [],  # noqa: B006
    allow_contract_change: Annotated[
        bool, typer.Option("--allow-contract-change", help="Allow versions whose inputs differ.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the history).")] = "",
    json_out: JsonFlag = False,
) -> None:
    """Create a deployment: the stable version, and optionally a rollout of a candidate."""
    body = {
        "model": model,
        "strategy": strategy,
        "candidate": candidate,
        "preprocess": preprocess,
        "candidate_preprocess": candidate_preprocess,
        "arms": [{"ref": r, "weight": w} for r, w in _weighted(arm, "--arm")],
        "shadows": [{"ref": r, "weight": w} for r, w in _weighted(shadow, "--shadow", fraction=True)],
        "rollout": _steps(steps, bake) or None,
        "sticky": {"header": sticky_header or "x-request-key", "field": sticky_field},
        "policy": _policy(policy, window, min_samples) or None,
        "monitoring": _doc(monitoring, "monitoring"),
        "smoke": _doc(smoke, "smoke"),
        "trusted": trust,
        "mirror": mirror,
        "allow_contract_change": allow_contract_change,
        "reason": reason,
    }
    _show(_target().deployment_create(name, body), json_out)


def update(
    name: Name,
    candidate: Annotated[str | None, typer.Option("--candidate", help="Start rolling out this version.")] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", help="With --candidate: canary (default) or bluegreen (a shadow is set at 'mk deploy create --shadow')."
        ),
    ] = None,
    steps: Annotated[str | None, typer.Option("--steps", help="Canary weight steps in percent.")] = None,
    bake: Annotated[float | None, typer.Option("--bake", help="Seconds per canary step.")] = None,
    weight: Annotated[list[str], typer.Option("--weight", help="ARM=WEIGHT (repeat; must add up to 100).")] = [],  # noqa: B006
    preprocess: Annotated[str | None, typer.Option("--candidate-preprocess", help="The candidate's feature pipeline.")] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Policy changes (JSON or YAML), merged over the current one.")
    ] = None,
    monitoring: Annotated[Path | None, typer.Option("--monitoring", help="Replace the drift thresholds.")] = None,
    window: Annotated[float | None, typer.Option("--window", help="Analysis window in seconds.")] = None,
    min_samples: Annotated[int | None, typer.Option("--min-samples", help="Requests per window before judging.")] = None,
    trust: Annotated[list[str], typer.Option("--trust", help="A Python class the gateway may import (repeat).")] = [],  # noqa: B006
    allow_contract_change: Annotated[bool, typer.Option("--allow-contract-change")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the history).")] = "",
    json_out: JsonFlag = False,
) -> None:
    """Change a deployment (a new revision): roll out a candidate, re-weight arms, change the policy."""
    weights: dict[str, float] = {}
    for arm_name, value in _weighted(weight, "--weight"):
        if value is None:
            raise InvalidInput(f"--weight {arm_name!r}: expected ARM=WEIGHT, e.g. canary=50")
        weights[arm_name] = value
    body = {
        "candidate": candidate,
        "strategy": strategy,
        "candidate_preprocess": preprocess,
        "rollout": _steps(steps, bake) or None,
        "weights": weights,
        "policy": _policy(policy, window, min_samples) or None,
        "monitoring": _doc(monitoring, "monitoring"),
        "trusted": trust,
        "allow_contract_change": allow_contract_change,
        "reason": reason,
    }
    _show(_target().deployment_update(name, body), json_out)


def status(name: Name, json_out: JsonFlag = False) -> None:
    """The current revision, its traffic split, and what each gateway last saw."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.deploy.fast_reads import deployment_status

    _show(local_read(deployment_status, name) or _target().deployment_status(name), json_out)


def history(name: Name, json_out: JsonFlag = False) -> None:
    """Every revision: what changed, why, who, the evidence and the validation."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.deploy.fast_reads import deployment_history

    rows = local_read(deployment_history, name)
    if rows is None:
        rows = _target().deployment_history(name)
    if json_out:
        emit_json(rows)
        return
    out = out_console()
    for r in rows:
        arms = ", ".join(f"{a['name']}={a['model']}:{a['weight']:g}%" for a in r["arms"])
        valid = "" if r["validation"] is None else f" validation {'passed' if r['validation'].get('ok') else 'FAILED'}"
        out.print(
            f"{r['revision']:>3} {r['at']} {r['action']:<8} {r['status']:<12} by {r['actor']}: {arms}{valid}",
            markup=False,
            soft_wrap=True,
        )
        if r["reason"]:
            out.print(f"      {r['reason']}", markup=False, soft_wrap=True)


def list_(json_out: JsonFlag = False) -> None:
    """Every deployment."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.deploy.fast_reads import list_deployments

    rows = local_read(list_deployments)
    if rows is None:
        rows = _target().deployment_list()
    if json_out:
        emit_json(rows)
        return
    for doc in rows:
        _show(doc, False)


def rollback(
    name: Name,
    to_revision: Annotated[int | None, typer.Option("--to-revision", help="Restore this revision whole.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Even if its inputs differ from what clients send.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "manual rollback",
    json_out: JsonFlag = False,
) -> None:
    """Take traffic off the candidate, or restore an earlier revision (model, pipeline, contract,
    policy and monitoring together); then validate it (load, warm up, smoke requests)."""
    from modelkeep.cli.progress import byte_progress

    with byte_progress("loading models") as progress:  # a local rollback loads and validates the models here
        doc = _target().deployment_rollback(name, {"reason": reason, "to_revision": to_revision, "force": force},
                                            progress)
    if json_out:
        emit_json(doc)
        return
    _show(doc, False)
    v = doc["validation"]
    out_console().print(
        f"validation {'passed' if v['ok'] else 'FAILED'}: {v['smoke']['requests']} smoke requests, "
        f"{len(v['smoke']['failed'])} failed; not loaded: {v['health']['not_loaded'] or 'none'}",
        markup=False,
        soft_wrap=True,
    )
    if not v["ok"]:
        raise typer.Exit(1)


def export(
    name: Name,
    fmt: Annotated[str, typer.Option("--format", help="kserve (an InferenceService) or argo-rollouts (a Rollout, "
                                                      "its AnalysisTemplate and Services).")],
    image: Annotated[str, typer.Option("--image", help="A container image with modelkeep installed (runs mk).")],
    server: Annotated[
        str | None, typer.Option("--server", help="MODELKEEP_URL for the pods (default: this connection's server).")
    ] = None,
    token_secret: Annotated[
        str, typer.Option("--token-secret", help="The Secret whose key 'token' holds a deployer's token.")
    ] = "modelkeep-gateway",  # noqa: S107 - a Secret's name, not a secret
    prometheus: Annotated[str, typer.Option("--prometheus", help="Prometheus the analysis queries.")] = (
        "http://prometheus-operated.monitoring.svc:9090"
    ),
    namespace: Annotated[str | None, typer.Option("--namespace")] = None,
    replicas: Annotated[int, typer.Option("--replicas", min=1, max=1000)] = 2,
    out: Annotated[Path | None, typer.Option("--out", help="Write the manifests here (default: standard output).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Write the deployment as Kubernetes manifests: the new pods serve its candidate pinned
    (mk serve --pin), KServe or Argo Rollouts split traffic, and Argo's analysis runs the
    deployment's policy as Prometheus queries over the gateway's metrics."""
    import yaml

    from modelkeep.cli.remote import connection, server_url
    from modelkeep.services.deploy.k8s_export import ExportOptions
    from modelkeep.services.deploy.k8s_export import export as to_manifests

    status = _target().deployment_status(name)
    options = ExportOptions(image=image, server_url=server or server_url(), token_secret=token_secret,
                            prometheus=prometheus, namespace=namespace, replicas=replicas)
    arms = {a["name"]: a["model"] for a in status["arms"]}
    new = arms[status["candidate"]] if status.get("candidate") else arms[status["stable"]]
    # the version's own baseline, read as the deployment pins it: a deployer may read a pinned
    # version that is not approved yet (through the registry it may not)
    baselines = connection().gateway().control.pinned_version(name, new).metrics
    exported = to_manifests(status, fmt, options, baselines)
    if json_out:
        emit_json({"deployment": name, "format": fmt, **exported.versions, "manifests": exported.manifests})
    text = yaml.safe_dump_all(exported.manifests, sort_keys=False)
    if out is not None:
        try:
            out.write_text(text)
        except OSError as exc:
            raise InvalidInput(f"cannot write the manifests to {out}: {exc.strerror}",
                               hint="--out takes a file in a folder that exists") from None
    elif not json_out:
        out_console().print(text, markup=False, highlight=False, soft_wrap=True, end="")
    if out is not None or not json_out:
        err_console().print(f"{name}: {len(exported.manifests)} {fmt} manifests; the new pods serve {exported.versions['new']}"
                            f" (stable: {exported.versions['stable']})", markup=False, soft_wrap=True)


def switch(name: Name, json_out: JsonFlag = False) -> None:
    """Blue-green: send all traffic to the other version at once (and back)."""
    _show(_target().deployment_switch(name), json_out)


def serve(
    name: Annotated[str, typer.Argument(help="The deployment to serve.")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8480,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Gateway processes sharing the port (one per core).")
    ] = 1,
    trust: Annotated[list[str], typer.Option("--trust", help="A Python class this gateway may import (repeat).")] = [],  # noqa: B006
    gateway_id: Annotated[str | None, typer.Option("--gateway-id", help="This replica's name in reports.")] = None,
    window: Annotated[float | None, typer.Option("--window", help="Override the analysis window (seconds).")] = None,
    allow_pickle: Annotated[bool, typer.Option("--allow-pickle", help="Load pickles, MLflow pyfunc too (trusted only).")] = False,
    webhooks: Annotated[
        bool, typer.Option("--webhooks/--no-webhooks", help="Deliver alert and rollback events to webhooks from here too.")
    ] = True,
    log: Annotated[
        Path | None, typer.Option("--log", help="Append one JSON line per prediction (arm, version, key) here.")
    ] = None,
    pin: Annotated[
        str | None,
        typer.Option("--pin", metavar="NAME@VERSION", help="Serve this exact version alone, with no routing, rollout "
                     "or rollback of its own: Kubernetes splits traffic and decides (mk deploy export)."),
    ] = None,
) -> None:
    """Serve a deployment: Open Inference Protocol v2 and JSON, sticky routing, monitoring,
    automatic rollback. Stateless: run several on one registry; they agree on routing. With
    MODELKEEP_URL set it works through the server: the deployment, the model files and callers'
    tokens come from there, and it acts as its token's user (give it a deployer's token)."""
    import logging

    import uvicorn

    from modelkeep.gateway.serve import ServeConfig, build, export

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # through a server: not a line per request
    config = ServeConfig(
        name=name,
        trust=trust,
        gateway_id=gateway_id,
        window=window,
        allow_pickle=allow_pickle,
        webhooks=webhooks,
        log=str(log) if log else None,
        worker=workers > 1,
        pin=pin,
    )
    options: dict[str, Any] = {"log_level": "warning", "access_log": False}
    for key, module in (("loop", "uvloop"), ("http", "httptools")):
        try:
            __import__(module)
            options[key] = module
        except ImportError:
            pass
    if workers > 1:
        _target().deployment_status(name)  # fail here, once, if the deployment is not there
        export(config)
        err_console().print(f"serving {name} on http://{host}:{port} with {workers} gateway processes", markup=False)
        import shutil
        import tempfile

        metrics_dir = tempfile.mkdtemp(prefix="modelkeep-serve-metrics-")  # one /metrics view of every worker
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        try:
            uvicorn.run("modelkeep.gateway.serve:app_from_env", factory=True, workers=workers, host=host, port=port,
                        **options)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return
    from modelkeep.cli.progress import byte_progress

    with byte_progress("loading models") as progress:
        gateway, app = build(config, progress)
    state = gateway.readiness()
    err_console().print(
        f"serving {name} revision {state['revision']} on http://{host}:{port} "
        f"(traffic {state['traffic']}; failed: {state['failed'] or 'none'})",
        markup=False,
        soft_wrap=True,
    )
    try:
        uvicorn.run(app, host=host, port=port, **options)
    finally:
        gateway.stop()
