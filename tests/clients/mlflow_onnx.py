"""Run by the MLflow 3 client venv's Python: an ONNX model logged and registered with
``mlflow.onnx.log_model`` against ``mk server`` (its weights over onnx's 1 KB threshold, so MLflow
saves them as external data beside ``model.onnx``). Usage: python mlflow_onnx.py MODEL
(MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN set). Prints one JSON object: the version, and
the inputs and outputs the test checks the served model against."""

import json
import sys

import mlflow
import numpy as np
from onnx_linear import linear  # beside this script

model = sys.argv[1]
rng = np.random.default_rng(11)
weights = rng.normal(size=(300, 1)).astype(np.float32)  # 1.2 KB: saved as external data
bias = np.array([0.25], dtype=np.float32)
proto = linear(weights, bias)

x = rng.normal(size=(4, 300)).astype(np.float32)
mlflow.set_experiment(f"exp-{model}")
with mlflow.start_run():
    info = mlflow.onnx.log_model(proto, name="model", registered_model_name=model)
print(json.dumps({"mlflow": mlflow.__version__, "version": info.registered_model_version, "x": x.tolist(),
                  "y": (x @ weights + bias).tolist()}))
