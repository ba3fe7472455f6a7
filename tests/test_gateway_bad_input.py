"""Values the signature does not allow are the caller's fault (issue 11): null, NaN, Infinity and
1e309 are refused before the model runs and count against no version; a body nested 100,000
levels deep is a JSON error, not a 500."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from modelkeep.gateway.app import create_gateway_app
from modelkeep.services.connection import LocalTokens
from tests.deploy_helpers import CLASS, gateway, register


def test_non_finite_values_are_bad_input_that_counts_against_nobody(workspace, tmp_path: Path) -> None:
    register(workspace, [1.0, 0.5, 0.0])
    d = workspace.deployments
    d.create("clf", d.plan("single", "clf@latest", trusted=[CLASS]))
    gw = gateway(workspace, "clf", tmp_path)
    client = TestClient(create_gateway_app(gw, LocalTokens(workspace.access)))
    for body, shown in (('{"inputs": [[1, 2, null]]}', "None"), ('{"inputs": [[1, NaN, 3]]}', "nan"),
                        ('{"inputs": [[Infinity, 2, 3]]}', "inf"), ('{"inputs": [[1, 2, 1e309]]}', "inf")):
        answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422, answer.text
        assert "is not a finite number" in answer.json()["error"] and shown in answer.json()["error"]
    deep = "[" * 100_000 + "]" * 100_000
    answer = client.post("/predict", content=f'{{"inputs": {deep}}}', headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "nests deeper" in answer.json()["error"]
    assert client.post("/predict", json={"inputs": [[1.0, 2.0, 3.0]]}).status_code == 200
    live = gw.current()
    stats = live.stats["stable"]
    window, _ = stats.rotate()
    assert (window.n, window.errors) == (1, 0)  # the refused requests are nobody's errors


def test_a_column_the_signature_marks_missing_may_be_null_never_infinite() -> None:
    import math

    import pytest

    from modelkeep.errors import InvalidInput
    from modelkeep.services.deploy.predictor import rows_to_array

    inputs = [{"name": "age", "type": "double", "missing": True}, {"name": "amount", "type": "double"}]
    array = rows_to_array([[None, 3.0], [41.0, 2.0]], inputs)
    assert math.isnan(array[0, 0]) and array[1, 0] == 41.0
    with pytest.raises(InvalidInput, match=r"inputs\[0\].age: inf"):
        rows_to_array([[float("inf"), 3.0]], inputs)
    with pytest.raises(InvalidInput, match=r"inputs\[1\].amount: None"):
        rows_to_array([[1.0, 3.0], [2.0, None]], inputs)


def test_a_slow_model_does_not_stall_health_probes(workspace, tmp_path: Path, monkeypatch) -> None:
    """Issue 11: inference ran on the event loop, so one slow model stalled every other request."""
    import anyio
    import httpx

    from modelkeep.examples import LinearClassifier

    monkeypatch.setattr(LinearClassifier, "CHECK_S", 0.0)
    fault = tmp_path / "fault"
    register(workspace, [1.0, 0.5, 0.0], fault=fault)
    d = workspace.deployments
    d.create("clf", d.plan("single", "clf@latest", trusted=[CLASS]))
    gw = gateway(workspace, "clf", tmp_path)
    fault.write_text("slow:500")
    app = create_gateway_app(gw, LocalTokens(workspace.access))
    order: list[tuple[str, int]] = []

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            async def predict() -> None:
                answer = await client.post("/predict", json={"inputs": [[1.0, 2.0, 3.0]]})
                order.append(("predict", answer.status_code))

            async def probe() -> None:
                await anyio.sleep(0.05)  # the model is asleep for 500 ms by now
                answer = await client.get("/v2/health/live")
                order.append(("live", answer.status_code))

            async with anyio.create_task_group() as group:
                group.start_soon(predict)
                group.start_soon(probe)

    anyio.run(scenario)
    assert order == [("live", 200), ("predict", 200)]
