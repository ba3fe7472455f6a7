"""MLflow's ``python_function`` flavor, loaded by MLflow itself: custom ``mlflow.pyfunc`` models,
``mlflow.pytorch`` and every other flavor MLflow saves with a pyfunc loader.

These loaders unpickle (a cloudpickle of the ``PythonModel``, ``torch.load`` of a whole module, ...)
and import the module ``MLmodel`` names, so loading one needs:
- the explicit opt-in (``allow_pickle=True``, ``mk serve --allow-pickle``);
- a loader module of MLflow's own (``mlflow.*``), or one the caller names in ``trusted``;
- the ``mlflow`` package in this environment (the model's own requirements too, as under MLflow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput, ModelKeepError, PermissionDenied


def descriptor(path: Path, pyfunc: dict[str, Any]) -> dict[str, Any]:
    """The descriptor of a folder whose ``MLmodel`` has a ``python_function`` flavor."""
    loader = pyfunc.get("loader_module")
    if not isinstance(loader, str) or not loader.replace(".", "").replace("_", "").isalnum():
        raise InvalidInput(f"{path / 'MLmodel'}: python_function has no valid loader_module (got {loader!r})")
    return {"flavor": "mlflow", "format": "pyfunc", "loader_module": loader, "source": "mlflow"}


def load(path: Path, descriptor: dict[str, Any], *, allow_pickle: bool = False, trusted: list[str] | None = None) -> Any:
    """The ``PyFuncModel`` MLflow's own ``mlflow.pyfunc.load_model`` gives for ``path``."""
    loader = str(descriptor["loader_module"])
    if not allow_pickle:
        raise PermissionDenied(
            f"{path} is an MLflow model loaded by {loader}: MLflow's loader unpickles it, which runs arbitrary code",
            hint="pass allow_pickle=True (mk serve --allow-pickle) only for models from a source you trust",
        )
    if not loader.startswith("mlflow.") and loader not in (trusted or []):
        raise PermissionDenied(
            f"{path / 'MLmodel'} names the loader module {loader!r}, which is not MLflow's: importing it runs its code",
            hint=f"trust it explicitly (trusted=[{loader!r}], mk serve --trust {loader})",
        )
    try:
        import mlflow.pyfunc  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise InvalidInput(f"{path} is an MLflow model loaded by {loader}: loading it needs the mlflow package "
                           "in this environment (pip install mlflow), and the model's own requirements") from exc
    try:
        return mlflow.pyfunc.load_model(str(path))
    except ModelKeepError:
        raise
    except Exception as exc:  # whatever the model's own code raises while it loads
        raise InvalidInput(f"MLflow could not load {path} ({loader}): {type(exc).__name__}: {exc}") from exc


def input_spec(model: Any) -> list[dict[str, Any]] | None:
    """A loaded pyfunc model's named input columns (``[{"name", "type"}]``, as modelkeep's signatures
    list them), or None when its signature has no names (tensors) or it has none."""
    metadata = getattr(model, "metadata", None)
    schema = metadata.get_input_schema() if metadata is not None else None
    if schema is None or not schema.has_input_names():
        return None
    return [{"name": str(col["name"]), "type": str(col.get("type"))} for col in schema.to_dict()]
