"""Open Inference Protocol v2 tensors: JSON tensors and the binary tensor data extension.

The binary extension (``tritonclient``'s default) sends a JSON header of
``Inference-Header-Content-Length`` bytes followed by each tensor's raw bytes; a tensor whose
``parameters.binary_data_size`` is set takes that many bytes, in order. Values are little-endian
in the datatype's width; ``BOOL`` is one byte; ``BYTES`` is each element's 4-byte length and its
bytes. An answer is binary when the request asks (``parameters.binary_data_output`` or an output's
``parameters.binary_data``): its header then names ``binary_data_size`` and the bytes follow.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

from modelkeep.errors import InvalidInput

HEADER_LENGTH = "inference-header-content-length"
NUMPY = {"BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "INT8": "<i1", "INT16": "<i2",
         "INT32": "<i4", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}

DATATYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64",
             "BYTES"}


INT_RANGES = {f"{'U' if unsigned else ''}INT{bits}": (0, 2**bits - 1) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
              for bits in (8, 16, 32, 64) for unsigned in (False, True)}


def check_datatype(where: str, datatype: str, values: list[Any]) -> None:
    """Every value is what the tensor's ``datatype`` says (INT8 with 1.5 or 300 is refused)."""
    for j, value in enumerate(values):
        if datatype == "BOOL":
            ok = isinstance(value, bool)
        elif datatype in INT_RANGES:
            low, high = INT_RANGES[datatype]
            ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        elif datatype.startswith("FP"):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:  # BYTES
            ok = isinstance(value, str)
        if not ok:
            raise InvalidInput(f"{where}.data[{j}]: {value!r} is not {datatype}")


def output_name(signature: dict[str, Any] | None) -> str:
    """The one output's name, the same in the model metadata and in every answer."""
    outputs = (signature or {}).get("outputs") or []
    return str(outputs[0].get("name")) if len(outputs) == 1 and outputs[0].get("name") else "predict"


