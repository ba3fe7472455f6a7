"""The real ``tritonclient[http]`` (in its own virtualenv) against a gateway served on loopback:
health, metadata, readiness per version, inference with the binary tensor extension (the client's
default) and with JSON tensors, requested outputs, and refusals the client reports (issue 11)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from modelkeep.gateway.app import create_gateway_app
from modelkeep.services.connection import LocalTokens
from modelkeep.services.workspace import Workspace
from tests import client_venvs
from tests.deploy_helpers import CLASS, gateway, register
from tests.live_server import free_port

CALLS = Path(__file__).parent / "clients" / "triton_calls.py"


@pytest.fixture
def served(workspace: Workspace, tmp_path: Path) -> Iterator[tuple[str, str]]:
    version = register(workspace, [1.0, 0.5, 0.0])
    d = workspace.deployments
    d.create("clf", d.plan("single", "clf@latest", trusted=[CLASS]))
    app = create_gateway_app(gateway(workspace, "clf", tmp_path), LocalTokens(workspace.access))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{server.config.port}", version.version
    server.should_exit = True
    thread.join(10)


def test_tritonclient_calls_pass(served: tuple[str, str]) -> None:
    url, version = served
    python = client_venvs.ensure("triton")
    done = subprocess.run([str(python), str(CALLS), url, "clf", version], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    assert out["is_server_live"] is True and out["is_server_ready"] is True
    assert out["server_metadata"]["name"] == "modelkeep-gateway" and "binary_tensor_data" in out["server_metadata"]["extensions"]
    assert out["is_model_ready"] is True and out["is_version_ready"] is True
    name = out["model_metadata"]["outputs"][0]["name"]
    assert out["version_metadata"]["outputs"][0]["name"] == name
    binary = out["infer_binary"]
    assert binary["name"] == name and binary["values"] == [1, 0]  # 2·1 - 1 > 0; -2·1 - 1 < 0
    assert binary["binary_size"]["binary_data_size"] == 16  # two INT64 values as raw bytes
    assert out["infer_json"]["values"] == [1, 0] and out["infer_json"]["outputs"][0]["data"] == [1, 0]
    assert out["infer_int32_version"] == [1]
    assert out["wrong_shape"]["status"] == "422" and "shape [1, 3] needs 3 values, got 6" in out["wrong_shape"]["error"]
    assert out["unknown_output"]["status"] == "422" and f"it has {name!r}" in out["unknown_output"]["error"]
    assert out["unknown_model"]["status"] == "404" and "serves 'clf'" in out["unknown_model"]["error"]
