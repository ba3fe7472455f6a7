"""One error table (issue 12): every public error class keeps its exit code and HTTP status across
the API, the gateway and the client, which rebuilds the same class from the body."""

from __future__ import annotations

import json
import sys

import pytest
from fastapi.testclient import TestClient

from modelkeep.errors import KINDS, NotFound, error_body, error_from_body
from modelkeep.services.workspace import Workspace

EXPECTED = {  # class: (exit code, HTTP status), as shared/CLI.md and DESIGN.md promise
    "ModelKeepError": (1, 400), "NotFound": (1, 404), "Conflict": (1, 409), "InvalidInput": (1, 422),
    "PermissionDenied": (4, 403), "Unauthenticated": (4, 401), "IntegrityError": (3, 500), "ServerError": (5, 500),
    "Unavailable": (5, 503), "QuotaExceeded": (1, 413),
}


def test_the_table_is_what_the_contract_says() -> None:
    assert {name: (kind.exit_code, kind.http_status) for name, kind in KINDS.items()} == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_server_error_comes_back_as_the_same_class(name: str) -> None:
    kind = KINDS[name]
    rebuilt = error_from_body(kind.http_status, error_body(kind("it went wrong", hint="do this")))
    assert type(rebuilt) is kind and str(rebuilt) == "it went wrong" and rebuilt.hint == "do this"


class _Private(NotFound):  # a subclass the client does not know
    pass


def test_a_private_subclass_travels_as_its_public_parent() -> None:
    body = error_body(_Private("gone"))
    assert body["error"] == "NotFound" and type(error_from_body(404, body)).__name__ == "NotFound"


def test_api_and_gateway_answer_with_the_class_status(workspace: Workspace) -> None:
    from modelkeep.api.app import create_app
    from modelkeep.gateway.app import _error

    app = create_app(workspace, dispatch_webhooks=False)

    @app.get("/boom/{name}")
    def boom(name: str) -> None:  # a route added to the real app: its exception handlers apply
        raise KINDS[name]("no")

    client = TestClient(app)
    for name, kind in KINDS.items():
        answer = _error(kind("no"))
        assert answer.status_code == kind.http_status
        assert type(error_from_body(answer.status_code, json.loads(bytes(answer.body)))) is kind
        response = client.get(f"/boom/{name}")
        assert response.status_code == kind.http_status and response.json()["error"] == name
        assert type(error_from_body(response.status_code, response.json())) is kind


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_exit_code_comes_from_the_class(name: str, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from modelkeep.cli import main

    kind = KINDS[name]

    def fail() -> None:
        raise kind("broken thing")

    monkeypatch.setattr(main, "app", fail)
    monkeypatch.setattr(sys, "argv", ["mk"])
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    assert exit_info.value.code == kind.exit_code
    assert capsys.readouterr().err.startswith("error: broken thing")


def test_the_openapi_document_declares_each_operations_errors_in_its_shape(workspace: Workspace) -> None:
    """Error answers are written into the document once (api/error_docs.py), not built per route at start-up."""
    from modelkeep.api.app import create_app

    app = create_app(workspace, dispatch_webhooks=False)
    doc = TestClient(app).get("/openapi.json").json()
    mine = doc["paths"]["/api/v1/models"]["get"]["responses"]
    theirs = doc["paths"]["/api/2.0/mlflow/model-versions/create"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "422", "500"):
        assert mine[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
        assert theirs[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/MlflowError"}
    assert mine["200"]["description"] == "Successful Response"
    assert doc["components"]["schemas"]["ErrorBody"]["required"] == ["error", "message"]
    assert set(doc["components"]["schemas"]["MlflowError"]["properties"]) == {"error_code", "message"}
    assert app.openapi() is app.openapi()  # built once
