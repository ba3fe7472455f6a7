"""Flavors: how a framework's model object becomes files in a folder, and back.

A saved model is a folder holding the framework's files and ``modelkeep-model.json``
(flavor, format, class, framework version, signature). Loading never unpickles anything unless
the caller opts in explicitly (``allow_pickle=True``); skops files load only the types skops
considers safe unless the caller trusts more (``trusted=[...]``). A folder MLflow saved loads too:
its scikit-learn and ONNX flavors by modelkeep, any other flavor with a pyfunc loader through MLflow
itself (``flavors/mlflow_pyfunc.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput

DESCRIPTOR = "modelkeep-model.json"
FLAVORS = ("sklearn", "onnx", "pytorch", "python", "folder")


def save_model(
    model: Any,
    dest: Path,
    flavor: str,
    *,
    serialization: str = "skops",
    signature: dict[str, Any] | None = None,
    init_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``model`` into the empty folder ``dest``; returns the descriptor.

    ``serialization`` (sklearn): skops, or pickle/joblib; ``init_kwargs`` (pytorch): the
    arguments that rebuild the module before its state_dict is loaded (python: the class's
    keyword arguments).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if flavor == "sklearn":
        from modelkeep.flavors.sklearn import save

        descriptor = save(model, dest, serialization)
    elif flavor == "pytorch":
        from modelkeep.flavors.pytorch import save as save_torch

        descriptor = save_torch(model, dest, init_kwargs)
    elif flavor == "onnx":
        from modelkeep.flavors.onnx import save as save_onnx

        descriptor = save_onnx(model, dest)
    elif flavor == "python":
        from modelkeep.flavors.python import save as save_python

        descriptor = save_python(model, dest, init_kwargs)
    elif flavor == "folder":
        from modelkeep.flavors.folder import save as save_folder

        descriptor = save_folder(model, dest)
    else:
        raise InvalidInput(f"unknown flavor {flavor!r}: valid flavors are {', '.join(FLAVORS)}")
    descriptor["signature"] = signature
    (dest / DESCRIPTOR).write_text(json.dumps(descriptor, indent=2, sort_keys=True))
    return descriptor


def _own_file(path: Path, file: Any) -> str:
    """A model file MLflow's ``MLmodel`` names: a plain name in the folder, never a path out of it."""
    file = str(file)
    if "/" in file or "\\" in file or file in (".", "..") or not (path / file).is_file():
        raise InvalidInput(f"{path / 'MLmodel'} names a model file that is not a file of its folder: {file!r}")
    return file


def mlflow_descriptor(path: Path) -> dict[str, Any] | None:
    """The descriptor of a folder MLflow saved (``MLmodel``). The flavors modelkeep loads itself come
    first: scikit-learn (skops files as skops, with the same trust rules; pickles only with
    allow_pickle) and ONNX (``mlflow.onnx``: protobuf, its weights inline or as external data in the
    folder). Any other with a ``python_function`` flavor (custom pyfunc, pytorch, ...) is loaded by
    MLflow's own loader (see ``mlflow_pyfunc``)."""
    import yaml

    try:
        mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    except (OSError, yaml.YAMLError):
        return None
    flavors = (mlmodel.get("flavors") or {}) if isinstance(mlmodel, dict) else {}
    onnx = flavors.get("onnx") if isinstance(flavors, dict) else None
    if isinstance(onnx, dict) and onnx.get("data"):
        return {"flavor": "onnx", "format": "onnx", "file": _own_file(path, onnx["data"]), "source": "mlflow"}
    sklearn = flavors.get("sklearn") if isinstance(flavors, dict) else None
    if not isinstance(sklearn, dict) or not sklearn.get("pickled_model"):
        pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
        if isinstance(pyfunc, dict):
            from modelkeep.flavors.mlflow_pyfunc import descriptor

            return descriptor(path, pyfunc)
        return None
    file = _own_file(path, sklearn["pickled_model"])
    fmt = {"skops": "skops", "pickle": "pickle", "cloudpickle": "pickle"}.get(str(sklearn.get("serialization_format")))
    if fmt is None:
        raise InvalidInput(f"{path / 'MLmodel'}: sklearn serialization {sklearn.get('serialization_format')!r} is not one "
                           "modelkeep loads (skops, pickle, cloudpickle)")
    return {"flavor": "sklearn", "format": fmt, "file": file, "source": "mlflow"}


def describe(path: Path) -> dict[str, Any]:
    """The descriptor of a saved model folder: modelkeep's own, or one read from MLflow's ``MLmodel``."""
    try:
        return dict(json.loads((path / DESCRIPTOR).read_text()))
    except (OSError, ValueError) as exc:
        found = mlflow_descriptor(path) if (path / "MLmodel").exists() else None
        if found is None:
            raise InvalidInput(f"{path} is not a saved modelkeep model: {DESCRIPTOR} is missing or unreadable "
                               "(and it is not a model MLflow saved either: no MLmodel with a flavor modelkeep loads)") from exc
        return found


def load_model(path: Path, *, allow_pickle: bool = False, trusted: list[str] | None = None) -> Any:
    """Load a saved model folder (see the module docstring for the trust rules); a folder MLflow
    saved loads too (``MLmodel``)."""
    descriptor = describe(path)
    if descriptor["flavor"] == "sklearn":
        from modelkeep.flavors.sklearn import load

        return load(path, descriptor, allow_pickle=allow_pickle, trusted=trusted)
    if descriptor["flavor"] == "pytorch":
        from modelkeep.flavors.pytorch import load as load_torch

        return load_torch(path, descriptor, trusted=trusted)
    if descriptor["flavor"] == "onnx":
        from modelkeep.flavors.onnx import load as load_onnx

        return load_onnx(path, descriptor)
    if descriptor["flavor"] == "python":
        from modelkeep.flavors.python import load as load_python

        return load_python(path, descriptor, trusted=trusted)
    if descriptor["flavor"] == "mlflow":
        from modelkeep.flavors.mlflow_pyfunc import load as load_mlflow

        return load_mlflow(path, descriptor, allow_pickle=allow_pickle, trusted=trusted)
    if descriptor["flavor"] == "folder":
        return path
    raise InvalidInput(f"unknown flavor {descriptor['flavor']!r} in {path / DESCRIPTOR}")
