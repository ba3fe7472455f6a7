"""``mk server``: the REST API over this repository's database and store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelkeep.cli.output import err_console


def server(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8470,
    token_file: Annotated[
        Path | None, typer.Option("--bootstrap-token-file", help="Write the first admin token here instead of printing it.")
    ] = None,
) -> None:
    """Serve the registry over HTTP (FastAPI + uvicorn). The first start creates an admin user
    and prints its token once."""
    import uvicorn

    from modelkeep.api.app import bootstrap, create_app
    from modelkeep.services.workspace import open_workspace

    workspace = open_workspace()
    token = bootstrap(workspace)
    if token:
        if token_file:
            token_file.write_text(token + "\n")
            token_file.chmod(0o600)
            err_console().print(f"bootstrap admin token written to {token_file}", markup=False)
        else:
            err_console().print(f"bootstrap admin token (shown once): {token}", markup=False)
    uvicorn.run(create_app(workspace), host=host, port=port, log_level="warning")
