"""The hottest reads answered before FastAPI's routing: an alias read, a version by number, a model,
a search of a model's versions.

Through FastAPI an MLflow alias read took 5.6-6.3 ms, of which the read itself (token check,
service call, document) was about 2 ms: the rest was routing across ~200 routes, solving the
dependencies (in a thread hop of their own), validating the parameters and encoding the answer.
``FastReads`` answers a ``GET`` of one of a few exact paths itself: the same token check
(``acting``), the same service call and the same document as the route's, encoded by orjson, in
one thread hop, or in none (``inline``) where the database is SQLite: a read of a local file holds
the interpreter for all of its half a millisecond anyway, and the hop there and back cost as much
as the read. (A PostgreSQL read waits on the network, so it waits in a thread, leaving the loop
free to serve others; so does a search anywhere: 1,000 versions take the interpreter for 10-15 ms.)

It answers only a plain success. Anything else goes on to the app, which answers it as it always
has: no token, a parameter it does not know or given twice, a refusal (which the app audits), a
missing model, any error at all. Nothing a client sees differs but the time.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from modelkeep.services.workspace import Workspace


@dataclass(frozen=True)
class FastRead:
    """A read of exactly these query parameters, each given once, and any of ``optional``, each at most
    once: ``answer(ws, *values, **optional_given)``. A read that is not ``light`` (a search: its
    rows and documents take milliseconds of the interpreter) is always answered in a thread."""

    params: tuple[str, ...]
    answer: Callable[..., dict[str, Any]]
    optional: tuple[str, ...] = ()
    light: bool = True


@dataclass(frozen=True)
class FastRoute:
    """Stands for the route in the scope, as Starlette's router leaves it: metrics count by its path."""

    path: str


class FastReads:
    """Answers ``GET path`` for the paths of ``reads`` where it can; passes everything else on."""

    def __init__(self, app: ASGIApp, acting: Callable[[str | None, str], Workspace], reads: Mapping[str, FastRead],
                 inline: bool = False) -> None:
        self.app, self.acting, self.reads, self.inline = app, acting, reads, inline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        read = self.reads.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if read is not None:
            inline = self.inline and read.light
            body = self._answer(scope, read) if inline else await run_in_threadpool(self._answer, scope, read)
            if body is not None:
                scope["route"] = FastRoute(scope["path"])
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope, read: FastRead) -> bytes | None:
        """The answer's body, or None where the app should answer instead."""
        authorization = [value for name, value in scope["headers"] if name == b"authorization"]
        try:
            query = parse_qs(scope["query_string"].decode("ascii"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            return None
        given = set(query)
        if len(authorization) != 1 or not set(read.params) <= given <= {*read.params, *read.optional} or \
                any(len(v) != 1 for v in query.values()):
            return None
        client = scope.get("client")
        try:
            ws = self.acting(authorization[0].decode("latin-1"), client[0] if client else "unknown")
            optional = {p: query[p][0] for p in read.optional if p in query}
            return orjson.dumps(read.answer(ws, *(query[p][0] for p in read.params), **optional))
        except Exception:  # the app answers it, with its own error, audit and log
            return None
