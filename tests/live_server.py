"""A real ``mk server`` on loopback with users of every role (module-scoped fixture ``server``):
``{"url": ..., "admin": TOKEN, "vera": viewer, "carl": contributor, "ada": approver, "dep": deployer}``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from modelkeep.services.workspace import open_workspace

MK = [sys.executable, "-m", "modelkeep.cli.main"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("server")
    env = {**os.environ, "MODELKEEP_USER": "operator"}
    for name in ("MODELKEEP_HOME", "MODELKEEP_URL", "MODELKEEP_TOKEN"):
        env.pop(name, None)
    subprocess.run([*MK, "init"], cwd=root, env=env, check=True, capture_output=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (root / "server.log").open("wb")  # a file, not a pipe: nobody reads a pipe, and a full one blocks the server
    proc = subprocess.Popen([*MK, "server", "--port", str(port), "--bootstrap-token-file", "admin.token", "--grace", "5"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            log.close()
            raise RuntimeError(f"server did not start: {(root / 'server.log').read_text()[-3000:]}")
        time.sleep(0.2)
    tokens = {"admin": (root / "admin.token").read_text().strip()}
    old = os.environ.get("MODELKEEP_USER")
    os.environ["MODELKEEP_USER"] = "admin"
    admin = open_workspace(root)
    for user, role in (("vera", "viewer"), ("carl", "contributor"), ("ada", "approver"), ("dep", "deployer")):
        admin.access.create_user(user, role=role)
        tokens[user] = admin.access.create_token(user)["token"]
    admin.close()
    if old is not None:
        os.environ["MODELKEEP_USER"] = old
    yield {"url": url, **tokens}
    proc.terminate()
    proc.wait(timeout=20)
    log.close()
