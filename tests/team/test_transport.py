"""The client retries what is safe to retry and says when it gives up (issue 12)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelkeep.client.http import Transport
from modelkeep.errors import NotFound, Unavailable


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (with Retry-After: 0) to the first ``fail`` requests of each path, then 200."""

    seen: dict[str, int] = {}
    fail = 2

    def _answer(self) -> None:
        count = self.seen.get(self.path, 0) + 1
        self.seen[self.path] = count
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/missing"):
            status, body = 404, {"error": "NotFound", "message": "no such thing"}
        elif count <= self.fail:
            status, body = 503, {"error": "Unavailable", "message": "busy"}
        else:
            status, body = 200, {"ok": True, "attempt": count}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    _Flaky.seen = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_idempotent_requests_are_retried_with_backoff(flaky: str) -> None:
    waits: list[float] = []
    client = Transport(flaky, "t", sleep=waits.append)
    assert client.call("GET", "/thing") == {"ok": True, "attempt": 3}
    assert client.call("PUT", "/other", json={}) == {"ok": True, "attempt": 3}
    assert len(waits) == 4 and waits[1] > waits[0]  # exponential (jitter stays within 0.5x-1.5x)
    client.close()


def test_a_post_is_not_repeated_and_errors_keep_their_class(flaky: str) -> None:
    client = Transport(flaky, "t", sleep=lambda s: None)
    with pytest.raises(Unavailable, match="busy"):
        client.call("POST", "/create")
    assert _Flaky.seen["/create"] == 1
    with pytest.raises(NotFound, match="no such thing"):
        client.call("GET", "/missing")
    assert _Flaky.seen["/missing"] == 1  # a 404 is an answer, not a failure to retry
    client.close()


def test_giving_up_says_so(flaky: str) -> None:
    client = Transport(flaky, "t", attempts=2, sleep=lambda s: None)
    with pytest.raises(Unavailable, match="gave up .* after 2 attempts \\(HTTP 503\\)"):
        client.call("GET", "/always")
    client.close()
    dead = Transport("http://127.0.0.1:9", "t", attempts=3, sleep=lambda s: None)
    with pytest.raises(Unavailable, match="after 3 attempts .*ConnectError"):
        dead.call("GET", "/x")
    dead.close()


def test_a_plain_http_client_loads_no_certificate_authority_and_refuses_any_tls() -> None:
    import ssl

    from modelkeep.client.http import trusting_no_one

    context = trusting_no_one()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # nothing to trust: a TLS handshake through it fails


def test_remote_read_commands_import_neither_the_orm_nor_request_models_nor_httpx_command_line() -> None:
    """A command talking to a server costs its imports: SQLAlchemy and the tables (0.5 s), the
    interface's request models (0.15 s) and httpx's own command line (60-110 ms) are not needed to read."""
    import subprocess
    import sys

    script = """
import sys
import modelkeep.client.connect, modelkeep.client.registry, modelkeep.client.runs, modelkeep.client.datasets
import httpx
heavy = ("sqlalchemy", "modelkeep.meta.tables", "modelkeep.services.interface", "click", "pygments")
print([m for m in heavy if m in sys.modules], hasattr(sys.modules["httpx._main"], "main"), callable(httpx.main))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] False True"  # httpx took its own fallback ``main`` for a missing command line
    # a read command imports its fast way (sqlite3 on a personal registry) before it knows a server
    # is configured: that import stays light (the lineage walk's dataset references cost 40-75 ms)
    script = """
import sys
import modelkeep.client.connect
import modelkeep.services.models.fast_reads, modelkeep.services.runs.fast_reads, modelkeep.services.data.fast_reads
heavy = ("sqlalchemy", "pydantic", "modelkeep.services.data.dataset_files", "modelkeep.store.ingest")
print([m for m in heavy if m in sys.modules])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
