"""``mk deploy export``: a deployment as KServe or Argo Rollouts manifests, checked against the
published schemas (the kserve SDK's models from PyPI, Argo's compiled validators from npm), and
the gateway mode the pods run: ``mk serve NAME --pin NAME@VERSION``, one version, no routing,
rollout or rollback of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelkeep.errors import InvalidInput
from modelkeep.services.deploy.k8s_export import ExportOptions, export
from tests import client_venvs
from tests.deploy_helpers import CLASS, gateway, register, rows, send

CLIENTS = Path(__file__).resolve().parent / "clients"
STABLE, CANDIDATE = "clf@1.0.0.0.0", "clf@1.0.1.0.0"
POLICY = {"window_s": 30, "min_samples": 40, "failing_windows": 3, "max_error_rate": 0.02, "max_p99_ms": 250}


@pytest.fixture(autouse=True)
def _faults_take_effect_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.examples import LinearClassifier

    monkeypatch.setattr(LinearClassifier, "CHECK_S", 0.0)  # the fault file is read at every call, not every 50 ms


@pytest.fixture
def canary(workspace, tmp_path: Path):
    fault = tmp_path / "fault"
    register(workspace, [1.0, 0.5, 0.0], accuracy=0.93)
    register(workspace, [1.0, 0.45, 0.05], fault=fault, accuracy=0.91)
    d = workspace.deployments
    d.create("clf", d.plan("canary", STABLE, candidate=CANDIDATE, trusted=[CLASS],
                           rollout={"steps": [10, 50, 100], "bake_s": 120}, policy=POLICY))
    return workspace, fault


def _validate(script: list[str], manifests: list[dict[str, Any]]) -> dict[str, Any]:
    done = subprocess.run(script, input=json.dumps(manifests), capture_output=True, text=True, timeout=120)
    assert done.stdout, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert (done.returncode == 0) == (not result["errors"])
    return result


def _argo(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    client_venvs.ensure_npm("k8s-schemas")
    return _validate(["node", str(CLIENTS / "argo_validate.js")], manifests)


def _kserve(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return _validate([str(client_venvs.ensure("kserve")), str(CLIENTS / "kserve_validate.py")], manifests)


def test_a_pinned_gateway_serves_one_version_and_never_rolls_back(canary, tmp_path: Path) -> None:
    ws, fault = canary
    gw = gateway(ws, "clf", tmp_path, pin=CANDIDATE)
    assert {a["arm"] for a in send(gw, rows(200))} == {"canary"}  # all traffic, whatever the weights say
    assert gw.readiness()["ready"] and gw.readiness()["traffic"] == {"canary": 100.0}
    fault.write_text("fail")
    for seed in (2, 3, 4):
        send(gw, rows(200, seed=seed))
        report = gw.tick(force_window=True)
        assert report is not None and report["decision"] == "none"
    status = ws.deployments.status("clf")
    assert status["revision"] == 1 and status["candidate"] == "canary"  # nothing advanced, nothing rolled back
    errors = [line for line in gw.metrics.exposition().decode().splitlines()
              if line.startswith("modelkeep_gateway_requests_total{") and 'outcome="error"' in line]
    assert len(errors) == 1 and 'version="1.0.1.0.0"' in errors[0] and 'arm="canary"' in errors[0]
    assert float(errors[0].rsplit(" ", 1)[1]) > 0
    gw.stop()


def test_pinning_a_version_the_deployment_does_not_pin_is_refused(canary, tmp_path: Path) -> None:
    ws, _ = canary
    with pytest.raises(InvalidInput, match=r"does not pin clf@9\.0\.0\.0\.0; it pins clf@1\.0\.0\.0\.0, clf@1\.0\.1\.0\.0"):
        gateway(ws, "clf", tmp_path, pin="clf@9.0.0.0.0")


def test_argo_rollouts_export_runs_the_policy_as_prometheus_analysis(canary) -> None:
    ws, _ = canary
    exported = export(ws.deployments.status("clf"), "argo-rollouts", ExportOptions(image="registry.local/mk:1"),
                      ws.registry.get(CANDIDATE).metrics)
    assert exported.versions == {"new": CANDIDATE, "stable": STABLE}
    rollout, template, service = exported.manifests
    container = rollout["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:4] == ["serve", "clf", "--pin", CANDIDATE]
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert steps == [{"setWeight": 10}, {"pause": {"duration": "120s"}}, {"setWeight": 50},
                     {"pause": {"duration": "120s"}}, {"setWeight": 100}]
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert set(metrics) == {"error-rate", "p99-latency-vs-stable", "p99-latency", "prediction-drift", "feedback-accuracy"}
    assert all(m["interval"] == "30s" and m["failureLimit"] == 2 for m in metrics.values())
    assert metrics["error-rate"]["successCondition"] == "isNaN(result[0]) || result[0] <= 0.02"
    assert 'version="{{args.version}}",outcome="error"' in metrics["error-rate"]["provider"]["prometheus"]["query"]
    assert "[60s]" in metrics["error-rate"]["provider"]["prometheus"]["query"]  # never shorter than two scrapes
    assert 'version="{{args.stable-version}}"' in metrics["p99-latency-vs-stable"]["provider"]["prometheus"]["query"]
    assert metrics["p99-latency"]["successCondition"].endswith("result[0] <= 0.25")
    # the candidate's own baseline: its registered accuracy (0.91) less the policy's allowed drop (0.05)
    assert metrics["feedback-accuracy"]["successCondition"] == "isNaN(result[0]) || result[0] >= 0.86"
    assert rollout["spec"]["strategy"]["canary"]["analysis"]["args"] == [
        {"name": "version", "value": "1.0.1.0.0"}, {"name": "stable-version", "value": "1.0.0.0.0"}]
    assert service["kind"] == "Service"
    result = _argo(exported.manifests)
    assert result == {"validated": ["Rollout/clf", "AnalysisTemplate/clf-modelkeep"], "errors": []}
    # the validator refuses what the schema does not allow
    broken = json.loads(json.dumps(exported.manifests))
    broken[0]["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = "ten"
    assert "setWeight must be integer" in _argo(broken)["errors"][0]


def test_kserve_export_is_a_valid_inference_service_with_canary_traffic(canary) -> None:
    ws, _ = canary
    options = ExportOptions(image="registry.local/mk:1", server_url="https://mk.example", namespace="models", replicas=3)
    exported = export(ws.deployments.status("clf"), "kserve", options, {})
    (service,) = exported.manifests
    predictor = service["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10 and predictor["minReplicas"] == 3
    assert service["metadata"]["namespace"] == "models"
    assert service["metadata"]["annotations"]["modelkeep.io/rollout-steps"] == "10,50,100"
    env = {e["name"]: e for e in predictor["containers"][0]["env"]}
    assert env["MODELKEEP_URL"]["value"] == "https://mk.example"
    assert env["MODELKEEP_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "modelkeep-gateway", "key": "token"}}
    assert _kserve(exported.manifests) == {"validated": ["InferenceService/clf"], "errors": []}
    # the validator refuses what the schema does not allow: a wrong type, a field it does not have
    wrong_type, unknown_field = json.loads(json.dumps(exported.manifests * 2))
    wrong_type["spec"]["predictor"]["canaryTrafficPercent"] = "10%"
    unknown_field["spec"]["predictor"]["containers"][0]["replicas"] = 2
    errors = _kserve([wrong_type, unknown_field])["errors"]
    assert errors[0].endswith("canaryTrafficPercent: expected int, got str '10%'")
    assert errors[1].endswith("containers[0]: V1Container has no field replicas")


def test_ab_and_unknown_formats_are_refused_with_what_is_valid(workspace) -> None:
    register(workspace, [1.0, 0.5, 0.0])
    register(workspace, [1.0, 0.45, 0.05])
    d = workspace.deployments
    d.create("clf", d.plan("ab", STABLE, arms=[(CANDIDATE, 30.0)], trusted=[CLASS]))
    status = d.status("clf")
    with pytest.raises(InvalidInput, match="clf is ab: Kubernetes splits traffic between two revisions only"):
        export(status, "kserve", ExportOptions(image="i"), {})
    with pytest.raises(InvalidInput, match="unknown export format 'helm'; valid: kserve, argo-rollouts"):
        export(status, "helm", ExportOptions(image="i"), {})


def test_the_command_writes_yaml_and_json(canary, tmp_path: Path) -> None:
    ws, _ = canary
    env = {**os.environ, "MODELKEEP_USER": "cli-tester"}
    env.pop("MODELKEEP_HOME", None)
    env.pop("MODELKEEP_URL", None)
    out = tmp_path / "rollout.yaml"
    command = [sys.executable, "-m", "modelkeep.cli.main", "deploy", "export", "clf", "--format", "argo-rollouts",
               "--image", "registry.local/mk:1"]
    done = subprocess.run([*command, "--out", str(out)], cwd=ws.config.root.parent, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "3 argo-rollouts manifests; the new pods serve clf@1.0.1.0.0 (stable: clf@1.0.0.0.0)" in done.stderr
    docs = list(yaml.safe_load_all(out.read_text()))
    assert [d["kind"] for d in docs] == ["Rollout", "AnalysisTemplate", "Service"]
    shown = subprocess.run([*command, "--json"], cwd=ws.config.root.parent, env=env, capture_output=True, text=True,
                           timeout=60)
    assert json.loads(shown.stdout)["manifests"] == docs
    bad = subprocess.run([*command[:-4], "--format", "helm", "--image", "i"], cwd=ws.config.root.parent, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "valid: kserve, argo-rollouts" in bad.stderr and "Traceback" not in bad.stderr
    nowhere = subprocess.run([*command, "--out", str(tmp_path / "no" / "such" / "x.yaml")], cwd=ws.config.root.parent,
                             env=env, capture_output=True, text=True, timeout=60)
    assert nowhere.returncode == 1 and "cannot write the manifests to" in nowhere.stderr
    assert "No such file or directory" in nowhere.stderr and "Traceback" not in nowhere.stderr
