"""An error must always say what it is, and its exit code what happened: a server's internal
failure is exit 5, not an integrity failure of the store (exit 3) (issue 10)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelkeep.cli.main import run
from modelkeep.client import error_from_response
from modelkeep.errors import Conflict, IntegrityError, ModelKeepError, NotFound, ServerError


class _Failing(BaseHTTPRequestHandler):
    """A server that fails every request the way a crashed handler does."""

    def do_GET(self) -> None:
        body = json.dumps({"error": "ServerError", "message": "the server failed on this request (TypeError)"}).encode()
        if "bare" in self.path:
            body = b"Internal Server Error"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_error_kinds_are_rebuilt_from_the_body() -> None:
    assert type(error_from_response(500, {"error": "IntegrityError", "message": "object x is damaged"})) is IntegrityError
    assert type(error_from_response(500, {"message": "Internal Server Error"})) is ServerError
    assert isinstance(error_from_response(503, "Service Unavailable"), ServerError)
    assert type(error_from_response(409, {"error": "Conflict", "message": "exists"})) is Conflict
    assert type(error_from_response(404, {})) is NotFound
    assert str(error_from_response(400, {"message": ""})) == "the server answered HTTP 400"
    assert type(error_from_response(418, {"error": "Nope", "message": "teapot"})) is ModelKeepError


@pytest.mark.parametrize("ref", ["fraud@1", "bare@1"])
def test_server_500_exits_5_with_a_message(failing_server: str, ref: str, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MODELKEEP_URL", failing_server)
    monkeypatch.setattr("sys.argv", ["mk", "model", "show", ref])
    with pytest.raises(SystemExit) as exit_info:
        run()
    assert exit_info.value.code == 5
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "server failed" in err and "Traceback" not in err


def test_an_exception_without_a_message_still_says_what_it_is(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import modelkeep.cli.main as main

    def explode() -> None:
        raise Conflict("")

    monkeypatch.setattr(main, "app", explode)
    with pytest.raises(SystemExit) as exit_info:
        run()
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "error: an error with no message\n"
