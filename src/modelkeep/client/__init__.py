"""The remote transport: the service interface over HTTP to ``mk server``.

:func:`~modelkeep.client.connect.connect` chooses it when ``MODELKEEP_URL`` is set (with
``MODELKEEP_TOKEN`` or the token ``mk login`` stored); errors come back as the same exception
classes the local services raise, so code works unchanged against either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelkeep.errors import ModelKeepError, error_from_body

if TYPE_CHECKING:
    from modelkeep.client.registry import RemoteRegistry


def __getattr__(name: str) -> Any:
    """``RemoteRegistry`` on first use: a local repository's commands import ``modelkeep.client.connect``
    (and so this package) but never the HTTP client (httpx: 0.2 s of every such command)."""
    if name == "RemoteRegistry":
        from modelkeep.client.registry import RemoteRegistry

        return RemoteRegistry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def error_from_response(status: int, body: Any) -> ModelKeepError:
    """The error a server answered with, as the class it raised (see ``errors.error_from_body``)."""
    return error_from_body(status, body)


__all__ = ["RemoteRegistry", "error_from_response"]
