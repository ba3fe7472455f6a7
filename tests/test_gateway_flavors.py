"""The gateway serves every flavor through its loader: scikit-learn (skops), ONNX Runtime,
PyTorch (state_dict + trusted class) and a plain Python class; answers match the model in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper
from sklearn.linear_model import LogisticRegression
from starlette.testclient import TestClient

from modelkeep.gateway.app import create_gateway_app
from modelkeep.services.connection import LocalTokens
from tests.deploy_helpers import TRAIN, gateway, send
from tests.test_flavors_frameworks import CLASS_PATH, TinyNet

X = TRAIN[:200]
Y = (X[:, 0] - X[:, 1] > 0).astype(int)
SIGNATURE = {"inputs": [{"name": f"f{i}", "type": "double"} for i in range(3)], "outputs": [{"name": "y", "type": "double"}]}


def _linear_onnx() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    weights = helper.make_tensor("w", TensorProto.FLOAT, [3, 1], [1.0, -2.0, 0.5])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "linear", [x], [y], [weights])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _log(ws, model, flavor: str, **kwargs):  # type: ignore[no-untyped-def]
    with ws.runs.start("train") as run:
        run.seed(0)
        return run.log_model(model, "m", flavor=flavor, **kwargs)


@pytest.mark.parametrize("flavor", ["sklearn", "onnx", "pytorch"])
def test_each_flavor_is_served_and_answers_like_the_model(workspace, tmp_path: Path, flavor: str) -> None:
    trusted: list[str] = []
    if flavor == "sklearn":
        model = LogisticRegression().fit(X, Y)
        version = _log(workspace, model, "sklearn", sample_input=X[:5], baseline=X)
        expected = model.predict(X[:20]).tolist()
    elif flavor == "onnx":
        version = _log(workspace, _linear_onnx(), "onnx", signature=SIGNATURE)
        expected = (X[:20].astype(np.float32) @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)).tolist()
    else:
        torch.manual_seed(0)
        net = TinyNet(width=2)
        version = _log(workspace, net, "pytorch", sample_input=torch.tensor(X[:5], dtype=torch.float32),
                       init_kwargs={"width": 2})
        trusted = [CLASS_PATH]
        with torch.no_grad():
            expected = net(torch.tensor(X[:20], dtype=torch.float32)).numpy().tolist()
    d = workspace.deployments
    d.create("svc", d.plan("single", f"m@{version.version}", trusted=trusted))
    gw = gateway(workspace, "svc", tmp_path)
    assert gw.readiness()["failed"] == {} and gw.live.arms["stable"].warmup_ms is not None
    answers = send(gw, X[:20].tolist())
    got = [a["predictions"][0] for a in answers]
    assert np.allclose(np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64), atol=1e-5)
    assert {a["model"] for a in answers} == {f"m@{version.version}"}


def test_business_metrics_can_be_posted_per_version(workspace, tmp_path: Path) -> None:
    from tests.deploy_helpers import CLASS, register

    register(workspace, [1.0, 0.5, 0.0])
    d = workspace.deployments
    d.create("clf", d.plan("single", "clf@latest", trusted=[CLASS]))
    gw = gateway(workspace, "clf", tmp_path)
    client = TestClient(create_gateway_app(gw, LocalTokens(workspace.access)))
    ok = client.post("/business", json={"version": "clf@1.0.0.0.0", "metric": "conversion", "values": [1, 0, 1]})
    assert ok.status_code == 200 and ok.json() == {"accepted": 3}
    assert client.post("/business", json={"version": "stable", "metric": "revenue", "value": 12.5}).json() == {"accepted": 1}
    assert client.post("/business", json={"version": "clf@9.9.9", "metric": "x", "values": [1]}).status_code == 404
    bad = client.post("/business", json={"version": "stable", "metric": "x", "values": ["a"]})
    assert bad.status_code == 422 and "values" in bad.json()["error"]
    send(gw, [[0.0, 0.0, 0.0]] * 60)
    window = gw.tick(force_window=True)["windows"]["stable"]
    assert window["business"] == {"conversion": {"n": 3, "mean": 0.6667}, "revenue": {"n": 1, "mean": 12.5}}
