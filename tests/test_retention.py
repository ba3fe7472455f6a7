"""Retention (issue 16, first part): restic's rules over a line of versions, the roots nothing may
expire, upstream lineage kept with what it feeds, and the plan of a gc with the bytes it would free
— planned only, nothing deleted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelkeep.errors import InvalidInput, PermissionDenied
from modelkeep.services.connection import LocalConnection
from modelkeep.services.retention.rules import Item, RetentionRules, decide
from modelkeep.services.workspace import Workspace
from tests.deploy_helpers import CLASS, register

NOW = datetime(2026, 11, 28, 12, 0)


def _line(hours: list[float]) -> list[Item]:
    return [Item(f"model:m@{i}", NOW - timedelta(hours=h), tags={"stage": "gold"} if i == 0 else {},
                 metrics={"auc": 0.5 + i / 100}) for i, h in enumerate(hours)]


def test_rules_decide_as_restic_does() -> None:
    items = _line([0.5, 1.5, 2.5, 26, 27, 50, 24 * 8, 24 * 40])  # newest first: m@0 .. m@7
    keys = lambda kept: sorted(kept, key=lambda k: int(k.split("@")[1]))  # noqa: E731
    assert keys(decide(items, RetentionRules(keep_last=2), NOW)) == ["model:m@0", "model:m@1"]
    assert keys(decide(items, RetentionRules(keep_within="1d"), NOW)) == ["model:m@0", "model:m@1", "model:m@2"]
    # the newest of each of the last 3 days that have a version (today, yesterday, the day before)
    assert keys(decide(items, RetentionRules(keep_daily=3), NOW)) == ["model:m@0", "model:m@3", "model:m@5"]
    assert len(decide(items, RetentionRules(keep_monthly=12), NOW)) == 2  # November and October
    assert keys(decide(items, RetentionRules(keep_tags=["stage=gold"]), NOW)) == ["model:m@0"]
    top = decide(items, RetentionRules.model_validate({"keep_top": {"metric": "auc", "k": 2}}), NOW)
    assert keys(top) == ["model:m@6", "model:m@7"] and top["model:m@7"] == "keep-top 2 by auc"
    both = decide(items, RetentionRules(keep_last=1, keep_tags=["stage"]), NOW)
    assert both == {"model:m@0": "keep-last 1"}  # the first rule that keeps it names it
    with pytest.raises(ValueError, match="a number and a unit"):
        RetentionRules(keep_within="a while")
    with pytest.raises(ValueError):
        RetentionRules(keep_last=0)


@pytest.fixture
def estate(workspace: Workspace, tmp_path: Path) -> dict[str, str]:
    """Every kind of root, one version each, and one version nothing keeps."""
    refs: dict[str, str] = {}
    data = tmp_path / "train.csv"
    data.write_text("a,b\n" + "1,2\n" * 2000)
    workspace.datasets.add(data, "train")
    data.write_text("a,b\n" + "3,4\n" * 3000)
    workspace.datasets.add(data, "train")  # train@2: nothing uses it
    art = tmp_path / "weights.bin"
    for i, role in enumerate(("alias", "hold", "request", "component", "dropped", "latest")):
        art.write_bytes(bytes([i]) * 50_000 + role.encode())
        view = workspace.registry.register("fraud", art, params={"i": i}, data=["train@1"] if role == "latest" else None)
        refs[role] = view.ref
    workspace.registry.set_alias(refs["alias"], "staging")
    LocalConnection(workspace).retention.hold(refs["hold"], "case 42")
    workspace.promotions.protect("fraud", "production", required_approvals=1)
    workspace.promotions.request(refs["request"], "production", "ship it")
    refs["composite"] = workspace.registry.register("ens", components=[refs["component"]],
                                                    composite_config={"strategy": "average"}).ref
    deployed = register(workspace, [1.0, 0.5, 0.0])
    d = workspace.deployments
    d.create("clf", d.plan("single", deployed.ref, trusted=[CLASS]))
    refs["deployed"] = deployed.ref
    refs["clf-latest"] = register(workspace, [1.0, 0.4, 0.1]).ref
    retention = LocalConnection(workspace).retention
    retention.set_policy("model", "*", {"keep_last": 1})
    retention.set_policy("dataset", "*", {"keep_tags": ["never"]})
    return refs


@pytest.mark.parametrize(("rules", "says"), [
    ({}, "keep nothing but roots"),
    ({"keep_tags": ["stage=prod", "pinned"], "keep_monthly": 6, "keep_last": 3, "keep_within": "30d"},
     "keep-last 3, keep-within 30d, keep-monthly 6, keep-tag stage=prod, keep-tag pinned"),
    ({"keep_daily": 7, "keep_hourly": 24, "keep_weekly": 4, "keep_top": {"metric": "auc", "k": 2}},
     "keep-hourly 24, keep-daily 7, keep-weekly 4, keep-top 2 by auc (max)"),
])
def test_rules_say_what_they_keep_from_their_stored_form_as_validated(rules: dict[str, object], says: str) -> None:
    """``mk retention show``'s fast path words the stored rules without pydantic: as the model does."""
    from modelkeep.services.retention.rule_words import describe_rules

    validated = RetentionRules.model_validate(rules)
    assert validated.describe() == describe_rules(validated.model_dump(exclude_none=True)) == says


