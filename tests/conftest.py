"""Shared fixtures: real SQLite repositories and a real private PostgreSQL server."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelkeep.services.workspace import Workspace, init_workspace

_counter = itertools.count()
pytest_plugins = ["tests.live_server"]  # the live `mk server` fixture

# The tests' servers are on loopback: a proxy set in the environment (which clients honour) must not
# carry their traffic, here or in the processes the tests start.
for _name in ("NO_PROXY", "no_proxy"):
    _hosts = [host for host in os.environ.get(_name, "").split(",") if host]
    os.environ[_name] = ",".join(dict.fromkeys([*_hosts, "127.0.0.1", "localhost"]))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` (half a minute and more on 2 cores) run first: ``pytest -n 2`` hands tests
    out in this order, and a long one handed out last keeps one worker busy while the other has none.
    ``make test`` hands them out two at a time (``--maxschedchunk 2``; xdist's first hand would be a
    quarter of the suite, every long test on one worker), so neighbours sharing a module's server go
    to one worker together."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    from tests.pgserver import PgServer

    server = PgServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in ("MODELKEEP_HOME", "MODELKEEP_DB", "MODELKEEP_URL", "MODELKEEP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # `mk login` credentials and loaded-model caches of the test run, never the user's
    monkeypatch.setenv("MODELKEEP_CONFIG_DIR", str(tmp_path_factory.mktemp("user-config")))  # one per test
    monkeypatch.setenv("MODELKEEP_CACHE", str(tmp_path_factory.getbasetemp() / "user-cache"))
    monkeypatch.setenv("MODELKEEP_USER", "tester")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database URL, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"mk_{os.getpid()}_{next(_counter)}")


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh SQLite repository in a temporary folder."""
    ws, _ = init_workspace(tmp_path)
    yield ws
    ws.close()


@pytest.fixture
def any_workspace(tmp_path: Path, db_url: str) -> Iterator[Workspace]:
    """A fresh repository on each database."""
    ws, _ = init_workspace(tmp_path, db_url if db_url.startswith("postgresql") else None)
    yield ws
    ws.close()


@pytest.fixture
def pg_or_tmp_second(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> str:
    """A second fresh database of the same kind as ``db_url``."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'second.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"mk_{os.getpid()}_{next(_counter)}")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-protocol server (moto in server mode) on a free loopback port."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto server did not start") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; returns its s3:// URL with the endpoint."""
    import uuid

    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"mk-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return f"s3://{name}/store?endpoint={s3_endpoint}"
