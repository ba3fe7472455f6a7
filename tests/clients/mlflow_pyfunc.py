"""Run by the ``mlflow3-serve`` venv's Python (MLflow 3 and modelkeep side by side, as in a serving
image): a custom ``mlflow.pyfunc.PythonModel`` (defined here, so cloudpickle keeps it by value, with
an artifact it reads in ``load_context``) logged and registered against ``mk server``, then loaded
back through modelkeep. Usage: python mlflow_pyfunc.py MODEL (MLFLOW_TRACKING_URI,
MLFLOW_TRACKING_TOKEN, MODELKEEP_URL, MODELKEEP_TOKEN and MODELKEEP_CACHE set). Prints one JSON object."""

import json
import sys

import mlflow
import pandas as pd
from mlflow.models import infer_signature

import modelkeep as mk
from modelkeep.errors import PermissionDenied


class Scorer(mlflow.pyfunc.PythonModel):
    """A linear score whose weights live in an artifact, as a team's custom model keeps its files."""

    def load_context(self, context):
        with open(context.artifacts["weights"]) as f:
            self.weights = json.load(f)

    def predict(self, context, model_input, params=None):
        w = self.weights
        return model_input["amount"] * w["amount"] + model_input["age"] * w["age"] + w["bias"]


model = sys.argv[1]
with open("weights.json", "w") as f:
    json.dump({"amount": 0.02, "age": -0.5, "bias": 1.5}, f)
frame = pd.DataFrame({"amount": [120.0, 3.5, 980.0], "age": [3.0, 40.0, 0.5]})
expected = (frame["amount"] * 0.02 + frame["age"] * -0.5 + 1.5).tolist()

mlflow.set_experiment(f"exp-{model}")
with mlflow.start_run():
    info = mlflow.pyfunc.log_model(name="model", python_model=Scorer(), artifacts={"weights": "weights.json"},
                                   signature=infer_signature(frame, pd.Series(expected)), registered_model_name=model)
out: dict = {"mlflow": mlflow.__version__, "version": info.registered_model_version, "expected": expected}
out["through_mlflow"] = mlflow.pyfunc.load_model(f"models:/{model}/1").predict(frame).tolist()

try:
    mk.load_model(f"{model}@latest")
    out["without_opt_in"] = "loaded"
except PermissionDenied as exc:
    out["without_opt_in"] = str(exc)
predictor = mk.load_model(f"{model}@latest", allow_pickle=True, as_predictor=True)
out["frame"] = predictor.predict(frame[["age", "amount"]])  # ordered by the signature's names
out["rows"] = predictor.predict(frame.to_numpy())  # rows, as the gateway receives them
print(json.dumps(out))
