"""`mk server --workers 2` (issue 12): one consistent /metrics view whichever worker answers, an
access log line per request, and a token needed for the metrics."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.live_server import MK


def _count(text: str, route: str) -> float:
    pattern = rf'modelkeep_server_requests_total\{{method="GET",route="{re.escape(route)}",status="200"\}} ([0-9.e+]+)'
    return sum(float(m) for m in re.findall(pattern, text))


def test_workers_share_one_metrics_view_and_log_each_request(tmp_path: Path) -> None:
    env = {**os.environ, "MODELKEEP_USER": "admin"}
    for name in ("MODELKEEP_URL", "MODELKEEP_TOKEN", "MODELKEEP_HOME"):
        env.pop(name, None)
    subprocess.run([*MK, "init"], cwd=tmp_path, env=env, check=True, capture_output=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([*MK, "server", "--port", str(port), "--workers", "2", "--bootstrap-token-file", "admin.token"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {(tmp_path / 'admin.token').read_text().strip()}"}
        assert httpx.get(f"{url}/metrics", timeout=5).status_code == 401  # metrics need a token too
        for _ in range(20):  # new connections: the kernel spreads them over both workers
            assert httpx.get(f"{url}/api/v1/models", headers=headers, timeout=5).status_code == 200
        seen = [_count(httpx.get(f"{url}/metrics", headers=headers, timeout=5).text, "/api/v1/models") for _ in range(6)]
        assert seen == [20.0] * 6  # every scrape, whichever worker answers, sees all 20
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    lines = (tmp_path / "server.log").read_text()
    assert lines.count('"GET /api/v1/models" 200') == 20