def test_the_plan_keeps_every_root_and_what_they_were_made_from(workspace: Workspace, estate: dict[str, str]) -> None:
    plan = LocalConnection(workspace).retention.plan()
    why = {row["ref"]: row["why"] for row in plan["keep"]}
    assert why[f"model:{estate['alias']}"] == "alias staging"
    assert why[f"model:{estate['hold']}"] == "legal hold: case 42"
    assert why[f"model:{estate['request']}"].startswith("open promotion request #")
    assert why[f"model:{estate['component']}"] == f"upstream of model:{estate['composite']}"
    assert why[f"model:{estate['deployed']}"] == "deployment revision 1 pins it"
    assert why[f"model:{estate['latest']}"] == "keep-last 1" and why[f"model:{estate['clf-latest']}"] == "keep-last 1"
    assert why["dataset:train@1"] == f"upstream of model:{estate['latest']}"
    assert {row["ref"]: row["why"] for row in plan["drop"]} == {
        f"model:{estate['dropped']}": "no rule of the model * policy keeps it",
        "dataset:train@2": "no rule of the dataset * policy keeps it"}
    sizes = plan["bytes"]
    assert sizes["dropped_versions"] > 0 and sizes["would_free"] >= sizes["dropped_versions"]
    assert sum(p["would_free"] for p in plan["packs"]) == sizes["would_free"]
    assert all(0 < p["dead"] <= 1 for p in plan["packs"])
    # nothing was changed: every version still reads
    assert workspace.registry.get(estate["dropped"]).ref == estate["dropped"]
    assert workspace.datasets.get("train@2").number == 2


def test_no_policy_keeps_everything_and_releasing_a_hold_lets_it_go(workspace: Workspace, estate: dict[str, str]) -> None:
    retention = LocalConnection(workspace).retention
    retention.release(estate["hold"])
    dropped = {row["ref"] for row in retention.plan()["drop"]}
    assert f"model:{estate['hold']}" in dropped
    retention.unset_policy("model", "*")
    assert all(row["ref"].startswith("dataset:") for row in retention.plan()["drop"])
    assert {p["scope"] for p in retention.policies()} == {"*"}


def test_cli_and_permissions(workspace: Workspace, estate: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.cli.main import app
    from modelkeep.services.retention.fast_reads import policies_and_holds

    env = {"MODELKEEP_HOME": str(workspace.config.root)}
    runner = CliRunner()
    done = runner.invoke(app, ["retention", "set", "--model", "fraud", "--keep-last", "2", "--keep-top", "i:1",
                               "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["rules"] == {"keep_last": 2, "keep_tags": [], "keep_top": {"metric": "i", "k": 1,
                                                                                               "direction": "max"}}
    shown = json.loads(runner.invoke(app, ["retention", "show", "--json"], env=env).stdout)
    assert {(p["kind"], p["scope"]) for p in shown["policies"]} == {("model", "*"), ("model", "fraud"), ("dataset", "*")}
    assert shown["holds"][0]["reason"] == "case 42"
    # on a personal registry the fast way (sqlite3, no workspace) answers, exactly as the service does
    monkeypatch.setenv("MODELKEEP_HOME", str(workspace.config.root))
    service = LocalConnection(workspace).retention
    expected = json.loads(json.dumps({"policies": service.policies(), "holds": service.holds()}))
    assert policies_and_holds() == expected and shown == expected
    planned = runner.invoke(app, ["gc", "--dry-run", "--json"], env=env)
    assert planned.exit_code == 0 and json.loads(planned.stdout)["drop"] == [
        {"ref": "dataset:train@2", "why": "no rule of the dataset * policy keeps it"}]  # keep-last 2 now keeps 'dropped'
    collected = runner.invoke(app, ["gc", "--json"], env=env)  # marks train@2 (undelete restores it for 24 h)
    assert collected.exit_code == 0, collected.output
    assert json.loads(collected.stdout)["marked"] == ["dataset:train@2"]
    bad = runner.invoke(app, ["retention", "set", "--model", "fraud", "--dataset", "train", "--keep-last", "1"], env=env)
    assert isinstance(bad.exception, InvalidInput) and "exactly one" in str(bad.exception)
    workspace.access.create_user(workspace.access.actor, role="admin")  # the registry becomes a shared one
    workspace.access.create_user("carl", role="contributor")
    assert policies_and_holds() is None  # with users, reads are checked: the normal path
    carl = LocalConnection(workspace.as_user("carl")).retention
    with pytest.raises(PermissionDenied):
        carl.set_policy("model", "*", {"keep_last": 5})
    with pytest.raises(PermissionDenied):
        carl.hold(estate["latest"], "mine")
    with pytest.raises(PermissionDenied):
        carl.plan()
