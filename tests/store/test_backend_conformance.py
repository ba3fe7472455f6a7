"""One conformance suite that every backend runs (restic / dulwich style)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.store.backends import Backend, TransientError, open_backend
from modelkeep.store.backends.retry import RetryBackend

BACKENDS = ["local", "fsspec-memory", "s3", "sql-sqlite", "sql-postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made = _make(request, tmp_path)
    yield made
    inner = getattr(made, "inner", made)
    if hasattr(inner, "close"):
        inner.close()


def _make(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    kind = request.param
    if kind == "local":
        return open_backend(str(tmp_path / "store"))
    if kind == "fsspec-memory":
        return open_backend(f"memory://mk-{uuid.uuid4().hex}")
    if kind == "s3":
        return open_backend(request.getfixturevalue("s3_bucket"))
    if kind == "sql-sqlite":
        return open_backend(f"sql+sqlite:///{tmp_path / 'blobs.db'}")
    server = request.getfixturevalue("pg_server")
    return open_backend("sql+" + server.create_database(f"blobs_{uuid.uuid4().hex[:8]}"))


def test_put_get_roundtrip(backend: Backend) -> None:
    backend.put("packs/ab/one", b"hello world")
    assert backend.get("packs/ab/one") == b"hello world"
    assert backend.exists("packs/ab/one")
    assert backend.size("packs/ab/one") == 11
    assert backend.get_range("packs/ab/one", 6, 5) == b"world"
    assert backend.get_range("packs/ab/one", 6, 100) == b"world"  # shorter only at the end


def test_put_replaces_and_binary_safe(backend: Backend) -> None:
    data = bytes(range(256)) * 1000
    backend.put("config", b"old")
    backend.put("config", data)
    assert backend.get("config") == data


def test_missing_keys(backend: Backend) -> None:
    assert not backend.exists("index/nothing")
    with pytest.raises(NotFound):
        backend.get("index/nothing")
    with pytest.raises(NotFound):
        backend.size("index/nothing")
    backend.delete("index/nothing")  # idempotent


def test_list_and_delete(backend: Backend) -> None:
    for key in ("index/a", "index/b", "packs/00/c", "config"):
        backend.put(key, key.encode())
    assert sorted(backend.list("index/")) == ["index/a", "index/b"]
    assert sorted(backend.list()) == ["config", "index/a", "index/b", "packs/00/c"]
    backend.delete("index/a")
    assert sorted(backend.list("index/")) == ["index/b"]
    assert not backend.exists("index/a")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/../b", "", "sp ace", ".hidden"])
def test_keys_cannot_escape(backend: Backend, key: str) -> None:
    with pytest.raises(InvalidInput, match="invalid storage key"):
        backend.put(key, b"x")


def test_retry_wrapper_retries_transient_errors() -> None:
    class Flaky:
        url = "flaky://"

        def __init__(self) -> None:
            self.calls = 0

        def get(self, key: str) -> bytes:
            self.calls += 1
            if self.calls < 3:
                raise TransientError("timeout")
            return b"ok"

    flaky = Flaky()
    wrapped = RetryBackend(flaky, base_delay=0.001)  # type: ignore[arg-type]
    assert wrapped.get("k") == b"ok"
    assert flaky.calls == 3 and wrapped.retried == 2
    always = Flaky()
    always.calls = -100
    with pytest.raises(TransientError):
        RetryBackend(always, attempts=3, base_delay=0.001).get("k")  # type: ignore[arg-type]


def test_unreachable_and_misconfigured_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # credentials of their own: passed before only when another test had set AWS_* (order-dependent)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unreachable")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unreachable")
    with pytest.raises(InvalidInput, match="unsupported store URL"):
        open_backend("nosuchproto://x")
    with pytest.raises(InvalidInput, match="S3 URL"):
        open_backend("s3://")
    dead = open_backend("s3://bucket/x?endpoint=http://127.0.0.1:9", retry=False)
    with pytest.raises(TransientError, match="cannot reach"):
        dead.get("config")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInput, match="not a folder"):
        open_backend(str(tmp_path / "file"))
