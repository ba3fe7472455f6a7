"""Run ids are never reused after ``mk runs delete`` (issue 10), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from modelkeep.services.workspace import Workspace


def test_run_ids_are_not_reused_after_delete(any_workspace: Workspace) -> None:
    runs = any_workspace.runs
    first = runs.start("a", command=["true"])
    second = runs.start("b", command=["true"])
    second.end("finished", exit_code=0)
    runs.delete(second.id)
    third = runs.start("c", command=["true"])
    assert third.id > second.id > first.id
    runs.delete(third.id)
    runs.delete(first.id)
    assert runs.start("d", command=["true"]).id == third.id + 1


def test_start_run_inside_mk_run_keeps_its_project(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.services.runs.runs import RUN_ENV

    outer = workspace.runs.start("mk run", command=["python", "train.py"])  # what `mk run` makes
    monkeypatch.setenv(RUN_ENV, str(outer.id))
    inner = workspace.runs.start("train", project="fraud")  # what the script's mk.start_run(project=...) does
    assert inner.id == outer.id and workspace.runs.get(outer.id).project == "fraud"
