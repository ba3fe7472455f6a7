"""The one place the CLI learns which transport it talks to (``client.connect``): commands ask
for the connection, chosen once per command."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

if TYPE_CHECKING:
    from modelkeep.services.interface import Connection
    from modelkeep.services.workspace import Workspace

_connection: Connection | None = None


def connection() -> Connection:
    """The registry this command works on, chosen once per command."""
    global _connection
    if _connection is None:
        from modelkeep.client.connect import connect  # here, not at import: `mk --help` stays fast

        _connection = connect()
    return _connection


def reset() -> None:
    """Forget the connection (the CLI's entry point calls this before each command)."""
    global _connection
    if _connection is not None:
        _connection.close()
    _connection = None


def server_url() -> str | None:
    from modelkeep.client.connect import server_url as configured

    return configured()


def local_read(read: Callable[P, T | None], *args: P.args, **kwargs: P.kwargs) -> T | None:
    """A read command's fast path: ``read`` (from a ``fast_reads`` module: sqlite3 on a personal
    local registry, no workspace, no SQLAlchemy) called with the arguments; None where it does not
    apply and the command takes the normal path: a server configured, no repository here (the
    normal path says so, with its hint), or ``read`` itself declining."""
    if server_url():
        return None
    from modelkeep.errors import NotFound

    try:
        return read(*args, **kwargs)
    except NotFound:
        return None


def require_local(what: str) -> None:
    """Refuse a command that does not go through the server yet while one is configured: it must
    never silently read or write a local repository instead."""
    if server_url():
        from modelkeep.errors import InvalidInput

        raise InvalidInput(f"{what} does not work through a server yet (MODELKEEP_URL or mk login names one)",
                           hint="unset MODELKEEP_URL (or mk logout) to run it on a local repository")


def local_workspace(what: str) -> Workspace:
    """The local repository, for a command that does not go through the server yet (see
    :func:`require_local`)."""
    require_local(what)
    from modelkeep.services.workspace import open_workspace

    return open_workspace()
