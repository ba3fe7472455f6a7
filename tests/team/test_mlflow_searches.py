"""MLflow's searches in-process (issue 13): runs, registered models and versions ordered, filtered and
paged as MLflow does, each document the one its ``get`` answers, read in bulk (a fixed number of
statements however many runs or models)."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from modelkeep.services.workspace import Workspace
from tests.team.test_mlflow_api import API, client  # noqa: F401  (fixture)
from tests.test_governance import team  # noqa: F401  (fixture)


def test_runs_search_orders_as_mlflow_does(client: tuple[TestClient, dict[str, str]]) -> None:  # noqa: F811
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


def test_a_run_search_lists_each_run_as_get_shows_it_in_a_fixed_number_of_statements(
        client: tuple[TestClient, dict[str, str]], workspace: Workspace) -> None:  # noqa: F811
    """runs/search reads an experiment's runs together, not each run whole (with neither filter nor order:
    their start times, then the page's runs; otherwise Runs.latest; each series' latest point, no outputs):
    its documents are runs/get's, and 12 runs take as many statements as 3."""
    from sqlalchemy import event

    http, auth = client
    carl = {"Authorization": auth["carl"]}
    workspace.access.clock = lambda: 1_000.0  # permissions read once stay read, however slow the machine
    experiment = http.post(f"{API}/experiments/create", json={"name": "many"}, headers=carl).json()["experiment_id"]

    def add_runs(count: int, first: int) -> None:
        for i in range(first, first + count):
            run = http.post(f"{API}/runs/create", json={"experiment_id": experiment, "run_name": f"r{i}",
                                                        "start_time": 1_000 + i}, headers=carl).json()["run"]["info"]["run_id"]
            points = [{"key": "loss", "value": 1 / (i + s + 1), "step": s, "timestamp": 10 * s} for s in range(3)]
            points += [{"key": "loss", "value": 0.5 + i, "step": 2, "timestamp": 25}]  # the last step twice: 25 is later
            points += [{"key": f"only-{i % 2}", "value": i, "step": 0, "timestamp": 1}] if i % 3 else []
            body = {"run_id": run, "metrics": points, "params": [{"key": "lr", "value": str(i)}],
                    "tags": [{"key": "team", "value": f"t{i % 2}"}] if i % 2 else []}
            assert http.post(f"{API}/runs/log-batch", json=body, headers=carl).status_code == 200
            if i % 4 == 3:
                assert http.post(f"{API}/runs/update", json={"run_id": run, "status": "FINISHED", "end_time": 5_000 + i},
                                 headers=carl).status_code == 200
            if i == 5:
                assert http.post(f"{API}/runs/delete", json={"run_id": run}, headers=carl).status_code == 200

    def search(**more: Any) -> tuple[list[dict[str, Any]], int]:
        statements: list[str] = []

        def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(workspace.db.engine, "before_cursor_execute", count)
        try:
            found = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment], "run_view_type": "ALL", **more},
                              headers=carl)
        finally:
            event.remove(workspace.db.engine, "before_cursor_execute", count)
        assert found.status_code == 200, found.text
        return found.json()["runs"], len(statements)

    filtered = {"filter": "params.lr != 'none'", "order_by": ["params.lr ASC"]}  # every run, through Runs.latest
    add_runs(3, 0)
    (few, statements_for_3), (_, filtered_for_3) = search(), search(**filtered)
    add_runs(9, 3)
    (runs, statements_for_12), (all_filtered, filtered_for_12) = search(), search(**filtered)
    assert len(few) == 3 and len(runs) == 12 and statements_for_12 == statements_for_3 and filtered_for_12 == filtered_for_3
    assert sorted(all_filtered, key=lambda d: d["info"]["run_id"]) == sorted(runs, key=lambda d: d["info"]["run_id"])
    for doc in runs:
        got = http.get(f"{API}/runs/get", params={"run_id": doc["info"]["run_id"]}, headers=carl).json()["run"]
        assert doc == got, doc["info"]["run_name"]
    latest = {doc["info"]["run_name"]: {m["key"]: (m["step"], m["value"], m["timestamp"]) for m in doc["data"]["metrics"]}
              for doc in runs}
    assert latest["r4"]["loss"] == (2, 4.5, 25) and latest["r4"]["only-0"] == (0, 4.0, 1) and "only-1" not in latest["r3"]
    assert [doc["info"]["lifecycle_stage"] for doc in runs].count("deleted") == 1
    # with neither filter nor order, a search orders and pages by start times alone and reads only the page's
    # runs: page by page it gives what one search gives, in the order an explicit start_time order gives
    for i in (12, 13):  # two runs started at one moment: their ids break the tie, as strings (MLflow's order)
        http.post(f"{API}/runs/create", json={"experiment_id": experiment, "run_name": f"r{i}", "start_time": 1_011},
                  headers=carl)
    every = {"experiment_ids": [experiment], "run_view_type": "ALL"}
    whole = http.post(f"{API}/runs/search", json=every, headers=carl).json()["runs"]
    ordered = http.post(f"{API}/runs/search", json=every | {"order_by": ["attributes.start_time DESC"]}, headers=carl)
    paged, token = [], None
    while True:
        answer = http.post(f"{API}/runs/search", json=every | {"max_results": 5} | ({"page_token": token} if token else {}),
                           headers=carl).json()
        paged += answer["runs"]
        token = answer.get("next_page_token")
        if not token:
            break
    assert paged == whole == ordered.json()["runs"] and len(whole) == 14
    active = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment]}, headers=carl).json()["runs"]
    assert [d["info"]["run_name"] for d in active] == [d["info"]["run_name"] for d in whole if d["info"]["run_name"] != "r5"]
    # a filter or an order reads every run's few columns it names, then the page's runs whole: page by page the
    # same documents as filtering and ordering every run's whole document
    from modelkeep.api.mlflow.filters import run_filter, run_order

    for text, order_by in (("metrics.loss < 5 and tags.team = 't1'", ["metrics.loss DESC"]), ("params.lr = '4'", []),
                           ("tags.mlflow.runName LIKE 'r1%'", ["params.lr DESC"]), ("", ["metrics.`only-0` ASC"]),
                           ("attributes.status = 'FINISHED' and metrics.`only-1` >= 0", ["tags.team", "start_time"])):
        expected = run_order([d for d in whole if not text or run_filter(text)(d)], order_by)
        paged, token = [], None
        while True:
            asked = every | {"filter": text, "order_by": order_by, "max_results": 3} | ({"page_token": token} if token else {})
            answer = http.post(f"{API}/runs/search", json=asked, headers=carl).json()
            paged += answer["runs"]
            token = answer.get("next_page_token")
            if not token:
                break
        assert paged == expected and expected, (text, order_by)


