"""Runs, environment capture, seeds, flavors and lineage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelkeep.capture.environment import capture, diff
from modelkeep.capture.seeds import seed_everything
from modelkeep.errors import InvalidInput, NotFound, PermissionDenied
from modelkeep.flavors import load_model, save_model
from modelkeep.flavors.signature import infer_signature
from modelkeep.services.runs.lineage import resolve_node, walk
from modelkeep.services.workspace import Workspace


def test_capture_on_this_machine() -> None:
    env = capture()
    assert env["python"]["version"].count(".") == 2
    assert env["cpu"]["logical_cores"] >= 1 and env["memory"]["total_bytes"] > 0
    assert "sqlalchemy" in env["packages"] and "numpy" in env["packages"]
    assert env["os"]["system"] == "Linux"
    assert "gpu" not in env  # no NVML here: absent, not an error


def test_gpu_faked_at_the_nvml_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pynvml")
    memory = types.SimpleNamespace(total=80 * 2**30)
    fake.nvmlInit = lambda: None  # type: ignore[attr-defined]
    fake.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    fake.nvmlSystemGetDriverVersion = lambda: b"560.35.03"  # type: ignore[attr-defined]
    fake.nvmlSystemGetCudaDriverVersion = lambda: 12060  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: 2  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetName = lambda h: "NVIDIA H100 80GB HBM3"  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: memory  # type: ignore[attr-defined]
    fake.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    env = capture()
    assert env["gpu"]["driver"] == "560.35.03" and env["gpu"]["cuda_driver"] == "12.6"
    assert [d["name"] for d in env["gpu"]["devices"]] == ["NVIDIA H100 80GB HBM3"] * 2
    other = json.loads(json.dumps(env))
    other["gpu"]["driver"] = "550.54.15"
    other["packages"]["numpy"] = "0.0.1"
    rows = diff(env, other)
    assert [r["key"] for r in rows] == ["gpu.driver", "packages.numpy"]  # most relevant first


def test_seed_everything_is_reproducible() -> None:
    first = seed_everything(7)
    a = np.random.rand(3)
    seed_everything(7)
    assert np.array_equal(a, np.random.rand(3))
    assert first["seeded"][:2] == ["random", "numpy"] and os.environ["PYTHONHASHSEED"] == "7"
    assert ("torch" in first["seeded"]) == ("torch" in sys.modules)
    with pytest.raises(InvalidInput, match="seed"):
        seed_everything(-1)


def test_flavors_and_trust(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(50, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    save_model(model, tmp_path / "skops", "sklearn")
    loaded = load_model(tmp_path / "skops")
    assert np.array_equal(loaded.predict(x), model.predict(x))
    save_model(model, tmp_path / "pickled", "sklearn", serialization="pickle")
    with pytest.raises(PermissionDenied, match="runs arbitrary code"):
        load_model(tmp_path / "pickled")
    assert np.array_equal(load_model(tmp_path / "pickled", allow_pickle=True).predict(x), model.predict(x))
    signature = infer_signature(x[:2], model)
    assert [c["name"] for c in signature["inputs"]] == ["f0", "f1", "f2"]
    assert signature["outputs"] == [{"name": "prediction", "type": "long"}]
    with pytest.raises(InvalidInput, match="unknown flavor"):
        save_model(model, tmp_path / "x", "tensorflow")


def test_run_logs_and_registers_a_linked_version(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    workspace.datasets.add(data, "train")
    x = np.random.default_rng(1).normal(size=(80, 2))
    with workspace.runs.start("fit", "fraud") as run:
        run.seed(3)
        assert run.use_dataset("train") == "train@1"
        run.log_params({"C": 1.0, "solver": "lbfgs"})
        for step, loss in enumerate((0.9, 0.5, 0.3)):
            run.log_metric("loss", loss, step=step)
        model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
        version = run.log_model(model, "fraud", sample_input=x[:3], metrics={"auc": 0.91})
    shown = workspace.registry.get(version.ref)
    assert shown.data == ["train@1"] and shown.params == {"C": "1.0", "solver": "lbfgs"}
    assert shown.metrics == {"loss": 0.3, "auc": 0.91} and shown.tags["run"] == str(run.id)
    assert shown.environment and shown.environment["seeds"]["seed"] == 3
    assert shown.signature and len(shown.signature["inputs"]) == 2
    view = workspace.runs.get(run.id)
    assert view.status == "finished" and view.metrics["loss"] == [(0, 0.9), (1, 0.5), (2, 0.3)]
    assert view.models == [version.ref] and view.inputs == ["train@1"]
    up = walk(workspace.db, resolve_node(workspace.db, workspace.registry, workspace.datasets, version.ref))
    assert {n["id"] for n in up["nodes"]} == {f"model_version:{version.id}", f"run:{run.id}", "dataset:train@1"}
    workspace.registry.set_alias(version.ref, "production")
    down = walk(workspace.db, "dataset:train@1", downstream=True)
    assert down["model_versions"] == [version.ref] and down["aliases"] == ["fraud@production"]
    # Deleting the run leaves the version's own lineage to its data intact.
    workspace.runs.delete(run.id)
    with pytest.raises(NotFound):
        workspace.runs.get(run.id)
    up = walk(workspace.db, f"model_version:{version.id}")
    assert "dataset:train@1" in {n["id"] for n in up["nodes"]}


def test_run_warnings_and_failures(workspace: Workspace) -> None:
    with pytest.raises(RuntimeError), workspace.runs.start("broken") as run:
        raise RuntimeError("boom")
    assert workspace.runs.get(run.id).status == "failed"
    loader = types.SimpleNamespace(num_workers=4, worker_init_fn=None, generator=None)
    with workspace.runs.start("loader") as run, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.check_dataloader(loader)
    assert any("worker" in str(w.message) for w in caught)
    assert any("worker_init_fn" in w for w in workspace.runs.get(run.id).warnings)


@pytest.mark.long
def test_mk_run_wraps_a_command(tmp_path: Path) -> None:
    mk = [sys.executable, "-m", "modelkeep.cli.main"]
    env = {**os.environ, "MODELKEEP_USER": "t"}
    env.pop("MODELKEEP_HOME", None)
    subprocess.run([*mk, "init"], cwd=tmp_path, env=env, check=True, capture_output=True)
    script = tmp_path / "job.py"
    script.write_text(
        "import os, pathlib, sys\n"
        "import modelkeep as mk\n"
        "with mk.start_run() as run:\n"
        "    run.log_metric('score', 0.5)\n"
        "pathlib.Path('result.txt').write_text(os.environ['MODELKEEP_RUN_ID'])\n"
        "sys.exit(3)\n"
    )
    done = subprocess.run([*mk, "run", "--name", "job", "-o", "result.txt", "--", sys.executable, "job.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    shown = json.loads(subprocess.run([*mk, "runs", "show", "1", "--json"], cwd=tmp_path, env=env,
                                      capture_output=True, text=True, check=True).stdout)
    assert shown["status"] == "failed" and shown["exit_code"] == 3 and shown["command"][-1] == "job.py"
    assert shown["metrics"]["score"] == [{"step": 0, "value": 0.5}]  # the SDK attached to the same run
    assert [a["name"] for a in shown["artifacts"]] == ["result.txt"]
    assert shown["environment"]["python"]["version"]
    diffed = json.loads(subprocess.run([*mk, "env", "diff", "1", "run:1", "--json"], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, check=True).stdout)
    assert diffed["differences"] == []


def test_a_point_logged_again_at_a_step_replaces_it_unless_each_moment_is_kept(workspace: Workspace) -> None:
    """modelkeep's own logging corrects a step's value; MLflow's (replace_step=False) keeps each point
    of a step by its moment, as MLflow does, and the run's latest value is the step's last measured."""
    from datetime import datetime

    runs = workspace.runs
    run_id = runs.start("points").id
    runs.log_metrics(run_id, {"loss": 0.5}, 1)
    runs.log_metrics(run_id, {"loss": 0.4}, 1)
    assert [(s, v) for s, v, _ in runs.metric_history(run_id, "loss")] == [(1, 0.4)]
    first, second = datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 13)
    runs.log_points(run_id, [("acc", 0.8, 1, second), ("acc", 0.7, 1, first)], replace_step=False)
    runs.log_points(run_id, [("acc", 0.9, 1, second)], replace_step=False)  # the same moment: replaced
    assert runs.metric_history(run_id, "acc") == [(1, 0.7, first), (1, 0.9, second)]
    view = runs.get(run_id)
    assert view.metrics["acc"][-1] == (1, 0.9) and view.metric_times["acc"] == second
    runs.log_metrics(run_id, {"acc": 0.95}, 1)  # modelkeep's way again: the step holds one point
    assert [(s, v) for s, v, _ in runs.metric_history(run_id, "acc")] == [(1, 0.95)]


def test_a_projects_runs_read_together_show_each_series_latest_point_as_get_does(
        any_workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs.latest (what MLflow's runs/search lists) reads a project's runs in a fixed number of statements
    on either database: params, tags, input datasets and each series' latest point (a step measured
    twice: its later moment) are those Runs.get shows; other projects' runs stay out. Runs.get with
    history=False reads one run's latest points the same way."""
    from datetime import datetime

    ws = any_workspace
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1,2\n")
    ws.datasets.add(data, "rows")
    made = []
    for i in range(4):
        run = ws.runs.start(f"r{i}", project="fraud")
        run.log_params({"depth": i})
        run.set_tag("team", f"t{i}")
        if i % 2:
            run.use_dataset("rows@1")
        ws.runs.log_points(run.id, [("loss", 1.0 - s / 10 - i, s, datetime(2026, 1, 1, s)) for s in range(3)]
                           + [("loss", 9.0 + i, 2, datetime(2026, 1, 1, 5))], replace_step=False)
        run.end()
        made.append(run.id)
    elsewhere = ws.runs.start("elsewhere", project="churn")
    elsewhere.end()
    assert ws.runs.get(elsewhere.id, history=False).metrics == {}  # no series: none found, nothing made up
    listed = ws.runs.latest("fraud")
    assert [v.id for v in listed] == made[::-1]  # newest first, this project's only
    for view in listed:
        whole = ws.runs.get(view.id, outputs=False)
        assert view.metrics == {k: points[-1:] for k, points in whole.metrics.items()}
        assert view.metric_times == whole.metric_times and view.metrics["loss"] == [(2, 9.0 + made.index(view.id))]
        assert (view.params, view.tags, view.inputs, view.status, view.started_at) == (
            whole.params, whole.tags, whole.inputs, whole.status, whole.started_at)
        latest = ws.runs.get(view.id, outputs=False, history=False)  # one run, as a create or runs/get reads it
        assert (latest.metrics, latest.metric_times, latest.params, latest.inputs) == (
            view.metrics, view.metric_times, whole.params, whole.inputs)
    assert [v.inputs for v in listed] == [["rows@1"], [], ["rows@1"], []]
    # a page a search chose: those runs in its order, read a few ids a statement; another project's run left out
    from modelkeep.services.runs import run_summaries

    monkeypatch.setattr(run_summaries, "IDS_A_STATEMENT", 3)
    page = [made[1], made[3], elsewhere.id, made[0], made[2]]
    assert ws.runs.summaries("fraud", page) == [next(v for v in listed if v.id == run_id) for run_id in page if run_id in made]
    assert sorted(run_id for run_id, _, _ in ws.runs.starts("fraud")) == made
