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


def test_remote_read_commands_import_neither_the_orm_nor_request_models_nor_httpx() -> None:
    """A command talking to a server costs its imports: SQLAlchemy and the tables (0.5 s), the
    interface's request models (0.15 s) and httpx (70-90 ms with httpcore) are not needed to read;
    where httpx is needed (an upload, TLS), its own command line (60-110 ms) is not."""
    import subprocess
    import sys

    script = """
import sys
import modelkeep.client.connect, modelkeep.client.registry, modelkeep.client.runs, modelkeep.client.datasets
heavy = ("sqlalchemy", "modelkeep.meta.tables", "modelkeep.services.interface", "httpx", "httpcore")
print([m for m in heavy if m in sys.modules])
from modelkeep.client.http import _httpx
httpx = _httpx()
print([m for m in ("click", "pygments") if m in sys.modules], hasattr(sys.modules["httpx._main"], "main"),
      callable(httpx.main))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]\n[] False True"  # httpx took its own fallback ``main`` for a missing command line
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


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy in the environment: JSON calls take the plain connection."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


class _KeptThenDropped(BaseHTTPRequestHandler):
    """HTTP/1.1, but drops each connection after its first answer without saying so (as a server's
    idle timeout does); records each request's method, path, body and client port."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, bytes, int]] = []
    dropped = threading.Event()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.command, self.path, body, self.client_address[1]))
        data = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


class _Dropping(ThreadingHTTPServer):
    def shutdown_request(self, request: object) -> None:
        super().shutdown_request(request)  # type: ignore[arg-type]
        _KeptThenDropped.dropped.set()  # the connection is closed now


def test_a_json_call_without_httpx_reuses_nothing_stale_and_encodes_as_httpx_does(no_proxy: None) -> None:
    import httpx

    from modelkeep.client.http import query

    _KeptThenDropped.seen = []
    _KeptThenDropped.dropped.clear()
    httpd = _Dropping(("127.0.0.1", 0), _KeptThenDropped)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    client = Transport(f"http://127.0.0.1:{httpd.server_address[1]}/mk/", "t", attempts=1)
    try:
        params = {"outputs": False, "tag": ["a=1", "b c"], "none": None, "n": 3}
        assert client.call("GET", "/api/v1/runs", params=params) == {"ok": True}
        assert _KeptThenDropped.dropped.wait(10)
        _KeptThenDropped.dropped.clear()
        assert client.call("GET", "/api/v1/models/a b/é") == {"ok": True}  # a path is %-encoded as httpx does
        assert _KeptThenDropped.dropped.wait(10)
        # the server dropped the kept connection: a POST (never retried) goes on a fresh one
        assert client.call("POST", "/api/v1/runs", json={"name": "é", "n": [1.5]}) == {"ok": True}
    finally:
        client.close()
        httpd.shutdown()
        httpd.server_close()
    (_, path, _, first), (_, encoded, _, _), (method, posted, body, second) = _KeptThenDropped.seen
    assert path == "/mk/api/v1/runs?" + str(httpx.QueryParams(params)) == "/mk/api/v1/runs?" + query(params)
    assert encoded == "/mk/api/v1/models/a%20b/%C3%A9"
    assert (method, posted, first != second) == ("POST", "/mk/api/v1/runs", True)
    assert body == httpx.Request("POST", "http://x", json={"name": "é", "n": [1.5]}).read()
    assert "httpx" not in repr(client.__dict__.get("_http"))  # no httpx client was made for JSON calls


class _Echo(BaseHTTPRequestHandler):
    """HTTP/1.1 kept alive: answers each request with its own path (in one write)."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1

    def do_GET(self) -> None:
        data = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_threads_sharing_a_transport_each_get_their_own_answer(no_proxy: None) -> None:
    from concurrent.futures import ThreadPoolExecutor

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    client = Transport(f"http://127.0.0.1:{httpd.server_address[1]}", "t", attempts=1)
    try:
        def ask(i: int) -> bool:
            return client.call("GET", f"/thing/{i}", params={"n": i}) == {"path": f"/thing/{i}?n={i}"}

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(ask, range(200)))
        assert client.plain is not None and 1 <= len(client.plain.idle) <= client.plain.KEEP  # connections kept for reuse
    finally:
        client.close()
        httpd.shutdown()
        httpd.server_close()


def test_a_proxy_in_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """http.client knows nothing of HTTP_PROXY: where one is set, httpx (which honours it and
    NO_PROXY) takes the JSON calls too, and they reach the proxy."""
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = Transport("http://modelkeep.invalid:8080", "t", attempts=1)
    try:
        assert client.plain is None
        # a proxy is sent the whole URL as the request's target
        assert client.call("GET", "/api/v1/whoami") == {"path": "http://modelkeep.invalid:8080/api/v1/whoami"}
    finally:
        client.close()
        proxy.shutdown()
        proxy.server_close()
