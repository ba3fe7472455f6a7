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
    import onnx

    return onnx.load(str(path / descriptor["file"]))
