"""Evaluations, the gate, notes and cards (issue 14): versions scored on a pinned dataset version,
judged against each other with paired bootstrap intervals, and described by a card built from
the registry."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modelkeep.errors import InvalidInput, ModelKeepError
from modelkeep.services.connection import LocalConnection
from modelkeep.services.evaluation.compare import ComparePolicy, MetricRule, load_policy
from modelkeep.services.evaluation.gate import gate, markdown
from modelkeep.services.evaluation.metrics import CLASSIFICATION, REGRESSION, Scored
from modelkeep.services.evaluation.scoring import evaluate
from modelkeep.services.workspace import Workspace

pytest.importorskip("sklearn")
pytest.importorskip("skops")


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    region = rng.choice(["eu", "us"], size=n)
    y = (x[:, 0] + 0.8 * x[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return x, y, region


def _csv(path: Path, x: np.ndarray, y: np.ndarray, region: np.ndarray) -> Path:
    lines = ["f0,f1,f2,f3,region,label"] + [
        ",".join(f"{v:.6f}" for v in row) + f",{r},{label}" for row, r, label in zip(x, region, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def estate(workspace: Workspace, tmp_path: Path) -> dict[str, str]:
    """A held-out dataset version and three versions: weak (one feature), strong, strong again."""
    from sklearn.linear_model import LogisticRegression

    from modelkeep.flavors import save_model

    x, y, _ = _data(2000, 1)
    test = _csv(tmp_path / "test.csv", *_data(3000, 2))
    workspace.datasets.add(test, "holdout")
    refs = {}
    for name, columns in (("weak", [0, 3]), ("strong", [0, 1, 2, 3])):
        model = LogisticRegression().fit(np.where(np.isin(np.arange(4), columns), x, 0.0), y)
        path = tmp_path / name
        save_model(model, path, "sklearn")
        refs[name] = workspace.registry.register("fraud", path, params={"features": len(columns)}).ref
    return refs


def test_an_evaluation_is_recorded_per_slice_and_reused(workspace: Workspace, estate: dict[str, str]) -> None:
    conn = LocalConnection(workspace)
    first = evaluate(conn, estate["strong"], "holdout@1", slice_by="region")
    assert not first.reused and first.task == "classification" and first.target == "label"
    assert set(first.metrics) == {"all", "region=eu", "region=us"}
    assert first.metrics["all"]["n"] == 3000 and first.metrics["region=eu"]["n"] + first.metrics["region=us"]["n"] == 3000
    assert 0.9 < first.metrics["all"]["auc"] <= 1 and {"accuracy", "f1", "log_loss"} <= set(first.metrics["all"])
    assert first.dataset == "holdout@1" and len(first.dataset_digest) == 64 and first.environment["python"]
    again = evaluate(conn, estate["strong"], "holdout@1", slice_by="region")
    assert again.reused and again.id == first.id
    assert [e.id for e in conn.evaluations.list(estate["strong"])] == [first.id]
    with pytest.raises(InvalidInput, match="target column 'nope'"):
        evaluate(conn, estate["strong"], "holdout@1", target="nope")


def test_weighted_metrics_equal_scikit_learn_at_unit_weights() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    score = np.round(rng.random(500), 2)  # ties, which auc counts a half
    scored = Scored(y, (score > 0.5).astype(int), score)
    ones = np.ones((2, 500), dtype=np.float32)
    for metric in CLASSIFICATION.values():
        assert metric.weighted is not None
        assert metric.weighted(scored, ones) == pytest.approx([metric.point(scored)] * 2, rel=1e-6), metric.name
    truth = rng.normal(size=300)
    reg = Scored(truth, truth + rng.normal(scale=0.3, size=300), None)
    for metric in REGRESSION.values():
        assert metric.weighted is not None
        assert metric.weighted(reg, np.ones((1, 300), dtype=np.float32)) == pytest.approx([metric.point(reg)], rel=1e-6)


def _policy(**rule: object) -> ComparePolicy:
    return ComparePolicy(data="holdout@1", slice_by="region", resamples=300,
                         rules=[MetricRule(metric="auc", **rule)])  # type: ignore[arg-type]


def test_the_gate_passes_a_better_version_fails_a_worse_one_and_never_passes_a_version_against_itself(
    workspace: Workspace, estate: dict[str, str]
) -> None:
    conn = LocalConnection(workspace)
    better = gate(conn, estate["strong"], estate["weak"], _policy(margin=0.01, slices_no_regress=["region=eu"]))
    assert better.verdict == "pass" and better.exit_code == 0, [r.why for r in better.results]
    assert better.results[0].low > 0.01 and better.results[1].slice == "region=eu"
    worse = gate(conn, estate["weak"], estate["strong"], _policy())
    assert worse.verdict == "fail" and worse.exit_code == 1 and "below the margin" in worse.results[0].why
    same = gate(conn, estate["strong"], estate["strong"], _policy())
    assert same.verdict == "inconclusive" and same.exit_code == 2 and "straddles" in same.results[0].why
    assert gate(conn, estate["strong"], estate["strong"], _policy(margin=0.001)).verdict == "fail"
    few = gate(conn, estate["strong"], estate["weak"], _policy(min_samples=10_000))
    assert few.verdict == "inconclusive" and "too few samples: 3000 < 10000" in few.results[0].why
    floored = gate(conn, estate["strong"], estate["weak"], _policy(floor=0.999))
    assert floored.verdict == "fail" and "misses the floor" in floored.results[0].why
    report = markdown(better)
    assert "| auc | all |" in report and "✅ pass" in report and estate["weak"] in report
    assert set(better.evaluations) == {estate["strong"], estate["weak"]}  # both recorded, and reused by the next gate


def test_mk_gate_exit_codes_and_report(workspace: Workspace, estate: dict[str, str], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from modelkeep.cli.main import app

    monkeypatch.chdir(workspace.config.root.parent)
    policy = tmp_path / "gate.yaml"
    policy.write_text("data: holdout@1\nresamples: 200\nrules:\n  - metric: auc\n    margin: 0.0\n")
    runner = CliRunner()
    passed = runner.invoke(app, ["gate", estate["strong"], "--against", estate["weak"], "--policy", str(policy),
                                 "--report", "md", "--report-file", str(tmp_path / "r.md")])
    assert passed.exit_code == 0, passed.output
    assert passed.output.startswith("### modelkeep gate: ✅ pass") and (tmp_path / "r.md").read_text() == passed.output
    failed = runner.invoke(app, ["gate", estate["weak"], "--against", estate["strong"], "--policy", str(policy)])
    assert failed.exit_code == 1 and failed.output.startswith("fail:")
    same = runner.invoke(app, ["gate", estate["strong"], "--against", estate["strong"], "--policy", str(policy)])
    assert same.exit_code == 2
    policy.write_text("data: holdout@1\nrules: []\n")
    bad = runner.invoke(app, ["gate", estate["strong"], "--against", estate["weak"], "--policy", str(policy)])
    assert isinstance(bad.exception, ModelKeepError) and bad.exception.exit_code == 6 and "rules" in str(bad.exception)
    with pytest.raises(InvalidInput, match="rules.0.margin"):
        load_policy("data: x@1\nrules:\n  - metric: auc\n    margin: lots\n")


def test_the_card_is_a_valid_hugging_face_card_with_evaluations_notes_and_data(
    workspace: Workspace, estate: dict[str, str]
) -> None:
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from modelkeep.services.evaluation.card import card
    from modelkeep.services.evaluation.records import NoteRequest

    conn = LocalConnection(workspace)
    evaluate(conn, estate["strong"], "holdout@1", slice_by="region")
    conn.evaluations.note(NoteRequest(ref=estate["strong"], kind="decision", text="chosen over weak: +0.2 auc"))
    conn.evaluations.note(NoteRequest(ref=estate["strong"], kind="limitation", text="not tried outside eu and us"))
    text = card(conn, estate["strong"])
    parsed = huggingface_hub.ModelCard(text)
    results = parsed.data.eval_results
    assert results and {r.metric_type for r in results} >= {"auc", "accuracy"}
    assert {r.dataset_revision for r in results} == {workspace.datasets.get("holdout@1").digest}
    assert "chosen over weak" in text and "not tried outside eu and us" in text and "region=eu" in text
    actions = [e["action"] for e in conn.audit.log(model="fraud")]
    assert "version.decision" in actions and "evaluation.record" in actions


def test_mk_card_of_a_personal_registry_reads_it_with_sqlite3_and_renders_the_same_card(
    workspace: Workspace, estate: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card's fast path (no workspace, no SQLAlchemy) renders what the service renders: evaluations,
    notes, training data, lineage and the alias that approved the version."""
    from modelkeep.meta.sqlite_fast import card_rows
    from modelkeep.services.evaluation.card import card, card_parts
    from modelkeep.services.evaluation.fast_reads import card as fast_card
    from modelkeep.services.evaluation.fast_reads import card_parts as fast_card_parts
    from modelkeep.services.evaluation.records import NoteRequest

    conn = LocalConnection(workspace)
    evaluate(conn, estate["strong"], "holdout@1", slice_by="region")
    conn.evaluations.note(NoteRequest(ref=estate["strong"], kind="risk", text="scores drift with the season"))
    workspace.datasets.add(_csv(tmp_path / "train.csv", *_data(50, 9)), "train")
    (tmp_path / "weights.bin").write_text("w")
    trained = workspace.registry.register("fraud", tmp_path / "weights.bin", data=["holdout@1", "train@1"]).ref
    workspace.registry.set_alias(estate["strong"], "champion")
    monkeypatch.chdir(workspace.config.root.parent)
    for ref in (estate["strong"], "fraud@champion", trained):
        fast = fast_card(ref)
        assert fast is not None, ref  # the fast path applies here
        assert fast == card(conn, ref), ref  # and renders the same card
        fast_parts = fast_card_parts(ref)  # and mk card --json says the same of it
        assert fast_parts is not None
        document = json.loads(json.dumps(card_parts(conn, ref).to_dict(), default=str))
        assert json.loads(json.dumps(fast_parts.to_dict(), default=str)) == document, ref
        assert document["ref"] == fast_parts.view.ref and document["version"]["ref"] == document["ref"]
    document = card_parts(conn, estate["strong"]).to_dict()
    assert document["front_matter"]["model-index"][0]["results"] and document["evaluations"][0]["dataset"] == "holdout@1"
    assert [n["text"] for n in document["notes"]] == ["scores drift with the season"]
    assert card_parts(conn, trained).to_dict()["training_data"].keys() == {"holdout@1", "train@1"}
    from modelkeep.cli.main import app

    printed = CliRunner().invoke(app, ["card", trained, "--json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == json.loads(json.dumps(card_parts(conn, trained).to_dict(), default=str))
    written = CliRunner().invoke(app, ["card", trained, "--json", "-o", str(tmp_path / "card.json")])
    assert written.exit_code == 0 and json.loads((tmp_path / "card.json").read_text())["ref"] == trained
    assert "scores drift with the season" in fast_card(estate["strong"]) and "champion" in fast_card("fraud@champion")
    assert card_rows(workspace.config.db_url, "fraud", "1.0.0", ["holdout"]) is None  # not NAME@N: the normal path
    assert fast_card("fraud@9.9.9") is None  # the normal path says what is missing


def test_the_ci_examples_use_a_valid_policy_and_the_real_commands() -> None:
    import yaml

    root = Path(__file__).parents[1] / "examples" / "ci"
    policy = load_policy((root / "gate.yaml").read_text(), "examples/ci/gate.yaml")
    assert policy.rules[0].slices_no_regress == ["region=eu", "region=us"] and policy.rules[1].margin < 0
    for name in ("github-actions.yml", "gitlab-ci.yml"):
        text = (root / name).read_text()
        assert yaml.safe_load(text)
        assert "mk gate" in text and "--against fraud@production --policy examples/ci/gate.yaml --report md" in text
        assert "mk branch create" in text and "--branch" in text


def test_a_custom_metric_runs_only_when_trusted_and_judges_by_resampling(workspace: Workspace, estate: dict[str, str]) -> None:
    from modelkeep.errors import PermissionDenied

    conn = LocalConnection(workspace)
    path = "tests.custom_metric:error_rate"
    with pytest.raises(PermissionDenied, match="runs that module's code"):
        evaluate(conn, estate["strong"], "holdout@1", metrics=[path])
    found = evaluate(conn, estate["strong"], "holdout@1", metrics=[path], trusted=[path])
    assert found.metrics["all"][path] == pytest.approx(1 - found.metrics["all"]["accuracy"])
    policy = ComparePolicy(data="holdout@1", resamples=100, rules=[MetricRule(metric=path)])
    verdict = gate(conn, estate["strong"], estate["weak"], policy, trusted=[path])
    assert verdict.verdict == "pass" and verdict.results[0].candidate < verdict.results[0].baseline  # lower is better


def test_streamed_resamples_give_the_same_intervals_as_resamples_made_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """compare() makes each batch of resamples, takes every metric on it and drops it; the intervals
    are those of the same resamples made whole first, on one core or many."""
    from modelkeep.services.evaluation.compare import Resamples, compare, judge, weights

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 2000)
    base_score, cand_score = rng.random(2000), np.clip(rng.random(2000) * 0.5 + y * 0.4, 0, 1)
    base = Scored(y, (base_score > 0.5).astype(int), base_score)
    cand = Scored(y, (cand_score > 0.5).astype(int), cand_score)
    policy = ComparePolicy(data="x@1", resamples=200, seed=7,
                           rules=[MetricRule(metric="auc"), MetricRule(metric="f1"), MetricRule(metric="accuracy")])
    whole = weights(2000, 200, 7)
    assert len(whole) == len(Resamples(2000, 200, 7)) == 4 and sum(len(w) for w in whole) == 200
    assert all((w.sum(axis=1) == 2000).all() for w in whole)  # each resample draws n rows
    made = [judge(rule, CLASSIFICATION[rule.metric], base, cand, policy, batches=whole) for rule in policy.rules]
    verdict, streamed = compare(policy, CLASSIFICATION, base, cand, None)
    assert verdict == "pass" and [r.verdict for r in made] == [r.verdict for r in streamed]
    assert [(r.low, r.high) for r in made] == [(r.low, r.high) for r in streamed]
    ahead = Resamples(2000, 200, 7)  # made in the background, kept one byte a count, while models load
    with ThreadPoolExecutor(max_workers=2) as pool:
        ahead.make_ahead(pool)
    assert all(f.result().dtype == np.uint8 for f in ahead._ahead)
    _, early = compare(policy, CLASSIFICATION, base, cand, None, ahead)
    assert [(r.low, r.high) for r in early] == [(r.low, r.high) for r in streamed]
    monkeypatch.setattr("modelkeep.services.evaluation.compare.AHEAD_BYTES", 2000 * 200 - 1)
    over = Resamples(2000, 200, 7)  # more than the budget: made when asked for, the same resamples
    with ThreadPoolExecutor(max_workers=2) as pool:
        over.make_ahead(pool)
    assert over._ahead == []
    _, late = compare(policy, CLASSIFICATION, base, cand, None, over)
    assert [(r.low, r.high) for r in late] == [(r.low, r.high) for r in streamed]
