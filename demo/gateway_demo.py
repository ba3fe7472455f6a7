"""Step 13 of the demo: a canary of a new version behind `mk serve`, a fault injected into the
canary and the automatic rollback with the alert's evidence; then a drift of every input at
once, reported as an upstream data problem with no rollback."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from background import background
from sklearn.linear_model import LogisticRegression

import modelkeep as mk_sdk
from modelkeep.examples import LinearClassifier

TRUST = "modelkeep.examples:LinearClassifier"


def _traffic(url: str, token: str, x: np.ndarray, y: np.ndarray, seconds: float, *,
             stop: Callable[[], bool] | None = None, rate: float = 60.0) -> dict[str, Counter[int]]:
    """Paced requests with sticky user keys, and the ground-truth label posted back for each."""
    served: dict[str, Counter[int]] = {}
    started = time.monotonic()
    i = 0
    with httpx.Client(timeout=5, headers={"authorization": f"Bearer {token}"}) as client:
        while time.monotonic() - started < seconds and not (stop and i % 20 == 0 and stop()):
            row = i % len(x)
            r = client.post(f"{url}/predict", json={"inputs": [x[row].tolist()]}, headers={"x-request-key": f"user-{i % 5000}"})
            served.setdefault(r.headers.get("x-modelkeep-version", "?"), Counter())[r.status_code] += 1
            if r.status_code == 200:
                client.post(f"{url}/feedback", json={"request_id": r.json()["request_id"], "label": int(y[row])})
            i += 1
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
    return served


def _show(served: dict[str, Counter[int]]) -> None:
    for version, codes in sorted(served.items()):
        print(f"  {version}: " + ", ".join(f"{n} × HTTP {code}" for code, n in sorted(codes.items())))


def gateway_demo(work: Path, mk: Callable[..., str], x_train: np.ndarray, y_train: np.ndarray,
                 x_test: np.ndarray, y_test: np.ndarray) -> None:
    import os

    from modelkeep.services.workspace import open_workspace

    os.environ["MODELKEEP_HOME"] = str(work)  # the SDK below and the mk commands use the demo repository
    os.environ["MODELKEEP_USER"] = "admin"  # the registry has users since step 12
    mk("user", "add", "gateway", "--role", "deployer")
    mk("role", "define", "model-client", "deployment.invoke", "deployment.read")
    mk("user", "add", "checkout-service", "--role", "model-client")
    token = json.loads(mk("token", "create", "checkout-service", "--json", show=False))["token"]
    print("the gateway acts as user 'gateway' (role deployer); the calling service holds a token that may only "
          "invoke and read deployments")
    registry = open_workspace(work)
    fault = work / "canary-fault"
    with mk_sdk.start_run(name="scorer-v1", project="fraud") as run:
        run.seed(0)
        v1 = LogisticRegression(C=1.0).fit(x_train, y_train)
        first = run.log_model(v1, "fraud-scorer", sample_input=x_train[:5], baseline=x_train,
                      metrics={"accuracy": float((v1.predict(x_test) == y_test).mean())})
    with mk_sdk.start_run(name="scorer-v2", project="fraud") as run:
        run.seed(0)
        lr = LogisticRegression(C=0.3).fit(x_train, y_train)
        v2 = LinearClassifier(lr.coef_[0].tolist(), float(lr.intercept_[0]), fault_file=str(fault))
        run.log_model(v2, "fraud-scorer", flavor="python", sample_input=x_train[:5], baseline=x_train,
                      metrics={"accuracy": float((v2.predict(x_test) == y_test).mean())})
    print("registered fraud-scorer 1.0.0 (scikit-learn) and its successor (a plain Python class), each with the "
          "profile of its training data and its validation accuracy as its monitoring baseline")
    mk("deploy", "create", "fraud-scorer", "--model", f"fraud-scorer@{first.version}", "--candidate", "fraud-scorer@latest",
       "--steps", "20,50,100", "--bake", "3600", "--window", "3", "--min-samples", "20", "--trust", TRUST)

    with (work / "gateway.log").open("wb") as log, background(
            ["serve", "fraud-scorer"], "/v2/health/ready", cwd=work, env={**os.environ, "MODELKEEP_USER": "gateway"},
            log=log) as url:
        print("sending 60 requests/s for 5 s (sticky user keys, labels posted back to /feedback):")
        _show(_traffic(url, token, x_test, y_test, 5))

        print(f"\ninjecting a fault into the canary: every call to it now raises (echo fail > {fault.name})")
        fault.write_text("fail")
        injected = time.monotonic()

        def rolled_back() -> bool:
            return registry.deployments.status("fraud-scorer")["status"] == "rolled_back"

        served = _traffic(url, token, x_test, y_test, 60, stop=rolled_back)
        print(f"automatic rollback {time.monotonic() - injected:.1f} s after the fault; traffic meanwhile:")
        _show(served)
        print("after the rollback every request goes to the stable version:")
        _show(_traffic(url, token, x_test, y_test, 2))
        mk("deploy", "history", "fraud-scorer")
        alert = json.loads(mk("audit", "log", "--action", "deployment.alert", "--limit", "1", "--json", show=False))[0]
        print(f"alert: {alert['detail']['message']}")
        print(f"  blamed: {alert['detail']['blamed']}, rollback: {alert['detail']['rollback']}")
        evidence = json.loads(mk("deploy", "history", "fraud-scorer", "--json", show=False))[0]
        for check in evidence["evidence"]["checks"]:
            detail = check.get("detail") or f"stable {check.get('stable')}, candidate {check.get('candidate')}"
            print(f"  check {check['check']}: {check['result']} ({detail})")
        print(f"  validation after the rollback: {'passed' if evidence['validation']['ok'] else 'FAILED'} "
              f"(health, {evidence['validation']['smoke']['requests']} smoke requests, metric check "
              f"{evidence['validation']['metric_check']})")

        print("\nthe canary is fixed and rolled out again; then an upstream feature pipeline breaks: "
              "f0 and f1 arrive shifted for every version")
        fault.unlink()
        mk("deploy", "update", "fraud-scorer", "--candidate", "fraud-scorer@latest", "--steps", "50,100",
           "--window", "5", "--reason", "fault fixed")
        time.sleep(1.5)
        _traffic(url, token, x_test, y_test, 3)
        shifted = x_test.copy()
        shifted[:, :2] += 2.5
        from modelkeep.services.governance import audit

        def upstream_alerted() -> bool:
            latest = audit.query(registry.db, action="deployment.alert", limit=1)
            return bool(latest) and latest[0]["detail"]["scope"] == "upstream"

        _traffic(url, token, shifted, y_test, 30, stop=upstream_alerted)
        _traffic(url, token, shifted, y_test, 4)
        alert = json.loads(mk("audit", "log", "--action", "deployment.alert", "--limit", "1", "--json", show=False))[0]
        print(f"alert: {alert['detail']['message']}")
        print(f"  scope: {alert['detail']['scope']}, blamed: {alert['detail']['blamed'] or 'no version'}, "
              f"rollback: {alert['detail']['rollback']}")
        mk("deploy", "status", "fraud-scorer")
        metrics = httpx.get(f"{url}/metrics", headers={"authorization": f"Bearer {token}"}).text.splitlines()
        print("some of /metrics (Prometheus):")
        for line in [m for m in metrics if m.startswith(("modelkeep_gateway_feature_psi", "modelkeep_gateway_feedback_metric{"))
                     and ('feature="f0"' in m or 'feature="f2"' in m or 'metric="accuracy"' in m)][:6]:
            print(f"  {line}")