def test_a_model_search_reads_every_record_together_and_lists_each_model_as_get_shows_it(
        client: tuple[TestClient, dict[str, str]], workspace: Workspace) -> None:  # noqa: F811
    """registered-models/search (the MLflow UI's models page) reads the models' records in a fixed number of
    statements (ModelRecords.every), then its page's latest versions together (ModelRecords.listed_many);
    model-versions/search with no model named reads every version at once (every_version_row): 9 models
    cost what 4 cost, and a page of 9 what a page of 2 costs."""
    from sqlalchemy import event

    http, auth = client
    carl = {"Authorization": auth["carl"]}

    def add_models(names: list[str]) -> None:
        for name in names:
            assert http.post(f"{API}/registered-models/create", json={"name": name, "tags": [{"key": "team", "value": name[-1]}]},
                             headers=carl).status_code == 200
        assert http.post(f"{API}/model-versions/create", json={"name": names[0], "source": "models:/fraud/1"},
                         headers=carl).status_code == 200

    def search(page: int, what: str = "registered-models") -> tuple[list[dict[str, Any]], int]:
        statements: list[str] = []

        def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(workspace.db.engine, "before_cursor_execute", count)
        try:
            found = http.get(f"{API}/{what}/search", params={"max_results": page}, headers=carl)
        finally:
            event.remove(workspace.db.engine, "before_cursor_execute", count)
        assert found.status_code == 200, found.text
        return found.json()["registered_models" if what == "registered-models" else "model_versions"], len(statements)

    workspace.access.clock = lambda: 1_000.0  # permissions read once stay read, however slow the machine
    add_models(["m-a", "m-b", "m-c"])  # with fraud (two versions, production): four models
    search(2)  # (the caller's permissions are read on first use)
    counts_for_4 = search(2)[1], search(2, "model-versions")[1]
    add_models(["m-d", "m-e", "m-f", "m-g", "m-h"])
    counts_for_9 = search(2)[1], search(2, "model-versions")[1]
    listed, statements_for_a_page_of_9 = search(100)
    assert counts_for_9 == counts_for_4 and [m["name"] for m in listed] == sorted(m["name"] for m in listed)
    assert statements_for_a_page_of_9 == counts_for_9[0]  # the page's latest versions are read together too
    assert len(listed) == 9 and [len(m["latest_versions"]) for m in listed].count(1) == 3  # fraud, m-a, m-d
    for doc in listed:
        got = http.get(f"{API}/registered-models/get", params={"name": doc["name"]}, headers=carl).json()
        assert doc == got["registered_model"], doc["name"]
    versions, _ = search(100, "model-versions")  # no model named: every version of every model
    assert [(v["name"], v["version"]) for v in versions] == [("fraud", "2"), ("fraud", "1"), ("m-a", "1"), ("m-d", "1")]
    for doc in versions:
        got = http.get(f"{API}/model-versions/get", params={"name": doc["name"], "version": doc["version"]}, headers=carl)
        assert doc == got.json()["model_version"], (doc["name"], doc["version"])


