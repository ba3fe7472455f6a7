"""ONNX: a ModelProto (or its serialized bytes) saved as ``model.onnx``; loading parses protobuf
only (no code runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput


def save(model: Any, dest: Path) -> dict[str, Any]:
    if isinstance(model, bytes | bytearray):
        data = bytes(model)
    elif hasattr(model, "SerializeToString"):
        data = model.SerializeToString()
    else:
        raise InvalidInput(f"the onnx flavor takes an onnx.ModelProto or its bytes, got {type(model).__name__}")
    import onnx

    parsed = onnx.load_from_string(data)
    onnx.checker.check_model(parsed)
    (dest / "model.onnx").write_bytes(data)
    return {"flavor": "onnx", "format": "onnx", "file": "model.onnx", "opset": [
        {"domain": o.domain, "version": o.version} for o in parsed.opset_import], "onnx_version": onnx.__version__}


def load(path: Path, descriptor: dict[str, Any]) -> Any:
    """The model, with any weights it keeps as external data (MLflow saves those beside ``model.onnx``)
    read from files of its own folder only: a location that leads anywhere else is refused."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    model = onnx.load(str(path / descriptor["file"]), load_external_data=False)
    tensors = [t for t in _tensors(model.graph) if uses_external_data(t)]
    for tensor in tensors:
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if not location or "/" in location or "\\" in location or location in (".", "..") or not (path / location).is_file():
            raise InvalidInput(f"{path / descriptor['file']}: tensor {tensor.name!r} keeps its data at {location!r}, "
                               "which is not a file of the model's folder")
    if tensors:
        load_external_data_for_model(model, str(path))
    return model


def _tensors(graph: Any) -> Any:
    """Every tensor of a graph and its subgraphs (initializers and constant attributes)."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for sub in attribute.graphs:
                yield from _tensors(sub)
