"""Open Inference Protocol v2 conformance in-process (issue 11): datatypes enforced, output names
the same in metadata and answers, requested outputs honored, version routes, and JSON errors on
unknown routes; the binary tensor extension's framing (the real tritonclient: test_gateway_tritonclient.py)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from starlette.testclient import TestClient

from modelkeep.gateway.app import create_gateway_app
from modelkeep.services.connection import LocalTokens
from tests.deploy_helpers import CLASS, gateway, register


def _client(workspace, tmp_path: Path) -> tuple[TestClient, str]:
    version = register(workspace, [1.0, 0.5, 0.0])
    d = workspace.deployments
    d.create("clf", d.plan("single", "clf@latest", trusted=[CLASS]))
    gw = gateway(workspace, "clf", tmp_path)
    return TestClient(create_gateway_app(gw, LocalTokens(workspace.access))), version.version


def _tensor(datatype: str, data: list) -> dict:
    return {"inputs": [{"name": "x", "shape": [1, 3], "datatype": datatype, "data": data}]}


def test_datatypes_are_enforced(workspace, tmp_path: Path) -> None:
    client, _ = _client(workspace, tmp_path)
    assert client.post("/v2/models/clf/infer", json=_tensor("FP64", [1.5, 2, 3])).status_code == 200
    assert client.post("/v2/models/clf/infer", json=_tensor("INT64", [1, 2, 3])).status_code == 200
    for datatype, data, why in (("INT8", [1.5, 2, 3], "1.5 is not INT8"), ("INT8", [1, 2, 300], "300 is not INT8"),
                                ("UINT8", [1, -2, 3], "-2 is not UINT8"), ("BOOL", [1, 0, 1], "1 is not BOOL"),
                                ("FP32", [1, "a", 3], "'a' is not FP32"), ("INT32", [True, 2, 3], "True is not INT32")):
        answer = client.post("/v2/models/clf/infer", json=_tensor(datatype, data))
        assert answer.status_code == 422 and why in answer.json()["error"], (datatype, answer.text)


def test_outputs_match_metadata_and_requested_outputs_are_honored(workspace, tmp_path: Path) -> None:
    client, version = _client(workspace, tmp_path)
    metadata = client.get("/v2/models/clf").json()
    names = [o["name"] for o in metadata["outputs"]]
    answer = client.post("/v2/models/clf/infer", json=_tensor("FP64", [2, 0, 0])).json()
    assert [o["name"] for o in answer["outputs"]] == names
    asked = {**_tensor("FP64", [2, 0, 0]), "outputs": [{"name": names[0]}]}
    assert [o["name"] for o in client.post("/v2/models/clf/infer", json=asked).json()["outputs"]] == names
    unknown = client.post("/v2/models/clf/infer", json={**_tensor("FP64", [2, 0, 0]), "outputs": [{"name": "nope"}]})
    assert unknown.status_code == 422 and names[0] in unknown.json()["error"]
    one = client.get(f"/v2/models/clf/versions/{version}").json()
    assert one["versions"] == [f"clf@{version}"] and [o["name"] for o in one["outputs"]] == names
    assert client.get(f"/v2/models/clf/versions/{version}/ready").json() == {"name": "clf", "ready": True}
    missing = client.get("/v2/models/clf/versions/9.9.9/ready")
    assert missing.status_code == 404 and "not live" in missing.json()["error"]


def test_unknown_routes_answer_json(workspace, tmp_path: Path) -> None:
    client, _ = _client(workspace, tmp_path)
    for answer in (client.get("/v2/nothing/here"), client.delete("/v2/models/clf/infer")):
        assert answer.status_code in (404, 405) and answer.headers["content-type"].startswith("application/json")
        assert answer.json()["error"]


def _binary(header: dict, blob: bytes, length: int | None = None) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    return head + blob, {"Inference-Header-Content-Length": str(len(head) if length is None else length)}


def test_binary_tensors_are_framed_and_checked(workspace, tmp_path: Path) -> None:
    client, _ = _client(workspace, tmp_path)
    values = np.array([[2.0, 0.0, 0.0]], dtype="<f4")
    header = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}}],
              "parameters": {"binary_data_output": True}}
    body, headers = _binary(header, values.tobytes())
    answer = client.post("/v2/models/clf/infer", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    split = int(answer.headers["inference-header-content-length"])
    out = json.loads(answer.content[:split])["outputs"][0]
    assert out["parameters"]["binary_data_size"] == 8 and "data" not in out
    assert np.frombuffer(answer.content[split:], dtype="<i8").tolist() == [1]
    for blob, length, why in ((values.tobytes() + b"x", None, "1 bytes that no input"),
                              (values.tobytes()[:10], None, "12 bytes, 10 left"),
                              (values.tobytes(), 10_000, "is not a length within")):
        body, headers = _binary(header, blob, length)
        refused = client.post("/v2/models/clf/infer", content=body, headers=headers)
        assert refused.status_code == 422 and why in refused.json()["error"], refused.text
    text = {"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 6}}]}
    body, headers = _binary(text, struct.pack("<I", 9) + b"ab")
    assert "says 9 bytes" in client.post("/v2/models/clf/infer", content=body, headers=headers).json()["error"]
