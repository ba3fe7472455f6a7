"""``mk login URL``, ``mk logout``, ``mk whoami``: which server a user works on, and as whom."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from modelkeep.cli.output import emit_json, err_console, out_console

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def login(
    url: Annotated[str, typer.Argument(help="The server, e.g. https://models.example.com")],
    token: Annotated[str | None, typer.Option("--token", help="API token (default: MODELKEEP_TOKEN, else asked for).")]
    = None,
    json_out: JsonFlag = False,
) -> None:
    """Check a token against a server and keep both in your config folder (readable by you only);
    later commands then work on that server without MODELKEEP_URL."""
    from modelkeep.client import login as credentials
    from modelkeep.client.http import Transport

    url = credentials.normalize(url)
    secret = token or os.environ.get("MODELKEEP_TOKEN") or typer.prompt("token", hide_input=True)
    transport = Transport(url, secret.strip(), attempts=2)
    try:
        me = transport.call("GET", "/api/v1/whoami")  # a wrong token fails here, before anything is saved
    finally:
        transport.close()
    path = credentials.save(url, secret.strip())
    if json_out:
        emit_json({"url": url, "user": me["name"], "credentials": str(path)})
        return
    err_console().print(f"logged in to {url} as {me['name']} (token kept in {path})", markup=False)


def logout(
    url: Annotated[str | None, typer.Argument(help="The server to forget (default: the current one).")] = None,
) -> None:
    """Forget a server's token; commands go back to the local repository (or MODELKEEP_URL)."""
    from modelkeep.client import login as credentials

    forgotten = credentials.forget(url)
    err_console().print(f"logged out of {forgotten}" if forgotten else "not logged in", markup=False)


def whoami(json_out: JsonFlag = False) -> None:
    """Who commands act as, and where: the server's user and permissions, or the local user."""
    from modelkeep.cli.remote import local_read

    doc = local_read(_local_identity)  # no workspace to open: who and where are the configuration's
    if doc is None:
        from modelkeep.cli.remote import connection

        conn = connection()
        doc = {"user": conn.user, "where": conn.where}
    if json_out:
        emit_json(doc)
        return
    out_console().print(f"{doc['user']} on {doc['where']}", markup=False)


def _local_identity() -> dict[str, str]:
    """Who local commands act as, and where: what ``LocalConnection`` says, from the configuration."""
    from modelkeep.config import local_config

    config = local_config()
    return {"user": config.user, "where": config.where}
