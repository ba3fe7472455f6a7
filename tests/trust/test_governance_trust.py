"""Gates decide at approval time, policies are checked when set, a blocked promotion is an
error for scripts (issue 10)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelkeep.errors import InvalidInput
from modelkeep.services.workspace import Workspace
from tests.test_governance import team  # noqa: F401  (fixture)


def test_gates_added_after_filing_are_checked_at_approval(team: Callable[[str], Workspace],  # noqa: F811
                                                          workspace: Workspace) -> None:
    carl, admin, ada = team("carl"), team("admin"), team("ada")
    request = carl.promotions.request("fraud@1.0.1", "production", "auc +0.03")
    assert request["status"] == "pending"
    # after filing, the policy tightens: a metric the candidate does not reach
    admin.promotions.protect("*", "production", required_approvals=1, gates={"min_metrics": {"auc": 0.95}})
    doc = ada.promotions.review(request["id"], "approve", "looks fine")
    assert doc["status"] == "blocked"
    assert [g["gate"] for g in doc["gates"]] == ["compare_with_current.auc", "required_tags.evaluated"]  # at filing
    assert doc["gates_at_approval"] == [{"gate": "min_metrics.auc", "passed": False,
                                         "detail": "auc = 0.93 (needs >= 0.95)"}]  # at approval
    assert workspace.registry.get("fraud@production").version == "1.0.0.0.0"  # production did not move


def test_more_approvals_required_after_filing_are_needed(team: Callable[[str], Workspace],  # noqa: F811
                                                         workspace: Workspace) -> None:
    carl, admin = team("carl"), team("admin")
    request = carl.promotions.request("fraud@1.0.1", "production", "auc +0.03")
    admin.promotions.protect("*", "production", required_approvals=2,
                             gates={"compare_with_current": {"metric": "auc"}})
    assert team("ada").promotions.review(request["id"], "approve")["status"] == "pending"
    assert workspace.registry.get("fraud@production").version == "1.0.0.0.0"
    assert team("abe").promotions.review(request["id"], "approve")["status"] == "applied"


@pytest.mark.parametrize("gates, problem", [
    ({"compare_with_current": True}, "compare_with_current"),
    ({"compare_with_current": {"metric": "auc", "max_drop": "lots"}}, "max_drop"),
    ({"min_metrics": {"auc": "high"}}, "min_metrics.auc"),
    ({"min_metrics": ["auc"]}, "min_metrics"),
    ({"required_tags": "evaluated"}, "required_tags"),
    ({"nonsense": 1}, "unknown gates"),
    (["min_metrics"], "gates must be"),
])
def test_invalid_policy_is_refused_when_set(workspace: Workspace, gates: object, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        workspace.promotions.protect("fraud", "production", gates=gates)  # type: ignore[arg-type]


def test_cli_blocked_promotion_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.cli.main import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    (tmp_path / "m.bin").write_text("a")
    (tmp_path / "gates.yaml").write_text("compare_with_current: true\n")
    assert runner.invoke(app, ["model", "register", "fraud", "m.bin", "--metric", "auc=0.5"]).exit_code == 0
    refused = runner.invoke(app, ["protect", "fraud", "production", "--gates", "gates.yaml"])
    assert refused.exit_code == 1 and "compare_with_current" in str(refused.exception or refused.output)
    (tmp_path / "gates.yaml").write_text("min_metrics: {auc: 0.9}\n")
    assert runner.invoke(app, ["protect", "fraud", "production", "--gates", "gates.yaml"]).exit_code == 0
    blocked = runner.invoke(app, ["promote", "fraud@1.0.0", "--to", "production", "--justification", "try", "--json"])
    assert blocked.exit_code == 1 and '"status": "blocked"' in blocked.stdout
