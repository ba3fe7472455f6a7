"""A folder MLflow saved (``MLmodel`` + its scikit-learn flavor) loads and serves in modelkeep
(issue 13): ``mk.load_model`` and the gateway read it as MLflow wrote it, with modelkeep's trust
rules (skops types checked; a pickle only with allow_pickle)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from modelkeep.errors import PermissionDenied
from modelkeep.services.model_files import cached_files, load_version
from modelkeep.services.workspace import Workspace
from tests.deploy_helpers import gateway

MLMODEL = """artifact_path: mlflow-artifacts:/1/models/m-0123/artifacts
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: {file}
    predict_fn: predict
  sklearn:
    code: null
    pickled_model: {file}
    serialization_format: {fmt}
    sklearn_version: 1.5.0
mlflow_version: 3.17.2
model_id: m-0123
signature:
  inputs: '[{{"type": "tensor", "tensor-spec": {{"dtype": "float64", "shape": [-1, 3]}}}}]'
"""


def _mlflow_folder(tmp_path: Path, fmt: str) -> tuple[Path, LogisticRegression]:
    x = np.random.default_rng(4).normal(size=(80, 3))
    model = LogisticRegression().fit(x, (x[:, 0] - x[:, 2] > 0).astype(int))
    folder = tmp_path / f"mlflow-{fmt}"
    folder.mkdir()
    file = "model.skops" if fmt == "skops" else "model.pkl"
    if fmt == "skops":
        sio.dump(model, folder / file)
    else:
        (folder / file).write_bytes(pickle.dumps(model))
    (folder / "MLmodel").write_text(MLMODEL.format(file=file, fmt=fmt))
    (folder / "requirements.txt").write_text("scikit-learn\n")
    return folder, model


def test_an_mlflow_sklearn_folder_loads_and_serves(workspace: Workspace, tmp_path: Path) -> None:
    folder, model = _mlflow_folder(tmp_path, "skops")
    view = workspace.registry.register("from-mlflow", folder)
    loaded, flavor = load_version(cached_files(workspace.store, view, tmp_path / "cache"))
    x = np.random.default_rng(5).normal(size=(20, 3))
    assert flavor == "sklearn" and loaded.predict(x).tolist() == model.predict(x).tolist()
    d = workspace.deployments
    d.create("mlflow-svc", d.plan("single", view.ref))
    served = gateway(workspace, "mlflow-svc", tmp_path).infer(x.tolist(), "k")
    assert served["predictions"] == model.predict(x).tolist() and served["model"] == view.ref


def test_a_pickled_mlflow_model_needs_the_explicit_opt_in(workspace: Workspace, tmp_path: Path) -> None:
    folder, model = _mlflow_folder(tmp_path, "cloudpickle")
    view = workspace.registry.register("pickled", folder)
    files = cached_files(workspace.store, view, tmp_path / "cache")
    with pytest.raises(PermissionDenied, match="runs arbitrary code"):
        load_version(files)
    loaded, _ = load_version(files, allow_pickle=True)
    assert loaded.predict(np.zeros((1, 3))).tolist() == model.predict(np.zeros((1, 3))).tolist()
