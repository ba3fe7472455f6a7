"""The MLflow API's edges in-process (issue 13): errors in MLflow's shape, tokens as Bearer or
Basic, artifact paths that cannot leave their place, uploads that dedup in the store, sources
that must be files this server stores, numbers that are never handed out twice."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from typing import Any

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
    http.put(f"{FILES}/{experiment}/files/artifacts/vocab.json", content=b"{}", headers=carl)
    source = f"mlflow-artifacts:/{experiment}/files"
    numbers = [http.post(f"{API}/model-versions/create", json={"name": "m", "source": source},
                         headers=carl).json()["model_version"]["version"] for _ in range(3)]
    assert numbers == ["1", "2", "3"]
    # a version's own files list as MLflow's server lists a folder: the names in it, which the client joins
    uri = http.get(f"{API}/model-versions/get-download-uri", params={"name": "m", "version": "1"}, headers=carl).json()
    root = uri["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert http.get(FILES, params={"path": root}, headers=carl).json()["files"] == [
        {"path": "artifacts", "is_dir": True}, {"path": "model.bin", "is_dir": False, "file_size": 7}]
    assert http.get(FILES, params={"path": f"{root}/artifacts"}, headers=carl).json()["files"] == [
        {"path": "vocab.json", "is_dir": False, "file_size": 2}]
    assert http.get(f"{FILES}/{root}/artifacts/vocab.json", headers=carl).content == b"{}"
    assert http.request("DELETE", f"{API}/model-versions/delete", json={"name": "m", "version": "3"},
                        headers=carl).status_code == 200
    again = http.post(f"{API}/model-versions/create", json={"name": "m", "source": source}, headers=carl).json()
    assert again["model_version"]["version"] == "4"  # 3 was handed out once: never again
    one = http.get(f"{API}/model-versions/get", params={"name": "m", "version": "4"}, headers=carl).json()["model_version"]
    assert {t["key"] for t in one["tags"]} >= {"modelkeep.version", "modelkeep.bump"} and one["status"] == "READY"
    # MLflow's own fields are fields, not tags as well; empty ones are left out, as MLflow's server leaves them out
    assert one["source"] == source and not any(t["key"].startswith("mlflow.") for t in one["tags"])
    assert not {"description", "run_id", "aliases", "run_link", "status_message"} & one.keys()
    # the versions of fraud registered with mk (before any MLflow call) have numbers too
    first = http.get(f"{API}/model-versions/get", params={"name": "fraud", "version": "1"}, headers=carl).json()
    assert {"key": "modelkeep.version", "value": "1.0.0.0.0"} in first["model_version"]["tags"]


def test_metric_points_keep_the_moment_they_were_measured(client: tuple[TestClient, dict[str, str]]) -> None:
    """log-metric and log-batch keep each point's timestamp; get-history answers them to the millisecond;
    a batch is stored whole or, with a timestamp no date can hold or a value that is no number, not at all."""
    http, auth = client
    carl = {"Authorization": auth["carl"]}
    experiment = http.post(f"{API}/experiments/create", json={"name": "moments"}, headers=carl).json()["experiment_id"]
    run = http.post(f"{API}/runs/create", json={"experiment_id": experiment}, headers=carl).json()["run"]["info"]["run_id"]
    assert http.post(f"{API}/runs/log-metric", json={"run_id": run, "key": "loss", "value": 0.5, "step": 0,
                                                     "timestamp": 1_700_000_000_001}, headers=carl).status_code == 200
    batch = [{"key": "loss", "value": 0.4, "step": 1, "timestamp": 1_700_000_000_999},
             {"key": "loss", "value": 0.3, "step": 2, "timestamp": 86_400_000}, {"key": "acc", "value": 0.9, "step": 2,
                                                                                "timestamp": 5}]
    assert http.post(f"{API}/runs/log-batch", json={"run_id": run, "metrics": batch}, headers=carl).status_code == 200

    def history(key: str) -> list[tuple[int, float, int]]:
        found = http.get(f"{API}/metrics/get-history", params={"run_id": run, "metric_key": key}, headers=carl).json()
        return [(m["step"], m["value"], m["timestamp"]) for m in found["metrics"]]

    assert history("loss") == [(0, 0.5, 1_700_000_000_001), (1, 0.4, 1_700_000_000_999), (2, 0.3, 86_400_000)]
    assert history("acc") == [(2, 0.9, 5)]
    def batch_of(last: dict[str, Any]) -> dict[str, Any]:
        return {"run_id": run, "params": [{"key": "lr", "value": "0.1"}], "tags": [{"key": "team", "value": "risk"}],
                "metrics": [{"key": "loss", "value": 0.1, "step": 3, "timestamp": 1}, last]}

    for bad, said in (({"key": "loss", "value": 0.2, "step": 4, "timestamp": 10**18}, "between the years 1 and 9999"),
                      ({"key": "loss", "value": "NaN", "step": 4, "timestamp": 2}, "finite number")):
        refused = http.post(f"{API}/runs/log-batch", json=batch_of(bad), headers=carl)
        assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_PARAMETER_VALUE", refused.text
        assert said in refused.json()["message"]
        seen = http.get(f"{API}/runs/get", params={"run_id": run}, headers=carl).json()["run"]["data"]
        assert len(history("loss")) == 3 and not seen.get("params") and "team" not in str(seen.get("tags"))  # none of it
    assert http.post(f"{API}/runs/log-batch", json=batch_of({"key": "acc", "value": 0.95, "step": 3, "timestamp": 7}),
                     headers=carl).status_code == 200
    seen = http.get(f"{API}/runs/get", params={"run_id": run}, headers=carl).json()["run"]["data"]
    assert {"key": "lr", "value": "0.1"} in seen["params"] and {"key": "team", "value": "risk"} in seen["tags"]
    assert history("acc") == [(2, 0.9, 5), (3, 0.95, 7)] and len(history("loss")) == 4
    latest = {m["key"]: (m["step"], m["value"], m["timestamp"]) for m in seen["metrics"]}
    assert latest == {"acc": (3, 0.95, 7), "loss": (3, 0.1, 1)}  # the last step's point, with its own moment
    # MLflow keeps every point of a step (each moment once): the latest is the step's last measured
    for value, moment in ((0.97, 9), (0.96, 8), (0.98, 9)):
        assert http.post(f"{API}/runs/log-metric", json={"run_id": run, "key": "acc", "value": value, "step": 3,
                                                         "timestamp": moment}, headers=carl).status_code == 200
    assert history("acc") == [(2, 0.9, 5), (3, 0.95, 7), (3, 0.96, 8), (3, 0.98, 9)]  # 0.98 took 0.97's moment
    seen = http.get(f"{API}/runs/get", params={"run_id": run}, headers=carl).json()["run"]["data"]
    assert {m["key"]: (m["value"], m["timestamp"]) for m in seen["metrics"]}["acc"] == (0.98, 9)
    found = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment]}, headers=carl).json()["runs"]
    assert {m["key"]: m["timestamp"] for m in found[0]["data"]["metrics"]} == {"acc": 9, "loss": 1}


def test_multipart_upload_through_signed_part_urls(client: tuple[TestClient, dict[str, str]], workspace: Workspace) -> None:
    """MLflow's proxied multipart upload: parts PUT to the URLs create answered, without a token
    (the signature is the authority), any order, a retried part replacing the first try; complete
    checks every part and its ETag and stores the joined file like any upload."""
    from urllib.parse import urlsplit

    http, auth = client
    carl, vera = {"Authorization": auth["carl"]}, {"Authorization": auth["vera"]}
    experiment = http.post(f"{API}/experiments/create", json={"name": "big"}, headers=carl).json()["experiment_id"]
    folder = f"{experiment}/run-1/artifacts"  # MLflow names the folder in the URL, the file by its local name
    target, local = f"{folder}/weights.bin", {"path": "/home/ada/weights.bin"}
    mpu = "/api/2.0/mlflow-artifacts/mpu"
    assert http.post(f"{mpu}/create/{folder}", json={"num_parts": 3} | local, headers=vera).json()["error_code"] == \
        "PERMISSION_DENIED"  # a viewer may not upload, in parts or whole
    for sneaky in ("..", "C:\\..", "/x/.."):  # only the local file's name counts, and it must be a plain name
        refused = http.post(f"{mpu}/create/{folder}", json={"num_parts": 1, "path": sneaky}, headers=carl)
        assert refused.json()["error_code"] == "INVALID_PARAMETER_VALUE", sneaky
    made = http.post(f"{mpu}/create/{folder}", json={"num_parts": 3} | local, headers=carl).json()
    upload, urls = made["upload_id"], [c["url"] for c in made["credentials"]]
    assert [c["part_number"] for c in made["credentials"]] == [1, 2, 3]

    def put(url: str, data: bytes) -> Any:
        parts = urlsplit(url)
        return http.put(f"{parts.path}?{parts.query}", content=data)  # no Authorization header, as MLflow sends parts

    pieces = [bytes([n]) * 300_000 for n in (1, 2, 3)]
    tampered = urls[0].replace("expires=", "expires=9")
    assert put(tampered, pieces[0]).json()["error_code"] == "PERMISSION_DENIED"
    assert put(urls[0].replace(upload, "0" * 32), b"x").json()["error_code"] == "PERMISSION_DENIED"  # signed for another
    etags = {}
    for n in (3, 1, 2, 1):  # any order; part 1 sent twice (a retry)
        answered = put(urls[n - 1], pieces[n - 1])
        assert answered.status_code == 200, answered.text
        etags[n] = answered.headers["ETag"]
    early = http.post(f"{mpu}/complete/{folder}", headers=carl, json=local | {
        "upload_id": upload, "parts": [{"part_number": n, "etag": etags[n]} for n in (1, 2)]})
    assert early.json()["error_code"] == "INVALID_PARAMETER_VALUE" and "parts 1 to 3" in early.json()["message"]
    wrong = http.post(f"{mpu}/complete/{folder}", headers=carl, json=local | {
        "upload_id": upload, "parts": [{"part_number": n, "etag": etags[1]} for n in (1, 2, 3)]})
    assert "ETag" in wrong.json()["message"]
    other = http.post(f"{mpu}/complete/{folder}", headers=carl, json={"path": "other.bin", "upload_id": upload, "parts": []})
    assert other.json()["error_code"] == "INVALID_PARAMETER_VALUE"  # an upload completes at its own path only
    done = http.post(f"{mpu}/complete/{folder}", headers=carl, json=local | {
        "upload_id": upload, "parts": [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]})
    assert done.status_code == 200, done.text
    assert http.get(f"{FILES}/{target}", headers=vera).content == b"".join(pieces)
    assert not (workspace.config.cache_dir / "mlflow-uploads" / upload).exists()  # the parts are gone
    again = http.post(f"{mpu}/complete/{folder}", headers=carl, json=local | {"upload_id": upload, "parts": []})
    assert again.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    dropped = http.post(f"{mpu}/create/{target}", json={"num_parts": 1}, headers=carl).json()  # no local name: the URL's
    assert put(dropped["credentials"][0]["url"], b"abc").status_code == 200
    assert http.post(f"{mpu}/abort/{target}", headers=carl, json={"upload_id": dropped["upload_id"]}).status_code == 200
    assert put(dropped["credentials"][0]["url"], b"abc").json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    info = http.get("/api/3.0/mlflow/server-info", headers=vera).json()
    assert info["multipart_uploads_enabled"] is True


def test_mlflows_ui_prefix_serves_the_same_routes(client: tuple[TestClient, dict[str, str]]) -> None:
    """MLflow's UI calls /ajax-api/2.0/... for what its client calls under /api/2.0/... (one set of
    routes, served under both)."""
    http, auth = client
    carl = {"Authorization": auth["carl"]}
    made = http.post("/ajax-api/2.0/mlflow/registered-models/create", json={"name": "via-ui"}, headers=carl)
    assert made.status_code == 200 and made.json()["registered_model"]["name"] == "via-ui"
    seen = http.get("/api/2.0/mlflow/registered-models/get", params={"name": "via-ui"}, headers=carl).json()
    assert seen["registered_model"]["name"] == "via-ui"
    experiment = http.post(f"{API}/experiments/create", json={"name": "ui"}, headers=carl).json()["experiment_id"]
    assert http.put(f"/ajax-api/2.0/mlflow-artifacts/artifacts/{experiment}/a.txt", content=b"a", headers=carl).status_code == 200
    assert http.get(f"{FILES}/{experiment}/a.txt", headers=carl).content == b"a"
    missing = http.get("/ajax-api/2.0/mlflow/no-such-endpoint", headers=carl)
    assert missing.status_code == 404 and missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert http.get("/ajax-api/2.0/mlflow/registered-models/get", params={"name": "via-ui"}).status_code == 401


def test_abandoned_multipart_uploads_are_dropped_after_their_urls_expire(workspace: Workspace) -> None:
    """An upload neither completed nor aborted keeps its parts only until an hour after its URLs
    expired; the next upload created sweeps it (a live one stays, and so does anything not an upload)."""
    from modelkeep.api.mlflow.multipart import ABANDONED_AFTER_S, URL_LIFETIME_S, Uploads

    now = [1_000_000.0]
    uploads = Uploads(workspace, 1 << 20, clock=lambda: now[0])
    left, _ = uploads.create("1/run/artifacts/a.bin", None, "carl", 2)
    (uploads.root / left / "1.part").write_bytes(b"x" * 1000)
    broken = uploads.root / ("f" * 32)
    broken.mkdir()  # a record never written (the server stopped between the two steps)
    other = uploads.root / "notes"
    other.mkdir()
    now[0] += URL_LIFETIME_S - 60
    live, _ = uploads.create("1/run/artifacts/b.bin", None, "carl", 1)
    assert uploads.sweep() == [] and (uploads.root / left / "1.part").exists()  # its URLs still work
    now[0] += 60 + ABANDONED_AFTER_S + 1
    assert uploads.sweep() == [left]
    assert not (uploads.root / left).exists() and (uploads.root / live).exists() and other.exists()
    assert broken.exists()  # made now (its mtime), so it has its own lifetime from now
    now[0] = broken.stat().st_mtime + URL_LIFETIME_S + ABANDONED_AFTER_S + 1
    uploads.create("1/run/artifacts/c.bin", None, "carl", 1)  # creating sweeps
    assert not broken.exists() and not (uploads.root / live).exists()


def test_a_deployment_system_reads_only_approved_versions_by_number_or_alias(
        client: tuple[TestClient, dict[str, str]], team: Callable[[str], Workspace]) -> None:  # noqa: F811
    """MLflow's get and get-by-alias read a listing, checked as any read is: a deployer (model.read_approved) reads
    what holds a protected alias, and is refused a version that is not approved; a missing alias is named."""
    http, _ = client
    admin = team("admin")
    admin.access.create_user("dep", role="deployer")
    dep = {"Authorization": f"Bearer {admin.access.create_token('dep')['token']}"}
    by_alias = http.get(f"{API}/registered-models/alias", params={"name": "fraud", "alias": "Production"}, headers=dep)
    assert by_alias.status_code == 200 and by_alias.json()["model_version"]["version"] == "1"
    assert by_alias.json()["model_version"]["aliases"] == ["production"]
    unapproved = http.get(f"{API}/model-versions/get", params={"name": "fraud", "version": "2"}, headers=dep)
    assert unapproved.status_code == 403 and unapproved.json()["error_code"] == "PERMISSION_DENIED"
    missing = http.get(f"{API}/registered-models/alias", params={"name": "fraud", "alias": "nope"}, headers=dep)
    assert missing.status_code == 404 and "'nope'" in missing.json()["message"]
    assert http.get(f"{API}/model-versions/get", params={"name": "fraud", "version": "9"},
                    headers=dep).json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_times_are_milliseconds_since_the_epoch_for_naive_and_aware_moments_alike() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from modelkeep.services.clock import ms

    naive = datetime(2026, 11, 28, 21, 36, 4, 370999)  # the database's moments are naive UTC
    assert ms(naive) == 1_795_901_764_370 == ms(naive.replace(tzinfo=UTC))
    assert ms(naive.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=5, minutes=30)))) == 1_795_901_764_370
    assert ms(datetime(1970, 1, 1)) == 0 and ms(None) is None


def test_the_hottest_reads_answer_before_routing_exactly_as_the_routes_do(
        client: tuple[TestClient, dict[str, str]], team: Callable[[str], Workspace], workspace: Workspace) -> None:  # noqa: F811
    """api/fast_reads.py: a get by alias, a version by number and a model are answered before FastAPI's
    routing where they succeed, with the route's own document; anything else (a parameter the read does
    not take, no token, a refusal, a missing model) goes to the routes, which answer and audit it once."""
    from modelkeep.api.fast_reads import FastRead, FastReads
    from modelkeep.services.governance.audit import query

    http, auth = client
    given = next(m for m in http.app.user_middleware if m.cls is FastReads).kwargs["reads"]  # type: ignore[attr-defined]
    answered: list[str] = []

    def counted(path: str, read: FastRead) -> FastRead:
        def answer(ws: Workspace, *values: str, **optional: str) -> dict[str, Any]:
            doc = read.answer(ws, *values, **optional)
            answered.append(path)
            return doc
        return replace(read, answer=answer)

    for path, read in list(given.items()):  # the same mapping the middleware reads
        given[path] = counted(path, read)
    carl = {"Authorization": auth["carl"]}
    reads = [("registered-models/alias", {"name": "fraud", "alias": "Production"}),
             ("model-versions/get", {"name": "fraud", "version": "2"}),
             ("registered-models/get", {"name": "fraud"}),
             ("model-versions/search", {"filter": "name='fraud'", "max_results": "1"})]
    for path, params in reads:
        fast = http.get(f"{API}/{path}", params=params, headers=carl)
        assert fast.status_code == 200 and answered[-1] == f"{API}/{path}", (path, answered)
        routed = http.get(f"{API}/{path}", params=params | {"other": "1"}, headers=carl)  # a parameter it does not take
        assert routed.status_code == 200 and len(answered) == len(reads[:reads.index((path, params)) + 1])
        assert fast.json() == routed.json() and fast.headers["content-type"] == "application/json"
    assert http.get(f"/ajax-api/2.0/mlflow/{reads[0][0]}", params=reads[0][1], headers=carl).json() == \
        http.get(f"{API}/{reads[0][0]}", params=reads[0][1], headers=carl).json()
    assert len(answered) == 6  # MLflow's UI prefix takes the same way
    assert http.get(f"{API}/model-versions/get", params={"name": "fraud", "version": "2"}).status_code == 401
    repeated = http.get(f"{API}/model-versions/get?name=fraud&version=1&version=2", headers=carl)
    assert repeated.status_code == 200 and len(answered) == 6  # given twice: the route decides which
    # the search's optional parameters: none, some, a page token; what the route would parse otherwise goes to it
    first = http.get(f"{API}/model-versions/search", params={"filter": "name='fraud'", "max_results": "1"}, headers=carl)
    token = first.json()["next_page_token"]
    for params in ({}, {"filter": "name='fraud'", "page_token": token, "max_results": "1"},
                   {"filter": "name='fraud' AND version_number >= 2", "order_by": "version_number ASC"}):
        fast = http.get(f"{API}/model-versions/search", params=params, headers=carl)
        routed = http.get(f"{API}/model-versions/search", params=params | {"other": "1"}, headers=carl)
        assert fast.status_code == 200 and answered[-1] == f"{API}/model-versions/search" and fast.json() == routed.json()
    assert len(answered) == 10
    for given in ("max_results=1_0", "max_results=%2B1", "order_by=a&order_by=b", "page_token=nope"):
        http.get(f"{API}/model-versions/search?{given}", headers=carl)
    assert len(answered) == 10
    bad_token = http.get(f"{API}/model-versions/search?page_token=nope", headers=carl)
    assert bad_token.json()["error_code"] == "INVALID_PARAMETER_VALUE"  # the route's own error
    admin = team("admin")
    admin.access.create_user("dep", role="deployer")
    dep = {"Authorization": f"Bearer {admin.access.create_token('dep')['token']}"}
    refused = http.get(f"{API}/model-versions/get", params={"name": "fraud", "version": "2"}, headers=dep)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert len(query(workspace.db, actor="dep", action="access.check")) == 1  # audited once, by the route
    missing = http.get(f"{API}/registered-models/get", params={"name": "nope"}, headers=carl)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert len(answered) == 10


@pytest.mark.parametrize("inline", [True, False])
def test_a_fast_read_answers_only_a_plain_success_inline_or_in_a_thread(inline: bool) -> None:
    """FastReads answers in the loop (SQLite) or in a worker thread (PostgreSQL) alike, and passes on
    to the app whatever it cannot answer as a plain success."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from modelkeep.api.fast_reads import FastRead, FastReads

    def acting(authorization: str | None, source: str) -> Any:
        if authorization != "Bearer good":
            raise InvalidInput("no")
        return {"source": source}

    def answer(ws: Any, name: str) -> dict[str, Any]:
        if name == "bad":
            raise InvalidInput("bad name")
        return {"name": name, "seen_from": ws["source"]}

    routed = Starlette(routes=[Route("/r", lambda request: PlainTextResponse("routed"))])
    http = TestClient(FastReads(routed, acting=acting, reads={"/r": FastRead(("name",), answer)}, inline=inline))
    good = {"Authorization": "Bearer good"}
    fast = http.get("/r", params={"name": "ü"}, headers=good)
    assert fast.json() == {"name": "ü", "seen_from": "testclient"} and fast.headers["content-type"] == "application/json"
    for params, headers in (({"name": "x"}, {}), ({"name": "x"}, {"Authorization": "Bearer nope"}),
                            ({"name": "bad"}, good), ({"name": "x", "more": "1"}, good), ({}, good)):
        assert http.get("/r", params=params, headers=headers).text == "routed", (params, headers)
    assert http.get("/r?name=a&name=b", headers=good).text == "routed"
    assert http.post("/r", params={"name": "x"}, headers=good).status_code == 405  # only GET takes the fast way


