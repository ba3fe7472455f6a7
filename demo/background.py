"""Starting `mk server` / `mk serve` in the background for the demo, on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

MK = [str(Path(sys.executable).with_name("mk"))]


@contextmanager
def background(args: list[str], health: str, *, cwd: Path, env: dict[str, str] | None = None,
               log: IO[bytes] | None = None, timeout: float = 30.0) -> Iterator[str]:
    """Run ``mk ARGS --port P``; yield its URL once ``health`` answers 200; stop it afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    print(f"$ mk {' '.join(args)} --port {port}   (in the background)")
    proc = subprocess.Popen([*MK, *args, "--port", str(port)], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=log if log is not None else subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}{health}", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
