"""Inferring a signature (input/output schema) from a sample input."""

from __future__ import annotations

from typing import Any

from modelkeep.errors import InvalidInput


def _dtype_name(dtype: Any) -> str:
    if str(dtype).startswith("torch."):
        name = str(dtype)[len("torch."):]
        return "double" if name.startswith("float") else "long" if name.startswith(("int", "uint")) else name
    kind = getattr(dtype, "kind", "")
    return {"f": "double", "i": "long", "u": "long", "b": "boolean", "O": "string", "U": "string", "S": "binary",
            "M": "datetime"}.get(kind, str(dtype))


def _columns(sample: Any, default_prefix: str) -> list[dict[str, Any]]:
    if hasattr(sample, "dtypes") and hasattr(sample, "columns"):  # pandas DataFrame
        return [{"name": str(c), "type": _dtype_name(t)} for c, t in zip(sample.columns, sample.dtypes, strict=True)]
    if hasattr(sample, "dtype") and hasattr(sample, "shape"):  # numpy array
        shape = tuple(sample.shape)
        if len(shape) == 1:
            return [{"name": default_prefix, "type": _dtype_name(sample.dtype)}]
        if len(shape) == 2:
            return [{"name": f"{default_prefix}{i}", "type": _dtype_name(sample.dtype)} for i in range(shape[1])]
        return [{"name": default_prefix, "type": _dtype_name(sample.dtype), "shape": [-1, *shape[1:]]}]
    if isinstance(sample, list) and sample and isinstance(sample[0], dict):
        return [{"name": k, "type": type(v).__name__} for k, v in sample[0].items()]
    raise InvalidInput(
        f"cannot infer a signature from a {type(sample).__name__}: give a NumPy array, a pandas DataFrame "
        "or a list of dicts"
    )


def infer_signature(sample_input: Any, model: Any | None = None) -> dict[str, Any]:
    """Inputs from ``sample_input``; outputs from ``model.predict(sample_input)`` when it has one."""
    signature: dict[str, Any] = {"inputs": _columns(sample_input, "f"), "outputs": []}
    predict: Any = getattr(model, "predict", None)
    if callable(predict):
        signature["outputs"] = _columns(predict(sample_input), "prediction")
    elif model is not None and (type(model).__module__.startswith("torch") or hasattr(model, "state_dict")):
        import torch

        with torch.no_grad():
            signature["outputs"] = _columns(model(sample_input), "output")
    return signature