@pytest.mark.parametrize("inline", [True, False])
def test_a_fast_read_takes_optional_parameters_and_a_heavy_one_always_answers_in_a_thread(inline: bool) -> None:
    """Optional parameters (a search's) may be left out, each given at most once; a read that is not
    light (a search) leaves the event loop free even where light reads answer inline."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from modelkeep.api.fast_reads import FastRead, FastReads

    def in_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def answer(ws: Any, *required: str, **optional: str) -> dict[str, Any]:
        return {"required": list(required), "optional": optional, "in_loop": in_loop()}

    routed = Starlette(routes=[Route("/{any}", lambda request: PlainTextResponse("routed"))])
    reads = {"/light": FastRead(("name",), answer, optional=("page",)),
             "/heavy": FastRead((), answer, optional=("filter", "page"), light=False)}
    http = TestClient(FastReads(routed, acting=lambda authorization, source: None, reads=reads, inline=inline),
                      headers={"Authorization": "Bearer t"})
    assert http.get("/light", params={"name": "a"}).json() == {"required": ["a"], "optional": {}, "in_loop": inline}
    assert http.get("/light", params={"name": "a", "page": "2"}).json()["optional"] == {"page": "2"}
    assert http.get("/light", params={"page": "2"}).text == "routed"  # a required one missing
    assert http.get("/heavy").json() == {"required": [], "optional": {}, "in_loop": False}
    assert http.get("/heavy", params={"filter": "x", "page": "3"}).json()["optional"] == {"filter": "x", "page": "3"}
    assert http.get("/heavy?page=1&page=2").text == "routed"
    assert http.get("/heavy", params={"other": "1"}).text == "routed"


def test_mlflows_webhooks_api_refuses_what_it_should(team: Callable[[str], Workspace],  # noqa: F811
                                                      client: tuple[TestClient, dict[str, str]]) -> None:
    """Admins only; MLflow's ids, statuses and events checked; modelkeep's own webhooks are not MLflow's
    to read or change; the secret never comes back."""
    http, auth = client
    admin = team("admin")
    boss = {"Authorization": f"Bearer {admin.access.create_token('admin')['token']}"}
    body = {"name": "ci", "url": "http://127.0.0.1:9/hook", "secret": "hush",
            "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}
    denied = http.post(f"{API}/webhooks", json=body, headers={"Authorization": auth["carl"]})
    assert denied.status_code == 403 and denied.json()["error_code"] == "PERMISSION_DENIED"
    made = http.post(f"{API}/webhooks", json=body, headers=boss)
    assert made.status_code == 200, made.text
    hook = made.json()["webhook"]
    assert hook["status"] == "ACTIVE" and hook["events"] == body["events"] and "hush" not in made.text
    own = admin.webhooks.add("http://127.0.0.1:9/own", ["*"])["id"]  # modelkeep's: not an MLflow webhook
    listed = http.get(f"{API}/webhooks", headers=boss).json()["webhooks"]
    assert [w["webhook_id"] for w in listed] == [hook["webhook_id"]]
    for bad_id in (str(own), "abc", "0", "99999"):
        answer = http.get(f"{API}/webhooks/{bad_id}", headers=boss)
        assert answer.status_code == 404 and answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", bad_id
    assert http.delete(f"{API}/webhooks/{own}", headers=boss).status_code == 404
    for change, said in (({"status": "PAUSED"}, "ACTIVE or DISABLED"), ({"url": "ftp://x"}, "http"),
                         ({"events": [{"entity": "BUDGET_POLICY", "action": "EXCEEDED"}]}, "no prompts or budgets"),
                         ({"events": [{"entity": "MODEL_VERSION", "action": "DELETED"}]}, "not an MLflow event")):
        answer = http.patch(f"{API}/webhooks/{hook['webhook_id']}", json=change, headers=boss)
        assert answer.status_code == 400 and answer.json()["error_code"] == "INVALID_PARAMETER_VALUE", change
        assert said in answer.json()["message"]
    disabled = http.patch(f"{API}/webhooks/{hook['webhook_id']}", json={"status": "DISABLED"}, headers=boss).json()
    assert disabled["webhook"]["status"] == "DISABLED" and disabled["webhook"]["name"] == "ci"
    unreachable = http.post(f"{API}/webhooks/{hook['webhook_id']}/test", json={}, headers=boss).json()["result"]
    assert unreachable["success"] is False and "ConnectError" in unreachable["error_message"]  # port 9: nobody there


def test_a_run_deleted_through_mlflow_goes_to_the_trash_and_comes_back(client: tuple[TestClient, dict[str, str]]) -> None:
    """As MLflow's: a deleted run is ``deleted``, left out of searches but DELETED_ONLY and ALL, takes
    no more logging, and ``runs/restore`` brings it back whole; ``runs/delete-tag`` removes one tag."""
    http, auth = client
    carl = {"Authorization": auth["carl"]}
    experiment = http.post(f"{API}/experiments/create", json={"name": "trash"}, headers=carl).json()["experiment_id"]
    made = [http.post(f"{API}/runs/create", json={"experiment_id": experiment}, headers=carl).json() for _ in range(2)]
    kept, gone = (doc["run"]["info"]["run_id"] for doc in made)
    for run in (kept, gone):
        tagged = http.post(f"{API}/runs/set-tag", json={"run_id": run, "key": "team", "value": "risk"}, headers=carl)
        assert tagged.status_code == 200
    assert http.post(f"{API}/runs/delete", json={"run_id": gone}, headers=carl).status_code == 200

    def found(view: str | None = None) -> list[str]:
        body = {"experiment_ids": [experiment]} | ({"run_view_type": view} if view else {})
        return sorted(r["info"]["run_id"] for r in http.post(f"{API}/runs/search", json=body, headers=carl).json()["runs"])

    assert found() == [kept] and found("DELETED_ONLY") == [gone] and found("ALL") == sorted([kept, gone])
    info = http.get(f"{API}/runs/get", params={"run_id": gone}, headers=carl).json()["run"]["info"]
    assert info["lifecycle_stage"] == "deleted"
    refused = http.post(f"{API}/runs/log-metric", json={"run_id": gone, "key": "auc", "value": 0.9, "timestamp": 1},
                        headers=carl)
    assert refused.status_code == 400 and "in the trash" in refused.json()["message"]
    assert http.post(f"{API}/runs/search", json={"run_view_type": "SOME"}, headers=carl).status_code == 400
    assert http.post(f"{API}/runs/restore", json={"run_id": gone}, headers=carl).status_code == 200
    assert found() == sorted([kept, gone])
    data = http.get(f"{API}/runs/get", params={"run_id": gone}, headers=carl).json()["run"]
    assert data["info"]["lifecycle_stage"] == "active" and {"key": "team", "value": "risk"} in data["data"]["tags"]
    assert http.post(f"{API}/runs/delete-tag", json={"run_id": gone, "key": "team"}, headers=carl).status_code == 200
    data = http.get(f"{API}/runs/get", params={"run_id": gone}, headers=carl).json()["run"]["data"]
    assert "team" not in {t["key"] for t in data["tags"]}
    missing = http.post(f"{API}/runs/delete-tag", json={"run_id": gone, "key": "team"}, headers=carl)
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    denied = http.post(f"{API}/runs/delete", json={"run_id": kept}, headers={"Authorization": auth["vera"]})
    assert denied.status_code == 403

