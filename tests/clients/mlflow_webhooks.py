"""Run by the MLflow 3 client venv's Python: MLflow's webhooks API against ``mk server``, with a
receiver written as MLflow's documentation has one (it checks ``X-MLflow-Signature`` with MLflow's
own signing code). Usage: python mlflow_webhooks.py MODEL (MLFLOW_TRACKING_URI set,
MLFLOW_TRACKING_TOKEN an admin's token, WRITER_TOKEN a contributor's). Prints one JSON object."""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import mlflow
from mlflow import MlflowClient
from mlflow.entities.webhook import WebhookEvent, WebhookStatus
from mlflow.webhooks.delivery import _generate_hmac_signature
from mlflow_refusal import refused  # beside this script

model = sys.argv[1]
SECRET = "receiver-s3cret"
received: list[dict] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        delivery, stamp = self.headers["X-MLflow-Delivery-Id"], self.headers["X-MLflow-Timestamp"]
        signature = self.headers.get("X-MLflow-Signature")
        doc = json.loads(body)
        received.append({"event": f"{doc['entity']}.{doc['action']}", "data": doc["data"], "delivery": delivery,
                         "signed": signature == _generate_hmac_signature(SECRET, delivery, stamp, body)})
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass



def wait_for(count: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds  # the server delivers its outbox every second
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.1)


server = HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/mlflow-hook"
client = MlflowClient()
out: dict = {"mlflow": mlflow.__version__}

events = [WebhookEvent("registered_model", "created"), WebhookEvent("model_version", "created"),
          WebhookEvent("model_version_alias", "created"), WebhookEvent("model_version_tag", "set")]
hook = client.create_webhook(name="ci", url=url, events=events, description="tells CI", secret=SECRET)
out["created"] = {"name": hook.name, "status": str(hook.status), "events": sorted(str(e) for e in hook.events),
                  "description": hook.description}
out["got"] = client.get_webhook(hook.webhook_id).url == url
for n in range(3):
    client.create_webhook(name=f"spare-{n}", url=url + "/spare", events=[WebhookEvent("model_version", "created")],
                          status=WebhookStatus.DISABLED)
pages, token, names = 0, None, []
while True:
    found = client.list_webhooks(max_results=2, page_token=token)
    pages, names, token = pages + 1, names + [w.name for w in found], found.token
    if not token:
        break
out["listed"] = {"pages": pages, "names": names}
out["updated"] = client.update_webhook(hook.webhook_id, description="tells CI, again").description
test = client.test_webhook(hook.webhook_id, event=WebhookEvent("model_version_alias", "created"))
out["test"] = {"success": test.success, "status": test.response_status, "signed": received[-1]["signed"],
               "data": received[-1]["data"]}
received.clear()

writer = MlflowClient()
os.environ["MLFLOW_TRACKING_TOKEN"], admin = os.environ["WRITER_TOKEN"], os.environ["MLFLOW_TRACKING_TOKEN"]
out["writer_create"] = refused(lambda: writer.create_webhook(name="mine", url=url, events=events))
writer.create_registered_model(model, tags={"team": "risk"}, description="catches fraud")
with mlflow.start_run() as run:
    mlflow.log_text("weights", "model/weights.txt")
version = writer.create_model_version(model, f"runs:/{run.info.run_id}/model", run.info.run_id, tags={"stage": "dev"})
writer.set_registered_model_alias(model, "champion", version.version)
writer.set_model_version_tag(model, version.version, "reviewed", "yes")
writer.delete_model_version_tag(model, version.version, "reviewed")  # not subscribed: not sent
wait_for(4)
time.sleep(2)  # two more dispatch rounds: nothing else may come
out["delivered"] = [{k: r[k] for k in ("event", "data", "signed")} for r in received]
out["distinct_deliveries"] = len({r["delivery"] for r in received})
out["run_id"] = run.info.run_id

os.environ["MLFLOW_TRACKING_TOKEN"] = admin
client.delete_webhook(hook.webhook_id)
out["after_delete"] = refused(lambda: client.get_webhook(hook.webhook_id))
out["bad_event"] = refused(lambda: client.create_webhook(name="p", url=url, events=[WebhookEvent("prompt", "created")]))
print(json.dumps(out))
