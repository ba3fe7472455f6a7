"""A server that answers MLflow's client instantly with fixed documents: the floor of what any
server's latency can be *through MLflow's client* (its own request building, retries, protobuf
parsing and the HTTP round trip). Usage: python canned_mlflow_server.py PORT VERSIONS. Every call
the benchmark workload makes is answered; the answers are valid for the client, not a registry."""

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

port, versions = int(sys.argv[1]), int(sys.argv[2])
RUN_INFO = {"run_id": "r1", "run_uuid": "r1", "experiment_id": "1", "status": "RUNNING", "start_time": 1,
            "artifact_uri": "mlflow-artifacts:/1/r1/artifacts", "lifecycle_stage": "active", "user_id": "bench"}


def version(n: int) -> dict:
    return {"name": "bench", "version": str(n), "creation_timestamp": 1, "last_updated_timestamp": 1,
            "current_stage": "None", "source": "runs:/r1/model", "run_id": "r1", "status": "READY", "aliases": []}


SEARCH = json.dumps({"model_versions": [version(n) for n in range(1, versions + 1)]}).encode()
ANSWERS = {
    "/api/2.0/mlflow/experiments/get-by-name": {"experiment": {"experiment_id": "1", "name": "bench",
                                                                "artifact_location": "mlflow-artifacts:/1",
                                                                "lifecycle_stage": "active"}},
    "/api/2.0/mlflow/runs/create": {"run": {"info": RUN_INFO, "data": {}}},
    "/api/2.0/mlflow/runs/get": {"run": {"info": RUN_INFO, "data": {}}},
    "/api/2.0/mlflow/runs/update": {"run_info": RUN_INFO | {"status": "FINISHED", "end_time": 2}},
    "/api/2.0/mlflow/registered-models/create": {"registered_model": {"name": "bench", "creation_timestamp": 1}},
    "/api/2.0/mlflow/model-versions/create": {"model_version": version(1)},
    "/api/2.0/mlflow/model-versions/get": {"model_version": version(1)},
    "/api/2.0/mlflow/registered-models/alias": {"model_version": version(1)},
}


class Canned(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's session uses

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = urlsplit(self.path).path
        if path == "/api/2.0/mlflow/model-versions/search":
            body = SEARCH
        elif path.startswith("/api/2.0/mlflow-artifacts/") or (path == "/api/2.0/mlflow/registered-models/alias"
                                                                 and self.command == "POST"):
            body = b"{}"
        else:
            body = json.dumps(ANSWERS.get(path, {})).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.wfile.write(head.encode() + body)  # one write: no Nagle/delayed-ACK stall between head and body

    do_GET = do_POST = do_PUT = do_PATCH = answer

    def log_message(self, *args: object) -> None:
        return


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", port), Canned)
    print("ready", flush=True)
    server.serve_forever()
