"""The exception tree of modelkeep.

::

    ModelKeepError
    ├── NotFound            (also a LookupError)     a name, version, alias or object that does not exist
    ├── Conflict                                     the request clashes with what exists (duplicate, pinned, held)
    ├── InvalidInput        (also a ValueError)      malformed input; the message says what is valid
    ├── PermissionDenied    (also a PermissionError) the caller may not do this
    │   └── Unauthenticated                          no valid credentials were presented
    ├── IntegrityError                               stored bytes or rows are not what they claim to be
    └── ServerError                                  the server failed on a valid request (its bug, not yours)

Interfaces map these to exit codes (``cli/``) and HTTP statuses (``api/``) in one place each;
library code raises them and translates third-party exceptions at its boundary with
``raise ... from exc``.
"""

from __future__ import annotations


class ModelKeepError(Exception):
    """Root of every error modelkeep raises on purpose.

    Attributes:
        hint: an optional second line telling the user what to do next.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotFound(ModelKeepError, LookupError):
    """A model, version, alias, dataset or object does not exist."""


class Conflict(ModelKeepError):
    """The request clashes with existing state (already exists, pinned by a composite, ...)."""


class InvalidInput(ModelKeepError, ValueError):
    """Input is malformed; the message names the input and the valid form."""


class PermissionDenied(ModelKeepError, PermissionError):
    """The caller lacks the permission for this operation (``actor`` and ``permission`` where known,
    for the audit entry of the refusal)."""

    actor: str | None = None
    permission: str | None = None


class Unauthenticated(PermissionDenied):
    """No token, or a token that is unknown, expired or revoked."""


class IntegrityError(ModelKeepError):
    """Stored content does not match its digest, or the store is damaged."""


class ServerError(ModelKeepError):
    """The modelkeep server answered with an internal error; the request itself may be fine."""


__all__ = [
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "ModelKeepError",
    "NotFound",
    "PermissionDenied",
    "ServerError",
    "Unauthenticated",
]
