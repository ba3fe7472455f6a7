"""``mk watch`` (issue 14): a subscription to one model, delivered to a local receiver, each event
in plain words built from the diff — what a data engineer and a business owner need to hear."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelkeep.errors import InvalidInput
from modelkeep.services.workspace import Workspace
from tests.test_webhooks import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _signature(*names: str) -> dict[str, object]:
    return {"inputs": [{"name": n, "type": "double"} for n in names], "outputs": [{"name": "score", "type": "double"}]}


def test_a_watch_hears_its_model_only_in_plain_words(workspace: Workspace, receiver: Receiver, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.cli.main import app

    for i, name in enumerate(("train", "train")):
        (tmp_path / f"t{i}.csv").write_text(f"a,b\n{i},1\n")
        workspace.datasets.add(tmp_path / f"t{i}.csv", name)
    art = tmp_path / "m.bin"
    art.write_text("one")
    workspace.registry.register("fraud", art, data=["train@1"], signature=_signature("f0", "f1"), metrics={"auc": 0.91})
    monkeypatch.chdir(workspace.config.root.parent)
    made = CliRunner().invoke(app, ["watch", "fraud", "--to", receiver.url, "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["format"] == "words"
    art.write_text("two")
    new = workspace.registry.register("fraud", art, data=["train@2"], signature=_signature("f0", "f1", "f4"),
                                      metrics={"auc": 0.93})
    other = tmp_path / "o.bin"
    other.write_text("other")
    workspace.registry.register("churn", other)  # not watched
    workspace.registry.set_alias(new.ref, "production")
    assert workspace.webhooks.dispatch()["delivered"] == 2
    texts = [json.loads(body)["text"] for _, body in receiver.requests]
    created = next(t for t in texts if "registered" in t)
    assert created.startswith(f"{new.ref} registered by") and "input features: added f4" in created
    assert "data: train@1 → train@2" in created and "auc 0.910 → 0.930 (+0.020)" in created
    moved = next(t for t in texts if "production" in t)
    assert moved.startswith(f"fraud@production now {new.version}") and not any("churn" in t for t in texts)


def test_a_watch_names_a_model_or_a_dataset(workspace: Workspace, receiver: Receiver) -> None:
    with pytest.raises(InvalidInput, match="model:NAME or dataset:NAME"):
        workspace.webhooks.add(receiver.url, ["version.created"], format="words", subject="fraud")


def test_a_watch_can_hear_only_some_bumps(workspace: Workspace, receiver: Receiver, tmp_path: Path) -> None:
    art = tmp_path / "m.bin"
    art.write_text("one")
    workspace.registry.register("fraud", art, params={"lr": "0.1"})
    with pytest.raises(InvalidInput, match="bumps \\['huge'\\]"):
        workspace.webhooks.add(receiver.url, ["version.created"], format="words", subject="model:fraud", bumps=["huge"])
    workspace.webhooks.add(receiver.url, ["version.created"], format="words", subject="model:fraud",
                           bumps=["minor", "major"])
    art.write_text("two")
    quiet = workspace.registry.register("fraud", art, params={"lr": "0.1"})  # new files only
    heard = workspace.registry.register("fraud", art, params={"lr": "0.1"}, bump="minor")
    assert quiet.bump == "patch" and heard.bump == "minor"
    assert workspace.webhooks.dispatch()["delivered"] == 1
    [(_, body)] = receiver.requests
    assert json.loads(body)["text"].startswith(f"{heard.ref} registered")
