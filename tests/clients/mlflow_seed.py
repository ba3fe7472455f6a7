"""Run by the mlflow client venv's Python: fills a real MLflow server with what a team has —
3 models, 20 versions, runs with params and metric histories (two points at one step), aliases and files — and prints,
per model and version, the SHA-256 of each file as MLflow stores it."""

import hashlib
import json

import mlflow
from mlflow import MlflowClient

client = MlflowClient()
expected: dict = {}
for m, count in enumerate((7, 7, 6)):  # issue 13: at least 3 models and 20 versions
    name = f"seed-{m}"
    mlflow.set_experiment(f"team-{m}")
    client.create_registered_model(name)
    for i in range(count):
        with mlflow.start_run(run_name=f"train-{m}-{i}") as run:
            mlflow.log_param("depth", i + 2)
            for step in range(3):
                mlflow.log_metric("loss", round(1.0 / (i + step + 1), 6), step=step, timestamp=1_700_000_000_000 + 1000 * step)
            mlflow.log_metric("loss", 0.2, step=2, timestamp=1_700_000_002_500)  # a second point at step 2, later
            mlflow.set_tag("team", f"t{m}")
            weights = f"weights of {name} #{i}\n" * (200 + i)
            mlflow.log_text(weights, "model/weights.txt")
            mlflow.log_text(json.dumps({"depth": i + 2}), "model/config/params.json")
        version = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id).version
        expected.setdefault(name, {})[str(version)] = {
            "weights.txt": hashlib.sha256(weights.encode()).hexdigest(),
            "config/params.json": hashlib.sha256(json.dumps({"depth": i + 2}).encode()).hexdigest(),
        }
    client.set_registered_model_alias(name, "champion", "2")
print(json.dumps(expected))
