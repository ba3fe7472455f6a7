"""The official ``mlflow`` client (the latest 3.x and the newest 2.x, each in its own virtualenv)
against ``mk server`` (issue 13): a training script's start_run, log_param/metric and
sklearn.log_model(registered_model_name=...), MlflowClient search with pagination over 250
versions, aliases, pyfunc.load_model("models:/NAME@champion"), register_model("runs:/..."),
the client's own exceptions for refusals, and a protected alias that the old API cannot move.
What MLflow registered is a modelkeep version: lineage, diff and a promotion work on it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import client_venvs

CALLS = Path(__file__).parent.parent / "clients" / "mlflow_calls.py"


def call(server: dict[str, str], who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, server["url"] + path, headers={"Authorization": f"Bearer {server[who]}"}, timeout=30,
                         **kwargs)


@pytest.mark.long
@pytest.mark.parametrize("client", ["mlflow3", "mlflow2"])
def test_the_mlflow_client_works_against_mk_server(server: dict[str, str], client: str, tmp_path: Path) -> None:
    python = client_venvs.ensure(client)
    model = f"fraud-{client}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": server["url"], "MLFLOW_TRACKING_TOKEN": server["carl"],
           "VIEWER_TOKEN": server["vera"], "HOME": str(tmp_path)}
    done = subprocess.run([str(python), str(CALLS), model], capture_output=True, text=True, timeout=600, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])  # mlflow prints its own lines before ours
    assert out["mlflow"].startswith("3." if client == "mlflow3" else "2.")
    assert out["run"] == {"status": "FINISHED", "params": {"C": "0.5"}, "metrics": {"auc": 0.93}, "team": "risk"}
    assert out["history"] == [[0, 0.91, 1_700_000_000_123], [1, 0.93, 1_700_000_060_456]]  # each point's own moment
    assert out["v1"]["status"] == "READY" and out["v1"]["run_id"] == out["run_id"]
    assert out["v1"]["tags"]["modelkeep.version"] == "1.0.0.0.0" and out["v1"]["tags"]["modelkeep.bump"] == "initial"
    assert out["alias_version"] == "1" and out["same_predictions"] is True
    assert out["runs_uri_version"] == "2"
    assert out["duplicate"]["code"] == "RESOURCE_ALREADY_EXISTS"
    assert out["missing_alias"]["code"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["protected"]["code"] == "PERMISSION_DENIED" and "mk promote" in out["protected"]["message"]
    assert out["aliases_after_delete"] == {}
    assert out["search"] == {"pages": 3, "versions": list(range(1, 251))}
    assert model in out["models"]
    assert out["v2"]["description"] == "second" and out["v2"]["tags"]["reviewed"] == "yes"
    assert out["viewer_write"]["code"] == "PERMISSION_DENIED" and out["viewer_read"] == model
    assert out["multipart"] == {"in_parts": 1, "same": True}  # 1.3 MB in 6 parts of 256 KiB, read back whole

    # What MLflow registered is a modelkeep version like any other.
    first = out["v1"]["tags"]["modelkeep.version"]
    digest = out["v1"]["tags"]["modelkeep.digest"]
    assert out["v2"]["tags"]["modelkeep.digest"] == digest  # the same files twice: one tree object
    lineage = call(server, "vera", "GET", "/api/v1/lineage", params={"ref": f"{model}@{first}"}).json()
    assert f"run:{out['run_id']}" in {n["id"] for n in lineage["nodes"]}
    diff = call(server, "vera", "GET", "/api/v1/diff", params={"a": f"{model}@{first}", "b": f"{model}@latest"})
    assert diff.status_code == 200
    request = call(server, "carl", "POST", "/api/v1/promotions",
                   json={"ref": f"{model}@{first}", "alias": "production", "justification": "moved from MLflow"})
    assert request.status_code == 201, request.text
    approved = call(server, "ada", "POST", f"/api/v1/promotions/{request.json()['id']}/reviews",
                    json={"decision": "approve", "comment": "ok"})
    assert approved.json()["status"] == "applied"
    held = call(server, "vera", "GET", "/api/2.0/mlflow/registered-models/alias",
                params={"name": model, "alias": "production"}).json()
    assert held["model_version"]["version"] == "1"  # MLflow's client sees what governance decided

    # ... and a deployer serves it with mk, loading the files MLflow wrote (MLmodel, model.skops)
    from modelkeep.client.connect import RemoteConnection
    from modelkeep.gateway.runtime import Gateway
    from modelkeep.gateway.serve import PinnedVersions
    from modelkeep.services.deploy.predictor import ModelLoader
    from tests.deploy_helpers import FakeTime

    admin = RemoteConnection(server["url"], server["admin"])
    admin.admin.define_role("gateway", ["model.read", "deployment.read", "deployment.write"])  # reads chunks itself
    admin.admin.create_user(f"gw-{client}")
    admin.admin.bind(f"gw-{client}", "gateway")
    token = admin.admin.create_token(f"gw-{client}")["token"]
    admin.close()
    dep = RemoteConnection(server["url"], server["dep"])
    dep.deployments.deployment_create(f"{model}-svc", {"model": f"{model}@production"})  # a deployer deploys what passed
    dep.close()
    deployer = RemoteConnection(server["url"], token)
    try:
        support = deployer.gateway()
        # MLflow 3 saves skops (its types checked, no opt-in); MLflow 2 saves cloudpickle: served only with the
        # operator's explicit opt-in (mk serve --allow-pickle), as any pickle
        loader = ModelLoader(PinnedVersions(support.control, f"{model}-svc"), deployer.store, tmp_path / "serve-cache",
                             allow_pickle=client == "mlflow2")
        gateway = Gateway(support.control, loader, f"{model}-svc", gateway_id="mlflow-test", timer=FakeTime().now)
        gateway.start(control=False)
        answer = gateway.infer([[1.5, 0.0, 0.0], [-1.5, 0.0, 0.0]], "k")
        assert answer["model"] == f"{model}@{first}" and answer["predictions"] == [1, 0]
        gateway.stop()
    finally:
        deployer.close()


@pytest.mark.long
def test_mlflow_webhooks_through_the_mlflow_client(server: dict[str, str], tmp_path: Path) -> None:
    """MLflow 3's webhooks API: create, get, list in pages, update, test, delete; deliveries of what a
    contributor then does through MLflow, in MLflow's shape, verified with MLflow's own signing code."""
    python = client_venvs.ensure("mlflow3")
    env = {**os.environ, "MLFLOW_TRACKING_URI": server["url"], "MLFLOW_TRACKING_TOKEN": server["admin"],
           "WRITER_TOKEN": server["carl"], "HOME": str(tmp_path)}
    done = subprocess.run([str(python), str(CALLS.with_name("mlflow_webhooks.py")), "hooked"], capture_output=True,
                          text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["created"] == {"name": "ci", "status": "ACTIVE", "description": "tells CI", "events": [
        "model_version.created", "model_version_alias.created", "model_version_tag.set", "registered_model.created"]}
    assert out["got"] is True and out["updated"] == "tells CI, again"
    assert out["listed"] == {"pages": 2, "names": ["ci", "spare-0", "spare-1", "spare-2"]}
    assert out["test"] == {"success": True, "status": 200, "signed": True,
                           "data": {"name": "example_model", "alias": "example_alias", "version": "1"}}
    assert out["writer_create"]["code"] == "PERMISSION_DENIED"
    assert out["delivered"] == [
        {"event": "registered_model.created", "signed": True,
         "data": {"name": "hooked", "tags": {"team": "risk"}, "description": "catches fraud"}},
        {"event": "model_version.created", "signed": True,
         "data": {"name": "hooked", "version": "1", "source": f"runs:/{out['run_id']}/model", "run_id": out["run_id"],
                  "description": None, "tags": {"stage": "dev"}}},
        {"event": "model_version_alias.created", "signed": True, "data": {"name": "hooked", "alias": "champion", "version": "1"}},
        {"event": "model_version_tag.set", "signed": True,
         "data": {"name": "hooked", "version": "1", "key": "reviewed", "value": "yes"}},
    ]
    assert out["distinct_deliveries"] == 4
    assert out["after_delete"]["code"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["bad_event"]["code"] == "INVALID_PARAMETER_VALUE" and "no prompts" in out["bad_event"]["message"]


@pytest.mark.long
def test_an_onnx_model_logged_with_mlflow_loads_and_predicts_with_mk(server: dict[str, str], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``mlflow.onnx.log_model(..., registered_model_name=...)`` (weights as external data, as MLflow
    saves them) gives a version that ``mk.load_model`` loads as ONNX and predicts with: no pickle anywhere."""
    import numpy as np

    import modelkeep as mk

    python = client_venvs.ensure("mlflow3")
    env = {**os.environ, "MLFLOW_TRACKING_URI": server["url"], "MLFLOW_TRACKING_TOKEN": server["carl"], "HOME": str(tmp_path)}
    done = subprocess.run([str(python), str(CALLS.with_name("mlflow_onnx.py")), "onnx-linear"], capture_output=True,
                          text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert str(out["version"]) == "1"
    monkeypatch.setenv("MODELKEEP_URL", server["url"])
    monkeypatch.setenv("MODELKEEP_TOKEN", server["vera"])
    monkeypatch.setenv("MODELKEEP_CACHE", str(tmp_path / "cache"))
    predictor = mk.load_model("onnx-linear@latest", as_predictor=True)
    predicted = predictor.predict(np.array(out["x"], dtype=np.float32))
    assert np.allclose(np.asarray(predicted, dtype=np.float64).reshape(-1, 1), np.array(out["y"]), atol=1e-4)


@pytest.mark.long
def test_a_custom_pyfunc_model_logged_with_mlflow_loads_through_mlflow_with_the_opt_in(server: dict[str, str],
                                                                                        tmp_path: Path) -> None:
    """A custom ``mlflow.pyfunc.PythonModel`` (a cloudpickle, with an artifact) registered through MLflow
    loads with ``mk.load_model`` in an environment that has MLflow, through MLflow's own loader, only with
    ``allow_pickle=True``; the predictor takes a DataFrame in any column order, or rows as the gateway does."""
    python = client_venvs.ensure("mlflow3-serve")
    env = {**os.environ, "MLFLOW_TRACKING_URI": server["url"], "MLFLOW_TRACKING_TOKEN": server["carl"],
           "MODELKEEP_URL": server["url"], "MODELKEEP_TOKEN": server["vera"], "MODELKEEP_CACHE": str(tmp_path / "cache"),
           "HOME": str(tmp_path)}
    done = subprocess.run([str(python), str(CALLS.with_name("mlflow_pyfunc.py")), "custom-scorer"], capture_output=True,
                          text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert str(out["version"]) == "1"
    assert "allow_pickle" not in out["without_opt_in"] and "runs arbitrary code" in out["without_opt_in"]
    assert out["through_mlflow"] == pytest.approx(out["expected"])
    assert out["frame"] == pytest.approx(out["expected"]) and out["rows"] == pytest.approx(out["expected"])
