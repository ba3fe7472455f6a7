"""OpenLineage events and CycloneDX 1.6 ML-BOM exports; pipeline steps as dataset versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelkeep.errors import InvalidInput, Unavailable
from modelkeep.services.connection import LocalConnection
from modelkeep.services.runs import openlineage, standards
from modelkeep.services.runs.lineage import walk
from modelkeep.services.workspace import Workspace


@pytest.fixture
def trained(workspace: Workspace, tmp_path: Path) -> str:
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b,label\n" + "".join(f"{i},{i % 5},{i % 2}\n" for i in range(100)))
    workspace.datasets.add(raw, "raw")
    with workspace.runs.start("clean", "pipeline") as step:
        step.use_dataset("raw@1")
        clean = tmp_path / "clean.csv"
        clean.write_text(raw.read_text().replace(",4,", ",3,"))
        out = step.log_dataset(clean, "clean", window=("2026-11-01", "2026-11-30"))
    assert out.ref == "clean@1"
    meta = {"task": "classification", "architecture": "linear",
            "business": {"owner": "risk-team", "purpose": "card fraud", "risk_tier": "high"}}
    x = np.random.default_rng(2).normal(size=(40, 2))
    with workspace.runs.start("train", "fraud") as run:
        run.seed(1)
        run.use_dataset("clean@1")
        run.log_metric("auc", 0.93)
        version = run.log_model(LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)), "fraud",
                                sample_input=x[:2], metadata=meta)
    workspace.registry.register("ensemble", components=[version.ref],
                                composite_config={"strategy": "average"})
    return version.ref


def test_step_provenance_links_intermediate_datasets(workspace: Workspace, trained: str) -> None:
    up = walk(workspace.db, f"model_version:{workspace.registry.get(trained).id}")
    ids = {n["id"] for n in up["nodes"]}
    assert {"dataset:clean@1", "dataset:raw@1"} <= ids  # raw → (step) → clean → model
    kinds = {(e["src"], e["kind"]) for e in up["edges"]}
    assert ("dataset:raw@1", "derived_from") in kinds
    down = walk(workspace.db, "dataset:raw@1", downstream=True)
    assert down["datasets"] == ["clean@1"] and trained in down["model_versions"]
    step_run = next(r for r in workspace.runs.list() if r["name"] == "clean")
    assert workspace.runs.get(step_run["id"]).tags == {"window_start": "2026-11-01", "window_end": "2026-11-30"}


def test_cyclonedx_ml_bom_validates_against_the_official_schema(workspace: Workspace, trained: str,
                                                                tmp_path: Path) -> None:
    bom = standards.cyclonedx_bom(workspace, trained)
    standards.validate_cyclonedx(bom)  # the official bom-1.6 JSON schema (cyclonedx-python-lib)
    model = bom["components"][0]
    assert model["type"] == "machine-learning-model"
    card = model["modelCard"]
    assert card["modelParameters"]["task"] == "classification"
    assert card["modelParameters"]["datasets"] == [{"ref": "dataset:clean@1"}]
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [{"type": "auc", "value": "0.93"}]
    assert card["considerations"]["useCases"] == ["card fraud"]
    assert [c["type"] for c in bom["components"][1:]] == ["data"]
    # SHA-256 of each file, checkable by any tool (BLAKE3 of a tree object is modelkeep's own)
    import hashlib

    view = workspace.registry.get(trained)
    folder = workspace.store.materialize(view.artifact_kind, view.digest, tmp_path / "files")
    on_disk = {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in folder.rglob("*") if p.is_file()}
    listed = {f["name"]: f["hashes"][0]["content"] for f in model["components"]}
    assert listed == on_disk and all(f["hashes"][0]["alg"] == "SHA-256" for f in model["components"])
    composite = standards.cyclonedx_bom(workspace, "ensemble@latest")
    standards.validate_cyclonedx(composite)
    assert composite["dependencies"][0]["dependsOn"] == [f"model:{trained}"]
    broken = dict(bom, specVersion="1.6", components=[{"type": "not-a-type", "name": "x"}])
    with pytest.raises(InvalidInput, match="does not validate"):
        standards.validate_cyclonedx(broken)


def _by_job(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        out.setdefault(event["job"]["name"], []).append(event)
    return out


def test_openlineage_one_event_pair_per_pipeline_step_with_standard_facets(workspace: Workspace, trained: str) -> None:
    conn = LocalConnection(workspace)
    events = openlineage.events(conn, trained)
    openlineage.validate(events)  # against openlineage-python's classes, generated from the official schema
    jobs = _by_job(events)
    assert [e["job"]["name"] for e in (events[0], events[-1])] == ["pipeline:fraud"] * 2
    assert set(jobs) == {"pipeline:fraud", "pipeline.clean", "fraud.train"}  # the parent and one job per step
    namespace = events[0]["job"]["namespace"]
    assert namespace.startswith("modelkeep://") and all(e["job"]["namespace"] == namespace for e in events)
    parent_id = events[0]["run"]["runId"]
    for name in ("pipeline.clean", "fraud.train"):
        start, end = jobs[name]
        assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
        assert start["eventTime"] <= end["eventTime"] and start["run"]["runId"] == end["run"]["runId"]
        facets = end["run"]["facets"]
        assert facets["parent"]["run"]["runId"] == parent_id and facets["parent"]["job"]["name"] == "pipeline:fraud"
        assert facets["processing_engine"]["name"] == "modelkeep"
        code = end["job"]["facets"]["sourceCodeLocation"]
        assert code["type"] == "git" and len(code["version"]) == 40  # the run's commit
        assert end["job"]["facets"]["jobType"]["processingType"] == "BATCH"
    clean_end = jobs["pipeline.clean"][1]
    assert clean_end["run"]["facets"]["nominalTime"] == {
        **clean_end["run"]["facets"]["nominalTime"],
        "nominalStartTime": "2026-11-01T00:00:00Z", "nominalEndTime": "2026-11-30T00:00:00Z"}
    [raw] = clean_end["inputs"]
    assert (raw["name"], raw["facets"]["version"]["datasetVersion"]) == ("datasets/raw", "1")  # name stable, version a facet
    assert raw["inputFacets"]["dataQualityMetrics"]["fileCount"] == 1 and raw["inputFacets"]["dataQualityMetrics"]["bytes"] > 0
    [clean] = clean_end["outputs"]
    assert clean["name"] == "datasets/clean" and clean["outputFacets"]["outputStatistics"]["fileCount"] == 1
    assert clean["facets"]["modelkeep"]["digest"] == workspace.datasets.get("clean@1").digest
    train_end = jobs["fraud.train"][1]
    assert [d["name"] for d in train_end["inputs"]] == ["datasets/clean"]
    [model] = train_end["outputs"]
    version = workspace.registry.get(trained)
    assert model["name"] == "models/fraud" and model["facets"]["version"]["datasetVersion"] == version.version
    assert [f["name"] for f in model["facets"]["schema"]["fields"]] == [c["name"] for c in version.signature["inputs"]]
    assert model["facets"]["modelkeep"]["digest"] == version.digest
    assert openlineage.events(conn, trained) == events  # stable ids: exporting twice gives the same runs
    # a dataset version is a ref too: its pipeline is the one step that made it
    dataset_events = openlineage.events(conn, "clean@1")
    openlineage.validate(dataset_events)
    assert set(_by_job(dataset_events)) == {"pipeline:clean", "pipeline.clean"}
    with pytest.raises(InvalidInput, match="no recorded pipeline"):
        openlineage.events(conn, "raw@1")


def test_openlineage_validation_names_what_is_wrong(workspace: Workspace, trained: str) -> None:
    events = openlineage.events(LocalConnection(workspace), trained)
    broken = json.loads(json.dumps(events))
    del broken[1]["run"]["facets"]["parent"]["job"]
    broken[1]["job"]["facets"]["jobType"]["color"] = "red"
    broken[2]["eventType"] = "DONE"
    with pytest.raises(InvalidInput) as caught:
        openlineage.validate(broken)
    message = str(caught.value)
    assert "event 1.run.facets.parent: missing required 'job'" in message
    assert "'color' is not a field of JobTypeJobFacet" in message and "eventType 'DONE'" in message


def test_export_openlineage_posts_to_a_marquez_shaped_endpoint(workspace: Workspace, trained: str) -> None:
    from typer.testing import CliRunner

    from modelkeep.cli.main import app
    from tests.test_webhooks import Receiver

    receiver = Receiver()
    try:
        base = receiver.url.removesuffix("/hook")
        env = {"MODELKEEP_HOME": str(workspace.config.root), "OPENLINEAGE_API_KEY": "ol-secret"}
        done = CliRunner().invoke(app, ["export", "openlineage", trained, "--to", base], env=env)
        assert done.exit_code == 0, done.output
        posted = [json.loads(body) for _, body in receiver.requests]
        assert posted == openlineage.events(LocalConnection(workspace), trained)  # every event, in order, one per POST
        assert {h["Authorization"] for h, _ in receiver.requests} == {"Bearer ol-secret"}
        assert f"posted {len(posted)} OpenLineage events" in done.output
        receiver.fail_next = 1  # the endpoint refuses: a clear error, not a traceback
        refused = CliRunner().invoke(app, ["export", "openlineage", trained, "--to", base + "/api/v1/lineage"], env=env)
        assert isinstance(refused.exception, Unavailable)  # mk's entry point turns it into a message and exit 5
        assert "refused OpenLineage event 1 of" in str(refused.exception) and "HTTP 500" in str(refused.exception)
        wrong = CliRunner().invoke(app, ["export", "openlineage", trained, "--to", "ftp://x"], env=env)
        assert isinstance(wrong.exception, InvalidInput) and "an http(s) URL of an OpenLineage endpoint" in str(wrong.exception)
    finally:
        receiver.close()


def test_server_emits_run_events_to_openlineage_as_they_happen(workspace: Workspace, tmp_path: Path) -> None:
    from tests.test_webhooks import Receiver

    receiver = Receiver()
    try:
        hooks = workspace.webhooks
        with pytest.raises(InvalidInput, match="run events only"):
            hooks.add(receiver.url, ["version.created"], format="openlineage")
        hooks.add(receiver.url, ["run.started", "run.ended"], format="openlineage")
        raw = tmp_path / "raw.csv"
        raw.write_text("a,label\n1,0\n2,1\n")
        workspace.datasets.add(raw, "raw")
        with workspace.runs.start("clean", "pipeline") as step:
            step.use_dataset("raw@1")
            assert hooks.dispatch()["delivered"] == 1  # the START went out while the run runs
            step.log_dataset(raw, "clean")
        assert hooks.dispatch()["delivered"] == 1
        start, end = (json.loads(body) for _, body in receiver.requests)
        openlineage.validate([start, end])
        assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
        assert [d["name"] for d in end["inputs"]] == ["datasets/raw"]
        assert [d["name"] for d in end["outputs"]] == ["datasets/clean"]
        exported = _by_job(openlineage.events(LocalConnection(workspace), "clean@1"))["pipeline.clean"]
        assert exported[0]["run"]["runId"] == start["run"]["runId"]  # a later export joins what was emitted live
        hooks.client.close()
    finally:
        receiver.close()


def test_a_wide_lineage_labels_its_versions_as_a_narrow_one_does(any_workspace: Workspace, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``JOINED_LABELS`` versions, a walk reads their models by id in a statement of their own
    (joined, PostgreSQL hashed every model of the registry): the same labels and aliases."""
    from modelkeep.services.runs import lineage as lineage_module

    ws = any_workspace
    (tmp_path / "train.csv").write_text("a\n1\n")
    ws.datasets.add(tmp_path / "train.csv", "train")
    for i in range(70):
        ws.registry.register(("fraud", "churn", "risk")[i % 3], params={"i": i}, data=["train@1"])
    ws.registry.set_alias("fraud@latest", "production")
    ws.registry.set_alias("churn@1.0.0", "staging")
    wide = walk(ws.db, "dataset:train@1", downstream=True)
    monkeypatch.setattr(lineage_module, "JOINED_LABELS", 10_000)
    joined = walk(ws.db, "dataset:train@1", downstream=True)
    assert wide == joined and len(wide["model_versions"]) == 70
    assert wide["aliases"] == ["churn@staging", "fraud@production"]
