"""A protected alias cannot be side-stepped by changing case; an empty alias is bad input (issue 10)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from modelkeep.errors import InvalidInput, PermissionDenied
from modelkeep.services.workspace import Workspace
from tests.test_governance import team  # noqa: F401  (fixture)


@pytest.mark.parametrize("alias", ["PRODUCTION", "Production", "pRoDuCtIoN"])
def test_case_variants_of_a_protected_alias_are_the_protected_alias(team: Callable[[str], Workspace],  # noqa: F811
                                                                    workspace: Workspace, alias: str) -> None:
    carl = team("carl")
    with pytest.raises(PermissionDenied, match="protected"):
        carl.registry.set_alias("fraud@1.0.1", alias)
    assert workspace.registry.get(f"fraud@{alias}").version == "1.0.0.0.0"  # the real production
    token = team("admin").access.create_token("carl")["token"]
    client = TestClient(create_app(workspace))
    answer = client.put(f"/api/v1/models/fraud/aliases/{alias}", json={"version": "1.0.1"},
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert workspace.registry.get("fraud@production").version == "1.0.0.0.0"


def test_aliases_are_case_folded(workspace: Workspace) -> None:
    workspace.registry.register("m", params={"a": 1})
    assert workspace.registry.set_alias("m@latest", "Staging").aliases == ["staging"]
    assert workspace.registry.get("m@STAGING").version == workspace.registry.get("m@staging").version
    with pytest.raises(InvalidInput, match="reserved"):
        workspace.registry.set_alias("m@latest", "Latest")


def test_an_empty_alias_is_bad_input(workspace: Workspace) -> None:
    workspace.registry.register("m", params={"a": 1})
    with pytest.raises(InvalidInput, match="ends with '@'"):
        workspace.registry.get("m@")


def create_app(workspace: Workspace):  # type: ignore[no-untyped-def]
    from modelkeep.api.app import create_app as make

    return make(workspace, dispatch_webhooks=False)
