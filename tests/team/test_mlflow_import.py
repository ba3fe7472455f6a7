"""``mk import mlflow`` against a real ``mlflow server`` (SQLite backend, artifacts served), started
by the test from the mlflow client's own virtualenv (issue 13): 3 models, 20 versions, runs with
metric histories, aliases and files come over; every file's SHA-256 matches what MLflow stored;
a second import copies nothing."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from modelkeep.services.clock import moment
from modelkeep.services.runs.lineage import walk
from modelkeep.services.workspace import Workspace
from tests import client_venvs
from tests.live_server import free_port

SEED = Path(__file__).parent.parent / "clients" / "mlflow_seed.py"
# the champion's run (depth 3) as the seed logs it: three steps, and a second point at step 2 later
HISTORY = [(0, 0.5, moment(1_700_000_000_000)), (1, 0.333333, moment(1_700_000_001_000)),
           (2, 0.25, moment(1_700_000_002_000)), (2, 0.2, moment(1_700_000_002_500))]
pytestmark = pytest.mark.long


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict, Path]]:
    tmp_path = tmp_path_factory.mktemp("mlflow")
    python = client_venvs.ensure("mlflow3")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "mlflow.log").open("wb")
    proc = subprocess.Popen([str(python.with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                             "--artifacts-destination", str(tmp_path / "artifacts")],
                            cwd=tmp_path, stdout=log, stderr=log, env={**os.environ, "HOME": str(tmp_path)})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise RuntimeError((tmp_path / "mlflow.log").read_text()[-3000:])
        seeded = subprocess.run([str(python), str(SEED)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                                env={**os.environ, "MLFLOW_TRACKING_URI": url, "HOME": str(tmp_path)})
        assert seeded.returncode == 0, seeded.stderr[-3000:]
        yield url, json.loads(seeded.stdout.strip().splitlines()[-1]), tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_import_from_a_server_and_from_its_database_brings_everything_over_once(
        mlflow_server: tuple[str, dict, Path], workspace: Workspace, tmp_path: Path) -> None:
    """One test for both roads: the MLflow server they read takes half a minute to start and fill,
    and two tests sharing it were handed to both xdist workers, each filling one."""
    url, expected, folder = mlflow_server
    _import_from_the_server(url, expected, workspace)
    _import_from_the_database_and_artifact_root(folder, expected, tmp_path)


def _import_from_the_server(url: str, expected: dict, workspace: Workspace) -> None:
    from modelkeep.cli.main import app

    env = {"MODELKEEP_HOME": str(workspace.config.root)}
    first = CliRunner().invoke(app, ["import", "mlflow", "--from", url, "--json"], env=env)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["experiments"], summary["runs_new"], summary["models"], summary["versions_new"]) == (4, 20, 3, 20)
    assert summary["aliases_set"] == 3 and summary["refused"] == []
    for name, versions in expected.items():
        views = {v.tags["mlflow.version"]: v for v in workspace.registry.list_versions(name)}
        assert sorted(views, key=int) == sorted(versions, key=int)
        for number, files in versions.items():
            view = views[number]
            assert dict(workspace.store.sha256_of(view.artifact_kind, view.digest)) == files, (name, number)
            assert view.seq == int(number)  # a new model keeps MLflow's numbers
        champion = workspace.registry.get(f"{name}@champion")
        assert champion.tags["mlflow.version"] == "2"
        up = walk(workspace.db, f"model_version:{champion.id}", max_depth=1)
        [made_by] = [n["id"] for n in up["nodes"] if n["kind"] == "run"]  # lineage: the run that registered it
        run = workspace.runs.get(int(made_by.split(":")[1]))
        assert run.params == {"depth": "3"} and [v for _, v in run.metrics["loss"]] == [0.5, 0.333333, 0.25, 0.2]
        assert workspace.runs.metric_history(run.id, "loss") == HISTORY  # every point, with the moment MLflow had
        assert run.started_at == moment(int(run.tags["mlflow.start_time"]))  # it started when it did in MLflow
    again = CliRunner().invoke(app, ["import", "mlflow", "--from", url, "--json"], env=env)
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert (second["runs_new"], second["versions_new"], second["aliases_set"]) == (0, 0, 0)
    assert (second["runs_skipped"], second["versions_skipped"]) == (20, 20)


def _import_from_the_database_and_artifact_root(folder: Path, expected: dict, tmp_path: Path) -> None:
    """No server needed: MLflow's own tables and its artifact root give the same history."""
    from modelkeep.cli.main import app
    from modelkeep.services.workspace import init_workspace

    target, _ = init_workspace(tmp_path / "target")
    env = {"MODELKEEP_HOME": str(target.config.root)}
    args = ["import", "mlflow", "--from", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts", str(folder / "artifacts"),
            "--json"]
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["runs_new"], summary["models"], summary["versions_new"], summary["aliases_set"]) == (20, 3, 20, 3)
    for name, versions in expected.items():
        for view in target.registry.list_versions(name):
            assert dict(target.store.sha256_of(view.artifact_kind, view.digest)) == versions[view.tags["mlflow.version"]]
        champion = target.registry.get(f"{name}@champion")
        [made_by] = [n["id"] for n in walk(target.db, f"model_version:{champion.id}", max_depth=1)["nodes"]
                     if n["kind"] == "run"]
        assert target.runs.metric_history(int(made_by.split(":")[1]), "loss") == HISTORY
    again = json.loads(CliRunner().invoke(app, args, env=env).stdout)
    assert (again["runs_new"], again["versions_new"]) == (0, 0)
    missing = CliRunner().invoke(app, ["import", "mlflow", "--from", f"sqlite:///{tmp_path / 'nope.db'}"], env=env)
    assert missing.exit_code != 0 and "no MLflow database" in str(missing.exception)
    target.close()
