"""One HTTP connection to ``mk server``: the token, retries, and errors rebuilt as our classes.

Idempotent requests (GET, HEAD, PUT, DELETE) are retried on connection failures and on 429, 502,
503 and 504, with exponential backoff and jitter (``Retry-After`` is honoured); a POST is retried
only when the connection failed before the request was sent. When the client gives up it says
how often it tried. Error bodies become the exception class the server raised
(:func:`modelkeep.errors.error_from_body`).

A JSON call to an ``http://`` server (every read command's one request) goes through the standard
library's ``http.client`` on kept-alive connections (:class:`PlainConnection`): importing httpx
and httpcore costs a command 70-90 ms, more than the request. Uploads, downloads, TLS, a proxy
set in the environment and an injected client take httpx, imported when first needed.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import select
import socket
import ssl
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from modelkeep.errors import ModelKeepError, Unavailable, error_from_body

if TYPE_CHECKING:
    import httpx


def _without_httpx_command_line() -> None:
    """httpx imports its own command line (click, pygments, rich's syntax) whenever those happen to be
    installed, as uvicorn and rich install them: 60-110 ms of every command that talks to a server.
    A stand-in ``httpx._main`` without ``main`` makes httpx take its own fallback for a missing
    command line. An httpx that does not take it imports again, as it is."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    sys.modules["httpx._main"] = types.ModuleType("httpx._main")
    try:
        import httpx  # noqa: F401
    except ImportError:
        for name in [name for name in sys.modules if name == "httpx" or name.startswith("httpx.")]:
            del sys.modules[name]


def _httpx() -> types.ModuleType:
    _without_httpx_command_line()
    import httpx

    return httpx


PATH_SAFE = "!$&'()*+,;=:@/%-._~"  # what a path may hold as it is (RFC 3986); the rest is %-encoded, as httpx does
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUS = frozenset({429, 502, 503, 504})


def trusting_no_one() -> ssl.SSLContext:
    """A TLS context that verifies certificates and host names but trusts no authority: any TLS
    through it is refused, never accepted unverified."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname; no CA loaded


def _client(url: str, headers: dict[str, str], timeout: float) -> httpx.Client:
    """The client for one server. A server named by ``http://`` never takes TLS, so its client does
    not load the certificate authorities (30-45 ms of every command): see ``trusting_no_one``."""
    hx = _httpx()
    if not url.startswith("http://"):
        return hx.Client(base_url=url, headers=headers, timeout=timeout)  # type: ignore[no-any-return]
    # the context given as ``verify``, not in a transport of our own: with one, httpx ignores HTTP_PROXY
    return hx.Client(base_url=url, headers=headers, timeout=timeout, verify=trusting_no_one())  # type: ignore[no-any-return]


class Answer:
    """A response read whole by :class:`PlainConnection`: what the retries and error checks look at."""

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code, self.headers, self.content = status_code, headers, content

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Failed(Exception):
    """One attempt got no answer: ``unsent`` when the connection failed before the request left."""

    def __init__(self, description: str, *, unsent: bool) -> None:
        super().__init__(description)
        self.unsent = unsent


def query(params: Mapping[str, Any]) -> str:
    """Query parameters encoded as httpx encodes them: a list repeats its key, booleans are
    ``true``/``false``, None is empty."""
    def text(value: Any) -> str:
        return "true" if value is True else "false" if value is False else "" if value is None else str(value)

    return urlencode([(key, text(item)) for key, value in params.items()
                      for item in (value if isinstance(value, list | tuple) else [value])])


def _readable(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: the server closed it (or sent what nobody
    asked for). ``poll`` where there is one: ``select`` refuses descriptors past 1,023."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


class PlainConnection:
    """JSON requests to one ``http://`` server through ``http.client``, over kept-alive connections
    that threads take one at a time (the gateway authorizes from many). A connection the server
    closed while it was idle (it reads as readable) is dropped before it is used."""

    KEEP = 8  # idle connections kept; more are closed after use

    def __init__(self, url: str, headers: Mapping[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.prefix = parts.hostname or "localhost", parts.port or 80, parts.path.rstrip("/")
        self.headers, self.timeout = dict(headers), timeout
        self.idle: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()

    def _take(self, timeout: float) -> http.client.HTTPConnection:
        while True:
            with self.lock:
                conn = self.idle.pop() if self.idle else None
            if conn is None:
                break
            if conn.sock is not None and not _readable(conn.sock):
                conn.sock.settimeout(timeout)
                return conn
            conn.close()  # closed by the server (or it sent what nobody asked for)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise Failed(f"ConnectError: {exc}", unsent=True) from exc
        return conn

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            if len(self.idle) < self.KEEP:
                self.idle.append(conn)
                return
        conn.close()

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                timeout: float | None = None) -> Answer:
        target = quote(self.prefix + path, safe=PATH_SAFE) + (f"?{query(params)}" if params else "")
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        conn = self._take(self.timeout if timeout is None else timeout)
        try:
            conn.request(method, target, body=data, headers=headers)
            response = conn.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise Failed(f"{type(exc).__name__}: {exc}", unsent=False) from exc
        if response.will_close:
            conn.close()
        else:
            self._give_back(conn)
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, content)


def _proxied() -> bool:
    """A proxy is configured for plain HTTP: httpx honours it (and ``NO_PROXY``), so it takes every request."""
    return any(os.environ.get(name) for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"))


R = TypeVar("R", "httpx.Response", Answer)
PLAIN_KWARGS = frozenset({"json", "params", "timeout"})


class Transport:
    """The connection to one server every remote client shares: JSON calls, uploads and downloads,
    retried as the module says, errors raised as the server's own classes."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        attempts: int = 5,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self._http = http
        plain = http is None and self.url.startswith("http://") and not _proxied()
        self.plain = PlainConnection(self.url, self.headers, timeout) if plain else None
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sleep = sleep

    @property
    def http(self) -> httpx.Client:
        """httpx's client, made when first needed (uploads, downloads, TLS)."""
        if self._http is None:
            self._http = _client(self.url, self.headers, self.timeout)
        return self._http

    @http.setter
    def http(self, client: httpx.Client) -> None:
        """Every request through ``client`` from now on (a test's in-process app, say)."""
        if self.plain is not None:
            self.plain.close()
        self._http, self.plain = client, None

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self.plain is not None:
            self.plain.close()

    def _wait(self, attempt: int, response: httpx.Response | Answer | None) -> None:
        delay = self.backoff * 2**attempt * (0.5 + random.random())
        after = response.headers.get("retry-after", "") if response is not None else ""
        if after.isdigit():
            delay = max(delay, min(float(after), 30.0))
        self.sleep(delay)

    def _retried(self, method: str, path: str, attempt_once: Callable[[], R]) -> R:
        """``attempt_once`` retried as the module says; an error status raises the server's error."""
        last: str = ""
        for attempt in range(self.attempts):
            response = None
            try:
                response = attempt_once()
            except Failed as exc:
                if method not in IDEMPOTENT and not exc.unsent:
                    raise ModelKeepError(f"lost the connection to the modelkeep server at {self.url} during "
                                         f"{method} {path}: {exc}",
                                         hint="the request may or may not have been applied; check before retrying") from exc
                last = str(exc)
            else:
                if response.status_code not in RETRY_STATUS or (method not in IDEMPOTENT and response.status_code != 429):
                    return _checked(response)
                last = f"HTTP {response.status_code}"
            if attempt + 1 < self.attempts:
                self._wait(attempt, response)
        raise Unavailable(f"gave up on the modelkeep server at {self.url} after {self.attempts} attempts ({last})",
                          hint="is the server running and reachable? MODELKEEP_URL names it")

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response to a request through httpx (retried as above)."""
        method = method.upper()
        hx = _httpx()

        def once() -> httpx.Response:
            try:
                return self.http.request(method, path, **kwargs)
            except hx.TransportError as exc:
                unsent = isinstance(exc, hx.ConnectError | hx.ConnectTimeout)
                raise Failed(f"{type(exc).__name__}: {exc}", unsent=unsent) from exc

        return self._retried(method, path, once)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of the answer (None when empty)."""
        method = method.upper()
        if self.plain is not None and kwargs.keys() <= PLAIN_KWARGS:
            plain = self.plain
            response: httpx.Response | Answer = self._retried(method, path, lambda: plain.request(
                method, path, params=kwargs.get("params"), body=kwargs.get("json"), timeout=kwargs.get("timeout")))
        else:
            response = self.send(method, path, **kwargs)
        return response.json() if response.content else None

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        hx = _httpx()
        try:
            with self.http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    _checked(response)
                yield response
        except hx.TransportError as exc:
            raise Unavailable(f"cannot reach the modelkeep server at {self.url}: {exc}") from exc


def _checked(response: R) -> R:
    if response.status_code < 400:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text}
    raise error_from_body(response.status_code, body)
