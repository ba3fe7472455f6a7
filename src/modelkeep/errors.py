"""The exception tree of modelkeep, and the one table that maps it to exit codes and HTTP.

::

    ModelKeepError                                   exit 1  HTTP 400
    ├── NotFound         (also a LookupError)        exit 1  HTTP 404  a name, version, alias or object that does not exist
    ├── Conflict                                     exit 1  HTTP 409  the request clashes with what exists
    ├── InvalidInput     (also a ValueError)         exit 1  HTTP 422  malformed input; the message says what is valid
    ├── PermissionDenied (also a PermissionError)    exit 4  HTTP 403  the caller may not do this
    │   └── Unauthenticated                          exit 4  HTTP 401  no valid credentials were presented
    ├── IntegrityError                               exit 3  HTTP 500  stored bytes or rows are not what they claim to be
    └── ServerError                                  exit 5  HTTP 500  the server failed on a valid request (its bug, not yours)
        └── Unavailable                              exit 5  HTTP 503  nothing can take the request now; try again later

Each class carries its ``exit_code`` and ``http_status``: the CLI, the API and the gateway read
them from the exception, so the three can never disagree. A server puts the class name in its
error body (:func:`error_body`); a client rebuilds the same class from it
(:func:`error_from_body`), so code behaves the same against a local repository and a server.
Library code raises these and translates third-party exceptions at its boundary with
``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ModelKeepError(Exception):
    """Root of every error modelkeep raises on purpose.

    Attributes:
        hint: an optional second line telling the user what to do next.
    """

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotFound(ModelKeepError, LookupError):
    """A model, version, alias, dataset or object does not exist."""

    http_status = 404


class Conflict(ModelKeepError):
    """The request clashes with existing state (already exists, pinned by a composite, ...)."""

    http_status = 409


class InvalidInput(ModelKeepError, ValueError):
    """Input is malformed; the message names the input and the valid form."""

    http_status = 422


class PermissionDenied(ModelKeepError, PermissionError):
    """The caller lacks the permission for this operation (``actor`` and ``permission`` where known,
    for the audit entry of the refusal)."""

    exit_code = 4
    http_status = 403
    actor: str | None = None
    permission: str | None = None


class Unauthenticated(PermissionDenied):
    """No token, or a token that is unknown, expired or revoked."""

    http_status = 401


class IntegrityError(ModelKeepError):
    """Stored content does not match its digest, or the store is damaged."""

    exit_code = 3
    http_status = 500


class ServerError(ModelKeepError):
    """The modelkeep server answered with an internal error; the request itself may be fine."""

    exit_code = 5
    http_status = 500


class Unavailable(ServerError):
    """Nothing can take the request now (no live version, the server is shutting down): retry later."""

    http_status = 503


class QuotaExceeded(ModelKeepError):
    """Storing this would take a project past its quota (``quota.default`` / ``quota.project.NAME``)."""

    http_status = 413


# The kinds a server names in its error bodies and a client rebuilds (the public tree above).
KINDS: dict[str, type[ModelKeepError]] = {
    kind.__name__: kind
    for kind in (ModelKeepError, NotFound, Conflict, InvalidInput, PermissionDenied, Unauthenticated, IntegrityError,
                 ServerError, Unavailable, QuotaExceeded)
}
_BY_STATUS: dict[int, type[ModelKeepError]] = {
    401: Unauthenticated, 403: PermissionDenied, 404: NotFound, 409: Conflict, 413: InvalidInput, 422: InvalidInput,
    503: Unavailable,
}


def public_kind(exc: ModelKeepError) -> type[ModelKeepError]:
    """The nearest class of the public tree (a private subclass travels as its public parent)."""
    return next(cls for cls in type(exc).__mro__ if cls in KINDS.values())  # type: ignore[misc]


def error_body(exc: ModelKeepError) -> dict[str, Any]:
    """What a server answers for ``exc`` (with status ``exc.http_status``)."""
    return {"error": public_kind(exc).__name__, "message": str(exc), "hint": exc.hint}


def error_from_body(status: int, body: Any) -> ModelKeepError:
    """The error a server raised, rebuilt from the kind its body names (``error``, or ``kind`` where
    a protocol keeps ``error`` for the message), else from the HTTP status. An internal failure
    of the server is a :class:`ServerError`, never an integrity failure of ours."""
    if not isinstance(body, dict):
        body = {"message": str(body)}
    kind = KINDS.get(str(body.get("kind"))) or KINDS.get(str(body.get("error")))
    message = str(body.get("message") or ("" if kind else body.get("error")) or "").strip()
    message = message or f"the server answered HTTP {status}"
    if kind is None or (kind is ModelKeepError and status >= 500):
        kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else ModelKeepError)
        if kind is ServerError:
            message = f"the server failed (HTTP {status}): {message}"
    hint = body.get("hint") or ("see the server's log" if kind is ServerError else None)
    return kind(message, hint=hint)


__all__ = [
    "KINDS",
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "ModelKeepError",
    "NotFound",
    "PermissionDenied",
    "QuotaExceeded",
    "ServerError",
    "Unauthenticated",
    "Unavailable",
    "error_body",
    "error_from_body",
    "public_kind",
]
