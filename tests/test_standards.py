"""OpenLineage events and CycloneDX 1.6 ML-BOM exports; pipeline steps as dataset versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelkeep.errors import InvalidInput
from modelkeep.services.runs import standards
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


def test_openlineage_run_events(workspace: Workspace, trained: str) -> None:
    start, complete = standards.openlineage_events(workspace, trained)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    uuid.UUID(start["run"]["runId"])
    for event in (start, complete):
        datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
        assert event["producer"].startswith("https://") and event["schemaURL"].startswith("https://openlineage.io/spec/")
        assert event["job"] == {"facets": {}, "name": "train", "namespace": "modelkeep"}
    assert [d["name"] for d in complete["inputs"]] == ["clean@1"]
    assert [d["name"] for d in complete["outputs"]] == [f"model:{trained}"]
    assert standards.openlineage_events(workspace, trained) == [start, complete]  # stable ids
