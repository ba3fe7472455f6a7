"""The scoring process `mk gate` and `mk merge` start (issue 14): it scores exactly as scoring in
process does, and its errors arrive as the same errors, without a traceback."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from modelkeep.errors import InvalidInput, ServerError
from modelkeep.services.evaluation.score_process import ScoringProcess
from modelkeep.services.evaluation.scoring import ModelFiles, TableSource, parse_table, score_table
from modelkeep.services.workspace import Workspace

pytest.importorskip("sklearn")
pytest.importorskip("skops")


@pytest.fixture
def setting(tmp_path: Path) -> tuple[TableSource, list[ModelFiles]]:
    """A table with text labels and a slice column, split by a column, and two classifiers."""
    from sklearn.linear_model import LogisticRegression

    from modelkeep.flavors import save_model

    rng = np.random.default_rng(3)
    x = rng.normal(size=(1500, 3))
    y = np.where(x[:, 0] + 0.5 * rng.normal(size=1500) > 0, "fraud", "ok")
    region = rng.choice(["eu", "us", "apac"], size=1500)
    split = np.where(np.arange(1500) < 500, "train", "test")
    lines = ["a,b,c,region,split,label"] + [f"{r[0]:.5f},{r[1]:.5f},{r[2]:.5f},{g},{s},{t}"
                                            for r, g, s, t in zip(x, region, split, y, strict=True)]
    models = []
    for name, columns in (("one", ["a"]), ("all", ["a", "b", "c"])):
        index = [["a", "b", "c"].index(c) for c in columns]
        save_model(LogisticRegression().fit(x[:500, index], y[:500]), tmp_path / name, "sklearn")
        models.append(ModelFiles(f"m@{name}", str(tmp_path / name), columns))
    raw = ("\n".join(lines) + "\n").encode()
    return TableSource("holdout@1", "d" * 64, "holdout.csv", raw, "test", True), models


def test_the_process_scores_as_scoring_in_process_does(setting: tuple[TableSource, list[ModelFiles]]) -> None:
    source, models = setting
    here = score_table(parse_table(source), models, None, "region")
    with ScoringProcess() as process:
        process.send(source, models, None, "region")
        assert process.rows() == 1000  # the test split's rows, said before the models are scored
        there = process.result()
    assert (there.target, there.task) == (here.target, here.task) == ("label", "classification")
    assert here.slices is not None and there.slices is not None and (there.slices == here.slices).all()
    for ours, theirs in zip(here.scored, there.scored, strict=True):
        assert (theirs.y == ours.y).all() and (theirs.pred == ours.pred).all()
        assert ours.score is not None and theirs.score is not None and (theirs.score == ours.score).all()
        assert theirs.points == ours.points
        assert ours.points is not None and set(ours.points) == {"all", "region=apac", "region=eu", "region=us"}
        assert set(ours.points["all"]) == {"accuracy", "auc", "f1", "log_loss"}


def test_its_errors_are_raised_here_as_the_same_errors(setting: tuple[TableSource, list[ModelFiles]]) -> None:
    source, models = setting
    with ScoringProcess() as process:
        process.send(source, models, "is_fraud", None)
        assert process.rows() == 1000
        with pytest.raises(InvalidInput, match="target column 'is_fraud' is not in the data"):
            process.result()
    wrong = ModelFiles("m@wrong", models[0].folder, ["zzz"])
    with ScoringProcess() as process:
        process.send(source, [wrong], None, None)
        process.rows()
        with pytest.raises(InvalidInput, match="holdout@1 lacks column 'zzz' of m@wrong's inputs"):
            process.result()


def test_a_process_that_dies_is_said_plainly(setting: tuple[TableSource, list[ModelFiles]]) -> None:
    source, models = setting
    with ScoringProcess() as process:
        process._proc.kill()
        with pytest.raises(ServerError, match="the scoring process ended"):
            process.send(source, models, None, None)
            process.rows()


def test_a_gate_whose_scoring_fails_does_not_wait_for_its_resamples(workspace: Workspace, tmp_path: Path) -> None:
    """The failure is raised as it is; the resamples made ahead for the comparison are cancelled."""
    from concurrent.futures import Future

    from modelkeep.services.connection import LocalConnection
    from modelkeep.services.evaluation import compare
    from modelkeep.services.evaluation.compare import ComparePolicy, MetricRule
    from modelkeep.services.evaluation.gate import gate

    (tmp_path / "t.csv").write_text("a,label\n" + "".join(f"{i % 7},{i % 2}\n" for i in range(400)))
    workspace.datasets.add(tmp_path / "t.csv", "t")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"not a model")
    ref = workspace.registry.register("broken", folder).ref
    made: list[Future[np.ndarray]] = []
    real_ahead, real_make, release = compare.Resamples.make_ahead, compare.Resamples.make, threading.Event()

    def kept(self: compare.Resamples, pool: object) -> None:
        real_ahead(self, pool)  # type: ignore[arg-type]
        made.extend(self._ahead)

    def held(self: compare.Resamples, k: int) -> object:
        release.wait(30)  # a batch being made stays in the making until the gate has failed
        return real_make(self, k)

    policy = ComparePolicy(data="t@1", resamples=1000, rules=[MetricRule(metric="accuracy")])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compare.Resamples, "make_ahead", kept)
        patch.setattr(compare.Resamples, "make", held)
        with pytest.raises(InvalidInput, match="not saved by a modelkeep flavor"):
            gate(LocalConnection(workspace), ref, ref, policy)
        cancelled, making = sum(f.cancelled() for f in made), sum(f.running() for f in made)
        release.set()
    assert len(made) == 16 and cancelled + making == 16 and making <= 2  # none made after, none waited for


def test_a_regression_is_scored_alike_there_and_here(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    from modelkeep.flavors import save_model

    rng = np.random.default_rng(5)
    x = rng.normal(size=(800, 2))
    y = 3 * x[:, 0] - x[:, 1] + rng.normal(size=800)
    save_model(LinearRegression().fit(x, y), tmp_path / "lr", "sklearn")
    raw = ("a,b,target\n" + "".join(f"{r[0]:.5f},{r[1]:.5f},{t:.5f}\n" for r, t in zip(x, y, strict=True))).encode()
    source, models = TableSource("r@1", "e" * 64, "r.csv", raw, None, False), [ModelFiles("m@1", str(tmp_path / "lr"), [])]
    here = score_table(parse_table(source), models, None, None)
    with ScoringProcess() as process:
        process.send(source, models, None, None)
        assert process.rows() == 800
        there = process.result()
    assert there.task == here.task == "regression" and there.slices is None
    points = here.scored[0].points
    assert points is not None and there.scored[0].points == points and set(points["all"]) == {"rmse", "mae", "r2"}
    assert (there.scored[0].pred == here.scored[0].pred).all() and there.scored[0].score is None
