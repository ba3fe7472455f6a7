"""``mk server``: the REST API over this repository's database and store."""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelkeep.cli.output import err_console

if TYPE_CHECKING:
    from fastapi import FastAPI


def server(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8470,
    token_file: Annotated[
        Path | None, typer.Option("--bootstrap-token-file", help="Write the first admin token here instead of printing it.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes (one registry, shared).")] = 1,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="One line per request on stderr.")]
    = True,
    grace: Annotated[float, typer.Option("--grace", min=0, help="Seconds to let in-flight requests (uploads) finish on "
                                                                "SIGTERM/Ctrl-C.")] = 30.0,
) -> None:
    """Serve the registry over HTTP (FastAPI + uvicorn). The first start creates an admin user
    and prints its token once. Stopping (SIGTERM, Ctrl-C) stops accepting connections and lets
    in-flight requests finish for up to --grace seconds."""
    # Start-up makes ~230,000 objects and frees few: the collector's passes over them while importing and
    # building the routes were 0.3 s of a 2.1 s start. One collection runs once the server listens (settle).
    gc.disable()
    import uvicorn

    from modelkeep.api.app import bootstrap
    from modelkeep.services.workspace import open_workspace

    workspace = open_workspace()
    token = bootstrap(workspace)
    workspace.close()
    if token:
        if token_file:
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            err_console().print(f"bootstrap admin token written to {token_file}", markup=False)
        else:
            err_console().print(f"bootstrap admin token (shown once): {token}", markup=False)
    os.environ["MODELKEEP_ACCESS_LOG"] = "1" if access_log else "0"  # worker processes read it too
    options = {"host": host, "port": port, "log_level": "warning", "timeout_graceful_shutdown": grace or None,
               "access_log": False}
    from modelkeep.store.leases import without_scope

    without_scope()  # requests lease for themselves; the server's life is not one write
    if workers == 1:
        if not serve(app(settle_now=False), options):  # as uvicorn.run: the port was taken, or start-up failed
            raise SystemExit(3)
        return
    # several processes: each opens the repository itself (and settles before it serves); metrics are merged
    gc.enable()  # this process only watches them
    metrics_dir = tempfile.mkdtemp(prefix="modelkeep-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run("modelkeep.cli.server:app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    finally:
        import shutil

        shutil.rmtree(metrics_dir, ignore_errors=True)


def settle() -> None:
    """What start-up made lives as long as the process: collected once, then frozen out of the
    collector's scans, so a full collection no longer walks its ~150,000 objects in the middle of a
    request (up to 180 ms); the collector is on again from here."""
    gc.collect()
    gc.freeze()
    gc.enable()


SETTLE_AFTER_S = 1.0


def serve(built: FastAPI, options: dict[str, Any]) -> bool:
    """Serve ``built`` in this process until stopped, settling (``settle``) a second after it listens
    rather than before; False when it never listened."""
    import asyncio

    import uvicorn

    class Listening(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            asyncio.get_running_loop().call_later(SETTLE_AFTER_S, settle)

    server = Listening(uvicorn.Config(built, **options))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return server.started


def app(settle_now: bool = True) -> FastAPI:
    """The API over the repository found from the working folder (uvicorn's factory for workers)."""
    import logging

    from modelkeep.api.app import create_app
    from modelkeep.services.workspace import open_workspace

    access = logging.getLogger("modelkeep.access")
    if os.environ.get("MODELKEEP_ACCESS_LOG") == "1" and not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
    built = create_app(open_workspace())
    if settle_now:  # a worker process (uvicorn's factory) settles before it serves
        settle()
    return built
