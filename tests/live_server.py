"""A real ``mk server`` on loopback with users of every role (module-scoped fixture ``server``):
``{"url": ..., "admin": TOKEN, "vera": viewer, "carl": contributor, "ada": approver, "dep": deployer}``;
the server's configuration names a remote ``backup`` (a folder)."""

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    """True once ``url`` answers 200; False if the process exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("server")
    env = {**os.environ, "MODELKEEP_USER": "operator"}
    for name in ("MODELKEEP_HOME", "MODELKEEP_URL", "MODELKEEP_TOKEN"):
        env.pop(name, None)
    subprocess.run([*MK, "init"], cwd=root, env=env, check=True, capture_output=True)
    subprocess.run([*MK, "config", "set", "remote.backup", str(root / "backup")], cwd=root, env=env, check=True,
                   capture_output=True)  # a remote of the server's own, for push/pull through it
    port = free_port()
    log = (root / "server.log").open("wb")  # a file, not a pipe: nobody reads a pipe, and a full one blocks the server
    proc = subprocess.Popen([*MK, "server", "--port", str(port), "--bootstrap-token-file", "admin.token", "--grace", "5"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    if not wait_until_up(f"{url}/health", proc):
        proc.kill()
        log.close()
        raise RuntimeError(f"server did not start: {(root / 'server.log').read_text()[-3000:]}")
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
    yield {"url": url, "root": str(root), **tokens}
    proc.terminate()
    proc.wait(timeout=20)
    log.close()
