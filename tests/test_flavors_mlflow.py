"""A folder MLflow saved (``MLmodel`` + its scikit-learn or ONNX flavor) loads and serves in
modelkeep (issue 13): ``mk.load_model`` and the gateway read it as MLflow wrote it, with modelkeep's
trust rules (skops types checked; a pickle only with allow_pickle; ONNX weights only from files of
the model's own folder). Any other flavor goes to MLflow's own pyfunc loader, behind the same opt-in
(its load with the real MLflow is ``tests/team/test_mlflow_client.py``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from modelkeep.errors import InvalidInput, PermissionDenied
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


ONNX_MLMODEL = """flavors:
  onnx:
    code: null
    data: {file}
    onnx_version: 1.17.0
    providers: [CUDAExecutionProvider, CPUExecutionProvider]
  python_function:
    data: {file}
    loader_module: mlflow.onnx
mlflow_version: 3.17.2
"""


def _mlflow_onnx_folder(tmp_path: Path, name: str = "mlflow-onnx") -> tuple[Path, np.ndarray, np.ndarray]:
    """As ``mlflow.onnx.save_model`` writes it: ``model.onnx`` with weights over 1 KB as external data."""
    import onnx

    from tests.clients.onnx_linear import linear

    weights = np.random.default_rng(6).normal(size=(300, 1)).astype(np.float32)
    bias = np.array([0.5], dtype=np.float32)
    proto = linear(weights, bias)
    folder = tmp_path / name
    folder.mkdir()
    onnx.save_model(proto, str(folder / "model.onnx"), save_as_external_data=True)
    (folder / "MLmodel").write_text(ONNX_MLMODEL.format(file="model.onnx"))
    assert len(list(folder.iterdir())) == 3  # the weights went to a file of their own
    return folder, weights, bias


def test_an_mlflow_onnx_folder_loads_and_serves_with_its_external_weights(workspace: Workspace, tmp_path: Path) -> None:
    folder, weights, bias = _mlflow_onnx_folder(tmp_path)
    view = workspace.registry.register("onnx-from-mlflow", folder)
    loaded, flavor = load_version(cached_files(workspace.store, view, tmp_path / "cache"))
    assert flavor == "onnx" and [t.name for t in loaded.graph.initializer] == ["w", "b"]
    x = np.random.default_rng(7).normal(size=(5, 300)).astype(np.float32)
    d = workspace.deployments
    d.create("onnx-svc", d.plan("single", view.ref))
    served = gateway(workspace, "onnx-svc", tmp_path).infer(x.tolist(), "k")
    assert np.allclose(np.array(served["predictions"]), x @ weights + bias, atol=1e-4)


def test_onnx_weights_are_read_only_from_the_models_own_folder(tmp_path: Path) -> None:
    """A model whose external data points out of its folder (``../secret``) is refused before any read."""
    import onnx

    from modelkeep.errors import InvalidInput
    from modelkeep.flavors import load_model

    folder, _, _ = _mlflow_onnx_folder(tmp_path)
    (tmp_path / "secret").write_bytes(b"\0" * 1200)
    proto = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../secret"
    (folder / "model.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(InvalidInput, match="not a file of the model's folder"):
        load_model(folder)
    (folder / "MLmodel").write_text(ONNX_MLMODEL.format(file="../model.onnx"))
    with pytest.raises(InvalidInput, match="not a file of its folder"):
        load_model(folder)


PYFUNC_MLMODEL = """flavors:
  python_function:
    artifacts: {{}}
    cloudpickle_version: 3.1.3
    loader_module: {loader}
    python_model: python_model.pkl
    python_version: 3.11.2
mlflow_version: 3.17.2
"""


def test_any_other_mlflow_flavor_goes_to_mlflows_loader_only_with_the_opt_in(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A custom pyfunc (or pytorch, ...) is a cloudpickle MLflow loads: never without allow_pickle, never
    through a loader module that is not MLflow's unless trusted, and a clear message where MLflow is absent."""
    def folder(loader: str) -> Path:
        made = tmp_path / loader.replace(".", "-").replace("/", "_")
        made.mkdir()
        (made / "MLmodel").write_text(PYFUNC_MLMODEL.format(loader=loader))
        (made / "python_model.pkl").write_bytes(pickle.dumps({"never": "unpickled"}))
        return made

    monkeypatch.setitem(__import__("sys").modules, "mlflow", None)  # this environment without MLflow, surely
    ours = folder("mlflow.pyfunc.model")
    with pytest.raises(PermissionDenied, match="runs arbitrary code") as refused:
        load_version(ours)
    assert "allow_pickle=True" in (refused.value.hint or "")
    with pytest.raises(InvalidInput, match="needs the mlflow package"):
        load_version(ours, allow_pickle=True)
    custom = folder("acme.loader")
    with pytest.raises(PermissionDenied, match="'acme.loader', which is not MLflow's"):
        load_version(custom, allow_pickle=True)
    with pytest.raises(InvalidInput, match="needs the mlflow package"):  # trusted: on to MLflow's loader
        load_version(custom, allow_pickle=True, trusted=["acme.loader"])
    with pytest.raises(InvalidInput, match="no valid loader_module"):
        load_version(folder("../escape"), allow_pickle=True)