def test_a_search_lists_each_version_as_get_shows_it(client: tuple[TestClient, dict[str, str]]) -> None:  # noqa: F811
    """Searches read a listing (no signature, environment or params): the documents are the same."""
    http, auth = client
    carl = {"Authorization": auth["carl"]}
    found = http.get(f"{API}/model-versions/search", params={"filter": "name='fraud'"}, headers=carl).json()
    listed = found["model_versions"]
    assert [v["version"] for v in listed] == ["2", "1"]
    for doc in listed:
        got = http.get(f"{API}/model-versions/get", params={"name": "fraud", "version": doc["version"]}, headers=carl)
        assert doc == got.json()["model_version"]
    assert listed[1]["aliases"] == ["production"] and {"key": "evaluated", "value": "yes"} in listed[0]["tags"]
    # a search's documents are kept once shaped (shapes.listed_version): each change shows in the next search
    for path, body in (("/model-versions/set-tag", {"name": "fraud", "version": "2", "key": "evaluated", "value": "no"}),
                       ("/registered-models/alias", {"name": "fraud", "alias": "challenger", "version": "2"}),
                       ("/model-versions/update", {"name": "fraud", "version": "1", "description": "the first"})):
        method = "PATCH" if path.endswith("update") else "POST"
        assert http.request(method, f"{API}{path}", json=body, headers=carl).status_code == 200, path
        again = http.get(f"{API}/model-versions/search", params={"filter": "name='fraud'"}, headers=carl).json()
        for doc in again["model_versions"]:
            got = http.get(f"{API}/model-versions/get", params={"name": "fraud", "version": doc["version"]}, headers=carl)
            assert doc == got.json()["model_version"], path
    assert again["model_versions"][0]["aliases"] == ["challenger"] and again["model_versions"][1]["description"] == "the first"


def test_runs_and_experiments_are_filtered_as_mlflow_filters_them(
        client: tuple[TestClient, dict[str, str]],  # noqa: F811
) -> None:
    http, auth = client
    carl = {"Authorization": auth["carl"]}
    experiment = http.post(f"{API}/experiments/create", json={"name": "filtered", "tags": [{"key": "team", "value": "risk"}]},
                           headers=carl).json()["experiment_id"]
    http.post(f"{API}/experiments/create", json={"name": "other"}, headers=carl)
    runs = {}
    for name, model, auc, start in (("lr-small", "logistic regression", 0.81, 1_000), ("lr-big", "Logistic", 0.9, 2_000),
                                    ("tree", "tree's", 0.7, 3_000)):
        run = http.post(f"{API}/runs/create", json={"experiment_id": experiment, "run_name": name, "start_time": start},
                        headers=carl).json()["run"]["info"]["run_id"]
        batch = {"run_id": run, "metrics": [{"key": "val auc", "value": auc, "step": 0, "timestamp": 1}],
                 "params": [{"key": "model", "value": model}], "tags": [{"key": "stage", "value": name.split("-")[0]}]}
        assert http.post(f"{API}/runs/log-batch", json=batch, headers=carl).status_code == 200
        runs[name] = run
    http.post(f"{API}/runs/update", json={"run_id": runs["tree"], "status": "FAILED"}, headers=carl)

    def found(text: str) -> list[str]:
        answer = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment], "filter": text}, headers=carl)
        assert answer.status_code == 200, answer.text
        names = {v: k for k, v in runs.items()}
        return sorted(names[r["info"]["run_id"]] for r in answer.json()["runs"])

    assert found("metrics.`val auc` > 0.8") == ["lr-big", "lr-small"]
    assert found("metrics.`val auc` >= 0.81 AND params.model LIKE 'log%'") == ["lr-small"]
    assert found("params.model ILIKE 'log%'") == ["lr-big", "lr-small"]
    assert found("params.model = 'tree''s'") == ["tree"]  # '' is a quote inside a string
    assert found("tags.stage != 'lr'") == ["tree"] and found("tags.missing IS NULL") == ["lr-big", "lr-small", "tree"]
    assert found("attributes.status IN ('FAILED', 'KILLED')") == ["tree"] and found("status NOT IN ('FAILED')") == [
        "lr-big", "lr-small"]
    assert found("attributes.run_name LIKE 'lr-_ig'") == ["lr-big"] and found("created < 2500") == ["lr-big", "lr-small"]
    assert found("params.model = 'x and y' AND tags.stage = 'lr'") == []  # AND inside a string is text
    for bad, said in (("metrics.auc > 'high'", "compares with a number"), ("params.model > 'a'", "takes"),
                      ("attributes.colour = 'red'", "is not one of"), ("metrics.auc > 0.5 OR metrics.auc < 0.1", "joined by AND"),
                      ("datasets.name = 'x'", "not a kind of column"), ("params.model =", "ends too soon")):
        answer = http.post(f"{API}/runs/search", json={"experiment_ids": [experiment], "filter": bad}, headers=carl)
        assert answer.status_code == 400 and said in answer.json()["message"], (bad, answer.text)

    def experiments(text: str) -> list[str]:
        answer = http.post(f"{API}/experiments/search", json={"filter": text}, headers=carl)
        assert answer.status_code == 200, answer.text
        return sorted(e["name"] for e in answer.json()["experiments"])

    assert experiments("tags.team = 'risk'") == ["filtered"] and experiments("name ILIKE 'OTH%'") == ["other"]
    assert experiments("attribute.name = 'other' AND creation_time > 0") == ["other"]
