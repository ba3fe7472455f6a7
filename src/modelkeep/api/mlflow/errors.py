"""modelkeep's errors in MLflow's shape: ``{"error_code": ..., "message": ...}`` with the status
MLflow's client expects, so its own exceptions (``RestException``, ``MlflowException``) work."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from modelkeep.errors import (
    Conflict,
    InvalidInput,
    ModelKeepError,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    Unauthenticated,
)

ROOT = "/api/2.0/mlflow"  # MLflow's client; its UI calls the same under /ajax-api/2.0/
ARTIFACTS = f"{ROOT}-artifacts"
PREFIXES = (ROOT, "/api/3.0/mlflow")  # /ajax-api/2.0/ arrives as /api/2.0/ (middleware.PathAlias)

# The first class an error is an instance of decides (subclasses first).
CODES: list[tuple[type[ModelKeepError], str, int]] = [
    (Unauthenticated, "UNAUTHENTICATED", 401),
    (PermissionDenied, "PERMISSION_DENIED", 403),
    (NotFound, "RESOURCE_DOES_NOT_EXIST", 404),
    (Conflict, "RESOURCE_ALREADY_EXISTS", 400),
    (InvalidInput, "INVALID_PARAMETER_VALUE", 400),
    (QuotaExceeded, "RESOURCE_EXHAUSTED", 400),  # 400, not 429: the client would retry a quota for minutes
]


def is_mlflow(path: str) -> bool:
    return path.startswith(PREFIXES)


def mlflow_error(exc: ModelKeepError) -> JSONResponse:
    code, status = next(((c, s) for kind, c, s in CODES if isinstance(exc, kind)), ("INTERNAL_ERROR", 500))
    message = str(exc) + (f" (hint: {exc.hint})" if getattr(exc, "hint", None) else "")
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def mlflow_status_error(status: int, message: str, extra: dict[str, Any] | None = None) -> JSONResponse:
    """A framework-level refusal (unknown endpoint, wrong method, malformed body) in MLflow's shape."""
    code = {404: "ENDPOINT_NOT_FOUND", 405: "ENDPOINT_NOT_FOUND", 401: "UNAUTHENTICATED"}.get(status, "INVALID_PARAMETER_VALUE")
    return JSONResponse({"error_code": code, "message": message, **(extra or {})},
                        status_code=404 if status == 405 else (400 if status == 422 else status))


class MlflowError(BaseModel):
    error_code: str
    message: str


STATUSES: tuple[tuple[int, str], ...] = (
    (400, "INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS"), (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"),
    (404, "RESOURCE_DOES_NOT_EXIST, ENDPOINT_NOT_FOUND"), (409, "not used"), (413, "INVALID_PARAMETER_VALUE: too large"),
    (422, "not used"), (500, "INTERNAL_ERROR"))


def router(prefix: str = ROOT) -> APIRouter:
    """A router for MLflow's routes under ``prefix`` (their errors are documented by ``api.error_docs``)."""
    return APIRouter(prefix=prefix, tags=["mlflow"])