def oip_rows(body: Any, inputs: list[dict[str, Any]] | None) -> list[list[Any]]:
    """OIP v2 input tensors → rows: one [N, K] tensor, or one [N] / [N, 1] tensor per named input."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise InvalidInput("inputs: expected a non-empty list of tensors {name, shape, datatype, data}")
    columns: dict[str, list[Any]] = {}
    for i, tensor in enumerate(body["inputs"]):
        where = f"inputs[{i}]"
        if not isinstance(tensor, dict):
            raise InvalidInput(f"{where}: expected an object with name, shape, datatype and data")
        for key in ("name", "shape", "datatype", "data"):
            if key not in tensor:
                raise InvalidInput(f"{where}.{key}: missing")
        shape, data = tensor["shape"], tensor["data"]
        if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d >= 0 for d in shape) or len(shape) > 2:
            raise InvalidInput(f"{where}.shape: expected [N] or [N, K] with non-negative integers, got {shape!r}")
        if tensor["datatype"] not in DATATYPES:
            raise InvalidInput(f"{where}.datatype: {tensor['datatype']!r} is not one of {', '.join(sorted(DATATYPES))}")
        if not isinstance(data, list):
            raise InvalidInput(f"{where}.data: expected a list")
        flat = [v for row in data for v in row] if data and isinstance(data[0], list) else data
        check_datatype(where, tensor["datatype"], flat)
        n = shape[0]
        k = shape[1] if len(shape) == 2 else 1
        if len(flat) != n * k:
            raise InvalidInput(f"{where}.data: shape {shape} needs {n * k} values, got {len(flat)}")
        if len(body["inputs"]) == 1 and (k > 1 or not inputs or len(inputs) == 1):
            return [flat[r * k:(r + 1) * k] for r in range(n)]
        if k != 1:
            raise InvalidInput(f"{where}.shape: with several input tensors each must be [N] or [N, 1]")
        columns[str(tensor["name"])] = flat
    names = [str(c.get("name")) for c in inputs or []]
    missing = [n for n in names if n not in columns]
    if missing:
        raise InvalidInput(f"inputs: no tensor named {missing[0]!r} (the model takes {', '.join(names)})")
    lengths = {len(columns[n]) for n in names}
    if len(lengths) != 1:
        raise InvalidInput("inputs: every tensor must have the same first dimension")
    return [[columns[n][r] for n in names] for r in range(lengths.pop())]


def output_datatype(values: list[Any]) -> str:
    flat = values[0] if values and isinstance(values[0], list) else (values[0] if values else 0)
    if isinstance(flat, bool):
        return "BOOL"
    if isinstance(flat, int):
        return "INT64"
    if isinstance(flat, float):
        return "FP64"
    return "BYTES"


def _decode(where: str, datatype: str, raw: bytes) -> list[Any]:
    if datatype == "BYTES":
        values: list[Any] = []
        at = 0
        while at < len(raw):
            if at + 4 > len(raw):
                raise InvalidInput(f"{where}: BYTES element {len(values)} is cut short")
            (size,) = struct.unpack_from("<I", raw, at)
            if at + 4 + size > len(raw):
                raise InvalidInput(f"{where}: BYTES element {len(values)} says {size} bytes, fewer follow")
            values.append(raw[at + 4:at + 4 + size].decode("utf-8", errors="replace"))
            at += 4 + size
        return values
    dtype = np.dtype(NUMPY[datatype])
    if len(raw) % dtype.itemsize:
        raise InvalidInput(f"{where}: {len(raw)} bytes is not a whole number of {datatype} values")
    return list(np.frombuffer(raw, dtype=dtype).tolist())


def parse_request(raw: bytes, header_length: str | None) -> Any:
    """The request body (JSON, or JSON plus binary tensors) → the JSON document, binary tensors
    decoded into their ``data`` lists."""
    if header_length is None:
        return _json(raw)
    if not header_length.isdigit() or int(header_length) > len(raw):
        raise InvalidInput(f"Inference-Header-Content-Length: {header_length!r} is not a length within the "
                           f"{len(raw)}-byte body")
    split = int(header_length)
    body = _json(raw[:split])
    binary, at = raw[split:], 0
    inputs = body.get("inputs") if isinstance(body, dict) else None
    for i, tensor in enumerate(inputs if isinstance(inputs, list) else []):
        size = (tensor.get("parameters") or {}).get("binary_data_size") if isinstance(tensor, dict) else None
        if size is None:
            continue
        where = f"inputs[{i}]"
        if not isinstance(size, int) or size < 0 or at + size > len(binary):
            raise InvalidInput(f"{where}.parameters.binary_data_size: {size!r} bytes, {len(binary) - at} left in the body")
        if tensor.get("datatype") not in DATATYPES:
            raise InvalidInput(f"{where}.datatype: {tensor.get('datatype')!r} is not one of {', '.join(sorted(DATATYPES))}")
        tensor["data"] = _decode(where, tensor["datatype"], binary[at:at + size])
        at += size
    if at != len(binary):
        raise InvalidInput(f"the body carries {len(binary) - at} bytes that no input's binary_data_size accounts for")
    return body


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput("the body nests deeper than JSON parsing allows; send rows as flat lists") from None


def wants_binary(body: dict[str, Any]) -> bool:
    """Whether the answer's tensor goes as binary data (the request says so)."""
    asked = body.get("outputs")
    if isinstance(asked, list) and asked:
        return any(isinstance(o, dict) and (o.get("parameters") or {}).get("binary_data") is True for o in asked)
    return (body.get("parameters") or {}).get("binary_data_output") is True if isinstance(body.get("parameters"), dict) else False


def encode_binary(payload: dict[str, Any]) -> tuple[bytes, int]:
    """An answer with JSON tensors → the JSON header (each tensor's data replaced by its
    ``binary_data_size``) followed by the bytes; returns the body and the header's length."""
    blobs = []
    for tensor in payload["outputs"]:
        data, datatype = tensor.pop("data"), tensor["datatype"]
        if datatype == "BYTES":
            blob = b"".join(struct.pack("<I", len(b)) + b for b in (str(v).encode() for v in data))
        else:
            blob = np.asarray(data, dtype=NUMPY[datatype]).tobytes()
        tensor["parameters"] = {**tensor.get("parameters", {}), "binary_data_size": len(blob)}
        blobs.append(blob)
    header = json.dumps(payload, separators=(",", ":")).encode()
    return header + b"".join(blobs), len(header)
