"""Run by the tritonclient venv's Python: the calls a Triton user makes, against a gateway.

Usage: python triton_calls.py URL MODEL VERSION. Prints one JSON object: each call's result, or
the error the client raised (so the test names what failed)."""

import json
import sys

import numpy as np
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

url, model, version = sys.argv[1:4]
client = http.InferenceServerClient(url=url.removeprefix("http://"))
out: dict = {}


def call(name, fn):
    try:
        out[name] = fn()
    except InferenceServerException as exc:
        out[name] = {"error": exc.message(), "status": exc.status()}


rows = np.array([[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0]], dtype=np.float64)


def binary():  # the client's defaults: binary inputs, binary outputs
    x = http.InferInput("x", list(rows.shape), "FP64")
    x.set_data_from_numpy(rows)
    result = client.infer(model, [x])
    response = result.get_response()
    name = response["outputs"][0]["name"]
    return {"name": name, "values": result.as_numpy(name).tolist(), "binary_size": response["outputs"][0]["parameters"]}


def json_tensors():  # binary_data=False both ways, the output asked by name
    x = http.InferInput("x", list(rows.shape), "FP64")
    x.set_data_from_numpy(rows, binary_data=False)
    name = client.get_model_metadata(model)["outputs"][0]["name"]
    result = client.infer(model, [x], outputs=[http.InferRequestedOutput(name, binary_data=False)])
    return {"name": name, "values": result.as_numpy(name).tolist(), "outputs": result.get_response()["outputs"]}


def int_inputs():  # INT32 binary tensor, one per named column is not needed: one [N, K] tensor
    x = http.InferInput("x", [1, 3], "INT32")
    x.set_data_from_numpy(np.array([[3, 0, 0]], dtype=np.int32))
    result = client.infer(model, [x], model_version=version)
    return result.as_numpy(result.get_response()["outputs"][0]["name"]).tolist()


def wrong_shape():  # the header says [1, 3], the bytes carry 6 values: the server refuses
    x = http.InferInput("x", [2, 3], "FP64")
    x.set_data_from_numpy(rows)
    x.set_shape([1, 3])
    client.infer(model, [x])
    return "accepted"


def unknown_output():
    x = http.InferInput("x", list(rows.shape), "FP64")
    x.set_data_from_numpy(rows)
    client.infer(model, [x], outputs=[http.InferRequestedOutput("nope")])
    return "accepted"


call("is_server_live", client.is_server_live)
call("is_server_ready", client.is_server_ready)
call("server_metadata", client.get_server_metadata)
call("is_model_ready", lambda: client.is_model_ready(model))
call("is_version_ready", lambda: client.is_model_ready(model, model_version=version))
call("model_metadata", lambda: client.get_model_metadata(model))
call("version_metadata", lambda: client.get_model_metadata(model, model_version=version))
call("infer_binary", binary)
call("infer_json", json_tensors)
call("infer_int32_version", int_inputs)
call("wrong_shape", wrong_shape)
call("unknown_output", unknown_output)
call("unknown_model", lambda: client.get_model_metadata("nope"))
print(json.dumps(out))
