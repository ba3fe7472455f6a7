"""The MLflow API's edges in-process (issue 13): errors in MLflow's shape, tokens as Bearer or
Basic, artifact paths that cannot leave their place, uploads that dedup in the store, sources
that must be files this server stores, numbers that are never handed out twice."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from modelkeep.errors import InvalidInput
from modelkeep.services.artifact_files import check_path
from modelkeep.services.workspace import Workspace
from tests.test_governance import team  # noqa: F401  (fixture)

API = "/api/2.0/mlflow"
FILES = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def client(team: Callable[[str], Workspace], workspace: Workspace) -> tuple[TestClient, dict[str, str]]:  # noqa: F811
    from modelkeep.api.app import create_app

    admin = team("admin")
    tokens = {who: admin.access.create_token(who)["token"] for who in ("carl", "vera")}
    return TestClient(create_app(workspace, dispatch_webhooks=False)), {
        who: f"Bearer {token}" for who, token in tokens.items()} | {
        "carl-basic": "Basic " + base64.b64encode(f"anyone:{tokens['carl']}".encode()).decode()}


def test_errors_come_in_mlflows_shape(client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    missing = http.get(f"{API}/registered-models/get", params={"name": "nope"}, headers={"Authorization": auth["vera"]})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "nope" in missing.json()["message"]
    anonymous = http.get(f"{API}/registered-models/get", params={"name": "fraud"})
    assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "UNAUTHENTICATED"
    unknown = http.get(f"{API}/no-such-endpoint", headers={"Authorization": auth["vera"]})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    malformed = http.post(f"{API}/registered-models/create", json={"tags": "x"}, headers={"Authorization": auth["carl"]})
    assert malformed.status_code == 400 and malformed.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    denied = http.post(f"{API}/registered-models/create", json={"name": "x"}, headers={"Authorization": auth["vera"]})
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    # Basic auth (MLFLOW_TRACKING_USERNAME/PASSWORD): the password is the token, the user name proves nothing
    made = http.post(f"{API}/registered-models/create", json={"name": "basic"}, headers={"Authorization": auth["carl-basic"]})
    assert made.status_code == 200 and made.json()["registered_model"]["user_id"] == "carl"
    assert http.get("/api/v1/models", headers={"Authorization": auth["vera"]}).status_code == 200  # the v1 API unchanged


def test_artifact_paths_stay_in_place_and_uploads_dedup(client: tuple[TestClient, dict[str, str]],
                                                        workspace: Workspace) -> None:
    for bad in ("1/../../etc/passwd", "1/a/./b", "1//b", "1\\b", "1/a\x00"):
        with pytest.raises(InvalidInput):
            check_path(bad)
    http, auth = client
    carl = {"Authorization": auth["carl"]}
    experiment = http.post(f"{API}/experiments/create", json={"name": "dedup"}, headers=carl).json()["experiment_id"]
    refused = http.put(f"{FILES}/{experiment}/a/%2E%2E/%2E%2E/x", content=b"x", headers=carl)
    assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert http.put(f"{FILES}/999/x.bin", content=b"x", headers=carl).json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    payload = bytes(range(256)) * 4096  # 1 MiB
    before = sum(p.stat().st_size for p in workspace.config.root.rglob("*.pack"))
    for name in ("run-a/model.bin", "run-b/model.bin"):
        assert http.put(f"{FILES}/{experiment}/{name}", content=payload, headers=carl).status_code == 200
    after = sum(p.stat().st_size for p in workspace.config.root.rglob("*.pack"))
    assert after - before < len(payload)  # stored once (and compressed), not twice
    listing = http.get(FILES, params={"path": f"{experiment}"}, headers=carl).json()["files"]
    assert listing == [{"path": "run-a", "is_dir": True}, {"path": "run-b", "is_dir": True}]
    assert http.get(f"{FILES}/{experiment}/run-b/model.bin", headers=carl).content == payload
    assert http.get(f"{FILES}/{experiment}/run-b/model.bin", headers={"Authorization": auth["vera"]}).status_code == 200
    assert http.put(f"{FILES}/{experiment}/v.bin", content=b"v", headers={"Authorization": auth["vera"]}).status_code == 403
    assert http.delete(f"{FILES}/{experiment}/run-a", headers=carl).status_code == 200
    assert [f["path"] for f in http.get(FILES, params={"path": experiment}, headers=carl).json()["files"]] == ["run-b"]


def test_sources_must_be_stored_files_and_numbers_are_never_reused(client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    carl = {"Authorization": auth["carl"]}
    for source in ("/etc/passwd", "file:///etc/passwd", "s3://bucket/model"):
        answer = http.post(f"{API}/model-versions/create", json={"name": "m", "source": source}, headers=carl)
        assert answer.status_code == 400 and "registers files it stores" in answer.json()["message"], source
    experiment = http.post(f"{API}/experiments/create", json={"name": "numbers"}, headers=carl).json()["experiment_id"]
    http.put(f"{FILES}/{experiment}/files/model.bin", content=b"weights", headers=carl)
    source = f"mlflow-artifacts:/{experiment}/files"
    numbers = [http.post(f"{API}/model-versions/create", json={"name": "m", "source": source},
                         headers=carl).json()["model_version"]["version"] for _ in range(3)]
    assert numbers == ["1", "2", "3"]
    assert http.request("DELETE", f"{API}/model-versions/delete", json={"name": "m", "version": "3"},
                        headers=carl).status_code == 200
    again = http.post(f"{API}/model-versions/create", json={"name": "m", "source": source}, headers=carl).json()
    assert again["model_version"]["version"] == "4"  # 3 was handed out once: never again
    one = http.get(f"{API}/model-versions/get", params={"name": "m", "version": "4"}, headers=carl).json()["model_version"]
    assert {t["key"] for t in one["tags"]} >= {"modelkeep.version", "modelkeep.bump"} and one["status"] == "READY"
    # the versions of fraud registered with mk (before any MLflow call) have numbers too
    first = http.get(f"{API}/model-versions/get", params={"name": "fraud", "version": "1"}, headers=carl).json()
    assert {"key": "modelkeep.version", "value": "1.0.0.0.0"} in first["model_version"]["tags"]


def test_runs_search_orders_as_mlflow_does(client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    carl = {"Authorization": auth["carl"]}
    experiment = http.post(f"{API}/experiments/create", json={"name": "ordered"}, headers=carl).json()["experiment_id"]
    made = []
    for i, rmse in enumerate((0.3, None, 0.1, 0.2)):
        run = http.post(f"{API}/runs/create", json={"experiment_id": experiment, "run_name": f"r{i}",
                                                    "start_time": 1_000 + i}, headers=carl).json()["run"]["info"]["run_id"]
        if rmse is not None:
            http.post(f"{API}/runs/log-metric", json={"run_id": run, "key": "rmse", "value": rmse, "timestamp": 1,
                                                      "step": 0}, headers=carl)
        made.append(run)

    def order(*clauses: str) -> list[str]:
        found = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment], "order_by": list(clauses)},
                          headers=carl)
        assert found.status_code == 200, found.text
        return [r["info"]["run_id"] for r in found.json()["runs"]]

    assert order("metrics.rmse ASC") == [made[2], made[3], made[0], made[1]]  # a run without the metric: last
    assert order("metrics.rmse DESC") == [made[0], made[3], made[2], made[1]]
    assert order() == order("attributes.start_time DESC") == order("start_time DESC")
    bad = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment], "order_by": ["metrics.rmse SIDEWAYS"]},
                    headers=carl)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
