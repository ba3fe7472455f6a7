"""Run by an mlflow client venv's Python: what a team's existing MLflow code does, against
``mk server``. Usage: python mlflow_calls.py MODEL (MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN
set; VIEWER_TOKEN a read-only user's token). Prints one JSON object of what it saw."""

import json
import os
import sys

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow_refusal import refused  # beside this script
from sklearn.linear_model import LogisticRegression

model = sys.argv[1]
major = int(mlflow.__version__.split(".")[0])
out: dict = {"mlflow": mlflow.__version__}
x = np.random.default_rng(3).normal(size=(60, 3))
y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)



mlflow.set_experiment(f"exp-{model}")
with mlflow.start_run() as run:
    mlflow.log_param("C", 0.5)
    mlflow.log_metric("auc", 0.91, step=0, timestamp=1_700_000_000_123)
    mlflow.log_metric("auc", 0.93, step=1, timestamp=1_700_000_060_456)
    mlflow.set_tag("team", "risk")
    clf = LogisticRegression(C=0.5).fit(x, y)
    where = {"name": "model"} if major >= 3 else {"artifact_path": "model"}
    mlflow.sklearn.log_model(clf, registered_model_name=model, input_example=x[:2], **where)
client = MlflowClient()
run_id = run.info.run_id
out["run_id"] = run_id
seen = client.get_run(run_id)
out["run"] = {"status": seen.info.status, "params": seen.data.params, "metrics": seen.data.metrics,
              "team": seen.data.tags.get("team")}
out["history"] = [[m.step, m.value, m.timestamp] for m in client.get_metric_history(run_id, "auc")]
first = client.get_model_version(model, "1")
out["v1"] = {"status": first.status, "run_id": first.run_id, "tags": first.tags}
client.set_registered_model_alias(model, "champion", "1")
out["alias_version"] = client.get_model_version_by_alias(model, "champion").version
loaded = mlflow.pyfunc.load_model(f"models:/{model}@champion")
out["same_predictions"] = loaded.predict(x).tolist() == clf.predict(x).tolist()
out["runs_uri_version"] = mlflow.register_model(f"runs:/{run_id}/model", model).version
out["duplicate"] = refused(lambda: client.create_registered_model(model))
out["missing_alias"] = refused(lambda: client.get_model_version_by_alias(model, "nope"))
out["protected"] = refused(lambda: client.set_registered_model_alias(model, "production", "1"))
client.delete_registered_model_alias(model, "champion")
out["aliases_after_delete"] = client.get_registered_model(model).aliases
source = client.get_model_version_download_uri(model, "1")
for _ in range(248):  # 250 versions in all
    client.create_model_version(model, source, run_id=run_id)
pages, token, versions = 0, None, []
while True:
    result = client.search_model_versions(f"name='{model}'", max_results=100, page_token=token)
    versions += [int(v.version) for v in result]
    pages += 1
    token = result.token
    if not token:
        break
out["search"] = {"pages": pages, "versions": sorted(versions)}
out["models"] = [m.name for m in client.search_registered_models(filter_string=f"name LIKE '{model[:3]}%'")]
client.set_model_version_tag(model, "2", "reviewed", "yes")
client.update_model_version(model, "2", description="second")
second = client.get_model_version(model, "2")
out["v2"] = {"tags": second.tags, "description": second.description}
# A large artifact through the server in parts (MLflow's proxied multipart upload), thresholds lowered.
os.environ.update({"MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true", "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE":
                   str(1 << 20), "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(256 << 10)})
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository  # noqa: E402

in_parts = []
one_piece = HttpArtifactRepository._try_multipart_upload


def counted(self, *args, **kwargs):
    done = one_piece(self, *args, **kwargs)  # raises when the server cannot take parts (then MLflow sends it whole)
    in_parts.append(True)
    return done


HttpArtifactRepository._try_multipart_upload = counted
weights = os.urandom(1_300_000)
with open("weights.bin", "wb") as f:
    f.write(weights)
with mlflow.start_run() as big_run:
    mlflow.log_artifact("weights.bin", "weights")
back = mlflow.artifacts.download_artifacts(run_id=big_run.info.run_id, artifact_path="weights/weights.bin")
with open(back, "rb") as f:
    out["multipart"] = {"in_parts": len(in_parts), "same": f.read() == weights}

os.environ["MLFLOW_TRACKING_TOKEN"] = os.environ["VIEWER_TOKEN"]
out["viewer_write"] = refused(lambda: client.create_registered_model(f"{model}-by-viewer"))
out["viewer_read"] = client.get_registered_model(model).name
print(json.dumps(out))
