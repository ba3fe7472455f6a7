"""Branches and merges decided by evaluation (issue 14): branch lines with their own versions,
protected main, merges accepted, rejected and inconclusive, three-way parameter conflicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modelkeep.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from modelkeep.services.connection import LocalConnection
from modelkeep.services.evaluation.compare import ComparePolicy, MetricRule
from modelkeep.services.evaluation.merge import conflicts, merge
from modelkeep.services.workspace import Workspace

pytest.importorskip("sklearn")


def _model(tmp_path: Path, name: str, columns: list[int]) -> Path:
    from sklearn.linear_model import LogisticRegression

    from modelkeep.flavors import save_model

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 4))
    y = (x[:, 0] + 0.8 * x[:, 1] + 0.3 * rng.normal(size=2000) > 0).astype(int)
    model = LogisticRegression().fit(np.where(np.isin(np.arange(4), columns), x, 0.0), y)
    save_model(model, tmp_path / name, "sklearn")
    return tmp_path / name


@pytest.fixture
def team(workspace: Workspace, tmp_path: Path) -> LocalConnection:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 4))
    y = (x[:, 0] + 0.8 * x[:, 1] + 0.3 * rng.normal(size=3000) > 0).astype(int)
    lines = ["f0,f1,f2,f3,label"] + [",".join(f"{v:.6f}" for v in r) + f",{t}" for r, t in zip(x, y, strict=True)]
    (tmp_path / "holdout.csv").write_text("\n".join(lines) + "\n")
    workspace.datasets.add(tmp_path / "holdout.csv", "holdout")
    workspace.registry.register("fraud", _model(tmp_path, "base", [0]), params={"depth": 3, "lr": 0.1})
    return LocalConnection(workspace)


POLICY = ComparePolicy(data="holdout@1", resamples=300, rules=[MetricRule(metric="auc", margin=0.005)])


def test_branch_lines_have_their_own_versions_and_main_can_be_protected(team: LocalConnection, tmp_path: Path) -> None:
    made = team.branches.create("fraud~wide")
    assert made.line == "fraud~wide" and made.base == "1.0.0.0.0" and made.head is None
    first = team.registry.register("fraud~wide", _model(tmp_path, "w1", [0, 1]), params={"depth": 5, "lr": 0.1})
    second = team.registry.register("fraud~wide", _model(tmp_path, "w2", [0, 1, 2]), params={"depth": 6, "lr": 0.1})
    assert first.parent == "fraud@1.0.0.0.0" and first.bump != "initial" and first.version != "1.0.0.0.0"  # from the fork
    assert second.parent == first.version and second.version != first.version
    assert team.registry.get("fraud~wide@latest").ref == second.ref
    assert team.registry.get("fraud@latest").version == "1.0.0.0.0"  # main did not move
    lines = {b.line: b for b in team.branches.list("fraud")}
    assert lines["fraud~wide"].head == second.ref and lines["fraud"].head == "fraud@1.0.0.0.0"
    assert team.branches.base_of("fraud~wide") == "fraud@1.0.0.0.0"
    with pytest.raises(NotFound, match="no branch 'narrow'"):
        team.registry.register("fraud~narrow", _model(tmp_path, "n", [0]))
    team.branches.protect("fraud")
    with pytest.raises(PermissionDenied, match="only by merge"):
        team.registry.register("fraud", _model(tmp_path, "direct", [0, 1]))
    with pytest.raises(InvalidInput, match="MODEL~BRANCH"):
        team.branches.create("fraud")


def test_a_better_branch_merges_into_protected_main_with_its_verdict(team: LocalConnection, tmp_path: Path) -> None:
    team.branches.create("fraud~wide")
    team.registry.register("fraud", _model(tmp_path, "m2", [0, 3]), params={"depth": 4, "lr": 0.1})  # main moves on
    head = team.registry.register("fraud~wide", _model(tmp_path, "w", [0, 1, 2, 3]), params={"depth": 5, "lr": 0.1})
    team.branches.protect("fraud")
    main_head = team.registry.get("fraud@latest")
    outcome = merge(team, "fraud~wide", POLICY)
    assert outcome.comparison.verdict == "pass" and outcome.merged is not None
    merged = team.registry.get(outcome.merged["ref"])
    assert merged.parent == main_head.version and merged.digest == head.digest
    graph = team.lineage.lineage(merged.ref, parents=True)
    labels = {n["id"]: n.get("label", "") for n in graph["nodes"]}
    assert any(head.ref in str(label) for label in labels.values()), labels  # both heads are its parents
    assert merged.tags["merge.from"] == head.ref and merged.tags["merge.verdict"] == "pass"
    assert [c["param"] for c in outcome.conflicts] == ["depth"] and str(outcome.conflicts[0]["resolved"]) == "5"
    assert str(merged.params["depth"]) == "5"  # the evaluated winner's value
    entry = next(e for e in team.audit.log(model="fraud") if e["action"] == "branch.merge")
    assert entry["detail"]["results"][0]["verdict"] == "pass" and set(entry["detail"]["evaluations"]) == {head.ref, main_head.ref}
    assert team.branches.list("fraud")[1].merged["version"] == merged.ref
    from sqlalchemy import select

    from modelkeep.meta.tables import Event

    with team.workspace.db.reader() as session:
        assert "branch.merged" in set(session.scalars(select(Event.type)))


def test_a_worse_branch_is_rejected_and_a_copy_of_main_is_never_merged(team: LocalConnection, tmp_path: Path) -> None:
    team.registry.register("fraud", _model(tmp_path, "strong", [0, 1, 2, 3]))
    team.branches.create("fraud~worse")
    team.registry.register("fraud~worse", _model(tmp_path, "weak", [3]))
    rejected = merge(team, "fraud~worse", POLICY)
    assert rejected.comparison.verdict == "fail" and rejected.merged is None
    team.branches.create("fraud~same")
    team.registry.register("fraud~same", _model(tmp_path, "strong", [0, 1, 2, 3]))
    same = merge(team, "fraud~same", ComparePolicy(data="holdout@1", resamples=300, rules=[MetricRule(metric="auc")]))
    assert same.comparison.verdict == "inconclusive" and same.merged is None
    assert team.registry.get("fraud@latest").version == team.registry.list_versions("fraud")[-1].version
    assert len(team.registry.list_versions("fraud")) == 2  # nothing merged


def test_the_registry_checks_a_merge_against_the_heads(team: LocalConnection, tmp_path: Path) -> None:
    from modelkeep.services.models.branches import MergeRequest

    team.branches.create("fraud~wide")
    head = team.registry.register("fraud~wide", _model(tmp_path, "w", [0, 1, 2, 3]))
    main = team.registry.get("fraud@latest")
    forged = MergeRequest(branch="fraud~wide", into="fraud", head=head.ref, target_head=main.ref,
                          comparison={"verdict": "pass", "evaluations": {head.ref: 1, main.ref: 2}})
    with pytest.raises(InvalidInput, match="no evaluation"):
        team.branches.merge(forged)
    with pytest.raises(InvalidInput, match="only a pass"):
        team.branches.merge(forged.model_copy(update={"comparison": {"verdict": "fail"}}))
    with pytest.raises(Conflict, match="moved since the evaluation"):
        team.branches.merge(forged.model_copy(update={"head": "fraud~wide@0.9.0.0.0"}))


def test_three_way_conflicts_list_only_what_both_lines_changed() -> None:
    base = {"depth": 3, "lr": 0.1, "trees": 100}
    found = conflicts(base, {"depth": 5, "lr": 0.1, "trees": 200}, {"depth": 4, "lr": 0.2, "trees": 200})
    assert found == [{"param": "depth", "base": 3, "branch": 5, "target": 4}]


def test_mk_merge_exit_codes(team: LocalConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.cli.main import app

    monkeypatch.chdir(team.workspace.config.root.parent)
    runner = CliRunner()
    assert runner.invoke(app, ["branch", "create", "fraud~wide"]).exit_code == 0
    registered = runner.invoke(app, ["model", "register", "fraud", str(_model(tmp_path, "w", [0, 1, 2, 3])),
                                     "--branch", "wide"])
    assert registered.exit_code == 0, registered.output
    policy = tmp_path / "merge.yaml"
    policy.write_text("data: holdout@1\nresamples: 200\nrules:\n  - metric: auc\n    margin: 0.005\n")
    merged = runner.invoke(app, ["merge", "fraud~wide", "--policy", str(policy)])
    assert merged.exit_code == 0 and "pass: fraud~wide@" in merged.output and "merged as fraud@" in merged.output
    again = runner.invoke(app, ["merge", "fraud~wide", "--policy", str(policy)])  # main now holds the same model
    assert again.exit_code in (1, 2) and "merged as" not in again.output
    assert "└ ~wide" in runner.invoke(app, ["model", "list"]).output  # the line under its model
    listed = runner.invoke(app, ["branch", "list", "fraud", "--json"])
    assert listed.exit_code == 0 and '"line": "fraud~wide"' in listed.output


def test_branch_list_of_a_personal_registry_reads_it_with_sqlite3_and_answers_the_same(
        workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from sqlalchemy import update

    from modelkeep.cli.main import app
    from modelkeep.meta.collaboration_tables import Branch
    from modelkeep.services.models.fast_reads import branches

    monkeypatch.setenv("MODELKEEP_HOME", str(workspace.config.root))
    conn = LocalConnection(workspace)

    def same() -> list[dict]:
        fast = branches("fraud")
        assert fast is not None  # the fast path applies here
        expected = [b.to_dict() for b in conn.branches.list("fraud")]
        assert [b.to_dict() for b in fast] == expected  # and answers as the service does
        listed = CliRunner().invoke(app, ["branch", "list", "fraud", "--json"])
        assert listed.exit_code == 0 and json.loads(listed.stdout) == expected
        return expected

    conn.registry.register("fraud", params={"depth": 1})
    assert [b["line"] for b in same()] == ["fraud"]  # main, never recorded
    conn.branches.create("fraud~wide")
    conn.branches.create("fraud~empty")
    conn.registry.register("fraud~wide", params={"depth": 2})
    conn.branches.protect("fraud")
    with workspace.db.writer() as session, session.begin():  # as a merge leaves it
        session.execute(update(Branch).where(Branch.name == "wide").values(merged={"into": "fraud", "version": "fraud@2"}))
    lines = same()
    main_head, wide_head = conn.registry.get("fraud@latest").ref, conn.registry.get("fraud~wide@latest").ref
    assert [(b["line"], b["head"], b["protected"]) for b in lines] == [
        ("fraud", main_head, True), ("fraud~empty", None, False), ("fraud~wide", wide_head, False)]
    assert lines[2]["merged"] == {"into": "fraud", "version": "fraud@2"} and lines[1]["base"] == main_head.split("@")[1]
    assert branches("nothing") is None  # the normal path says it does not exist
    workspace.access.create_user("admin", role="admin")
    assert branches("fraud") is None  # with users, reads are checked: the normal path
