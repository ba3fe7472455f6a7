"""Run by the mlflow client venv's Python against one server (MLFLOW_TRACKING_URI, _TOKEN):
the registry workload of ../shared/bench/mlflow_bench.py through MlflowClient. Prints one JSON
object: per operation, each call's latency in seconds."""

import json
import sys
import time

import mlflow
from mlflow import MlflowClient

versions, reads = int(sys.argv[1]), int(sys.argv[2])
client = MlflowClient()
mlflow.set_experiment("bench")
with mlflow.start_run() as run:
    mlflow.log_text("tiny model\n", "model/weights.txt")
name = f"bench-{int(time.time() * 1000)}"
client.create_registered_model(name)
source = f"runs:/{run.info.run_id}/model"
out: dict = {"create_model_version": [], "set_alias": [], "get_by_alias": [], "search_versions": [], "get_version": []}


def timed(key, call):
    start = time.perf_counter()
    call()
    out[key].append(time.perf_counter() - start)


for _ in range(versions):
    timed("create_model_version", lambda: client.create_model_version(name, source, run_id=run.info.run_id))
for i in range(reads):
    version = str(1 + i % versions)
    timed("set_alias", lambda v=version: client.set_registered_model_alias(name, "champion", v))
    timed("get_by_alias", lambda: client.get_model_version_by_alias(name, "champion"))
    timed("get_version", lambda v=version: client.get_model_version(name, v))
for _ in range(max(1, reads // 10)):
    timed("search_versions", lambda: client.search_model_versions(f"name='{name}'", max_results=versions))
print(json.dumps(out))
