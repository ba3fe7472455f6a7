"""One HTTP connection to ``mk server``: the token, retries, and errors rebuilt as our classes.

Idempotent requests (GET, HEAD, PUT, DELETE) are retried on connection failures and on 429, 502,
503 and 504, with exponential backoff and jitter (``Retry-After`` is honoured); a POST is retried
only when the connection failed before the request was sent. When the client gives up it says
how often it tried. Error bodies become the exception class the server raised
(:func:`modelkeep.errors.error_from_body`).
"""

from __future__ import annotations

import random
import ssl
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


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


_without_httpx_command_line()
import httpx  # noqa: E402

from modelkeep.errors import ModelKeepError, Unavailable, error_from_body  # noqa: E402

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUS = frozenset({429, 502, 503, 504})


def trusting_no_one() -> ssl.SSLContext:
    """A TLS context that verifies certificates and host names but trusts no authority: any TLS
    through it is refused, never accepted unverified."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname; no CA loaded


def _client(url: str, headers: dict[str, str], timeout: float) -> httpx.Client:
    """The client for one server. A server named by ``http://`` never takes TLS, so its client does
    not load the certificate authorities (30-45 ms of every command): see ``trusting_no_one``."""
    if not url.startswith("http://"):
        return httpx.Client(base_url=url, headers=headers, timeout=timeout)
    return httpx.Client(base_url=url, headers=headers, timeout=timeout,
                        transport=httpx.HTTPTransport(verify=trusting_no_one()))


class Transport:
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
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = http or _client(self.url, headers, timeout)
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sleep = sleep

    def close(self) -> None:
        self.http.close()

    def _wait(self, attempt: int, response: httpx.Response | None) -> None:
        delay = self.backoff * 2**attempt * (0.5 + random.random())
        after = response.headers.get("Retry-After", "") if response is not None else ""
        if after.isdigit():
            delay = max(delay, min(float(after), 30.0))
        self.sleep(delay)

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response to a request (retried as above); an error status raises the server's error."""
        method = method.upper()
        last: str = ""
        for attempt in range(self.attempts):
            response = None
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if method not in IDEMPOTENT and not unsent:
                    raise ModelKeepError(f"lost the connection to the modelkeep server at {self.url} during "
                                         f"{method} {path}: {exc}",
                                         hint="the request may or may not have been applied; check before retrying") from exc
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in RETRY_STATUS or (method not in IDEMPOTENT and response.status_code != 429):
                    return _checked(response)
                last = f"HTTP {response.status_code}"
            if attempt + 1 < self.attempts:
                self._wait(attempt, response)
        raise Unavailable(f"gave up on the modelkeep server at {self.url} after {self.attempts} attempts ({last})",
                          hint="is the server running and reachable? MODELKEEP_URL names it")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of the answer (None when empty)."""
        response = self.send(method, path, **kwargs)
        return response.json() if response.content else None

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self.http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    _checked(response)
                yield response
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach the modelkeep server at {self.url}: {exc}") from exc


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code < 400:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text}
    raise error_from_body(response.status_code, body)
