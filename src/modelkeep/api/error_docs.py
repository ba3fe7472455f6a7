"""The error answers of the API, written into its OpenAPI document once.

Declaring them per route (``responses=``) made FastAPI build a pydantic field for every status of
every route when the app was created: 800 fields, a tenth of a second of every server start, for a
document nobody may ever ask for. The document gets them when it is first built instead: MLflow's
routes answer in MLflow's shape, all others in modelkeep's."""

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from modelkeep.api.mlflow.errors import STATUSES as MLFLOW_STATUSES
from modelkeep.api.mlflow.errors import MlflowError, is_mlflow


class ErrorBody(BaseModel):
    error: str
    message: str
    hint: str | None = None
    problems: list[dict[str, Any]] | None = None


STATUSES: tuple[tuple[int, str], ...] = (
    (400, "malformed request body"),
    (401, "missing or invalid token"),
    (403, "not permitted"),
    (404, "not found"),
    (409, "conflicts with existing state"),
    (413, "request too large"),
    (422, "invalid input"),
    (500, "stored data failed an integrity check"),
)


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare, on every operation, the error statuses and their bodies."""
    build = app.openapi  # FastAPI's: builds the document once and keeps it in app.openapi_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:  # built, and its errors written, already
            return app.openapi_schema
        schema = build()
        models = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (ErrorBody, MlflowError):  # as FastAPI writes a response model: no "default": null
            models[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
            for field in models[model.__name__].get("properties", {}).values():
                if field.get("default", 0) is None:
                    del field["default"]
        for path, operations in schema.get("paths", {}).items():
            model, statuses = (MlflowError, MLFLOW_STATUSES) if is_mlflow(path) else (ErrorBody, STATUSES)
            body = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, text in statuses:  # 422 too: validation errors answer in the same shape
                    responses[str(status)] = {"description": text, "content": body}
        models.pop("HTTPValidationError", None)
        models.pop("ValidationError", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
