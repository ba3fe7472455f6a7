"""With an S3 store, clients move artifact bytes directly through presigned URLs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelkeep.client import RemoteRegistry
from modelkeep.errors import InvalidInput, PermissionDenied
from modelkeep.services.workspace import open_workspace

MK = [sys.executable, "-m", "modelkeep.cli.main"]


def test_direct_upload_and_download_through_presigned_urls(tmp_path: Path, s3_bucket: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "MODELKEEP_USER": "operator"}
    env.pop("MODELKEEP_HOME", None)
    subprocess.run([*MK, "init"], cwd=tmp_path, env=env, check=True, capture_output=True)
    subprocess.run([*MK, "config", "set", "store.url", s3_bucket], cwd=tmp_path, env=env, check=True, capture_output=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([*MK, "server", "--port", str(port), "--bootstrap-token-file", "tok"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        admin = RemoteRegistry(url, (tmp_path / "tok").read_text().strip())
        payload = os.urandom(2_500_000) + b"end"
        source = tmp_path / "weights.bin"
        source.write_bytes(payload)
        version = admin.register_direct("direct", source, params={"k": 1})
        assert version.artifact_kind == "file" and version.artifact_size == len(payload)
        out = admin.download_direct(version.ref, tmp_path / "out.bin")
        assert out.read_bytes() == payload
        # The same bytes also stream through the server, from the same store.
        assert admin.download(version.ref, tmp_path / "streamed.bin").read_bytes() == payload
        monkeypatch.setenv("MODELKEEP_USER", "admin")
        local = open_workspace(tmp_path)
        local.access.create_user("vera", role="viewer")
        viewer = RemoteRegistry(url, local.access.create_token("vera")["token"])
        assert viewer.download_direct(version.ref, tmp_path / "viewer.bin").read_bytes() == payload
        with pytest.raises(PermissionDenied):
            viewer.register_direct("direct", source)
        with pytest.raises(InvalidInput, match="body.keys.0: String should match pattern"):
            admin._call("POST", "/api/v1/store/presign", json={"keys": ["../etc/passwd"], "method": "GET"})
        local.close()
        admin.close()
        viewer.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
