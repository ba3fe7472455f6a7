"""``mk gate``: a candidate against a baseline on the policy's pinned dataset, with a verdict a CI
job can act on (exit 0 pass, 1 fail, 2 inconclusive) and a Markdown report for the pull request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from modelkeep.flavors.skops_import import warm_up
from modelkeep.services.evaluation.compare import ComparePolicy, Comparison, Resamples, compare
from modelkeep.services.evaluation.scoring import by_slice, metric_set, model_files, parse_table, score_table, table_source

if TYPE_CHECKING:
    from modelkeep.services.evaluation.score_process import ScoringProcess


def gate(conn: Any, candidate: str, baseline: str, policy: ComparePolicy, *, allow_pickle: bool = False,
         trusted: list[str] | None = None, process: ScoringProcess | None = None) -> Comparison:
    """``process``: a scoring process started with the command (see ``score_process``); else the
    versions are loaded and scored here."""
    from modelkeep.services.evaluation.records import EvaluationRecord
    from modelkeep.services.evaluation.scoring import environment

    source = table_source(conn, policy.data, policy.split)
    (cand_view, cand_files), (base_view, base_files) = model_files(conn, candidate), model_files(conn, baseline)
    options: dict[str, Any] = {"allow_pickle": allow_pickle, "trusted": trusted}
    # with a scoring process, one thread makes the resamples: the other core is the process's, whose imports
    # are what the comparison waits for
    early = ThreadPoolExecutor(max_workers=2 if process is None else 1)
    try:
        if process is not None:
            process.send(source, [cand_files, base_files], policy.target, policy.slice_by, **options)
            rows = process.rows()
        else:  # the model libraries import while the table is parsed
            early.submit(warm_up)
            table = parse_table(source)
            rows = len(table.frame)
        # the resamples are made while the models load and score (the making leaves the GIL)
        resamples = Resamples(rows, policy.resamples, policy.seed)
        resamples.make_ahead(early)
        scoring = process.result() if process is not None else score_table(
            table, [cand_files, base_files], policy.target, policy.slice_by, **options)
    except BaseException:  # no comparison to come: the resamples not begun are not made, nor waited for
        early.shutdown(wait=False, cancel_futures=True)
        raise
    early.shutdown()
    cand, base = scoring.scored
    extra = [r.metric for r in policy.rules if ":" in r.metric]
    metrics = metric_set(scoring.task, cand if cand.score is not None else base, extra, trusted)
    if (cand.score is None) != (base.score is None):  # only what both can be judged on
        metrics = {k: m for k, m in metrics.items() if k not in ("auc", "log_loss")}
    verdict, results = compare(policy, metrics, base, cand, scoring.slices, resamples)
    ids = {}
    for view, scored in ((cand_view, cand), (base_view, base)):
        found = conn.evaluations.find(view.ref, source.digest, policy.split, policy.slice_by, scoring.target)
        if found is None:
            found = conn.evaluations.record(EvaluationRecord(
                ref=view.ref, dataset=source.ref, dataset_digest=source.digest, split=policy.split,
                slice_by=policy.slice_by, target=scoring.target, task=scoring.task,  # type: ignore[arg-type]
                metrics=by_slice(metrics, scored, scoring.slices, policy.slice_by), environment=environment()))
        ids[view.ref] = found.id
    return Comparison(cand_view.ref, base_view.ref, source.ref, verdict, results, ids, policy.resamples,
                      policy.confidence)


ICONS = {"pass": "✅ pass", "fail": "❌ fail", "inconclusive": "⚠️ inconclusive"}


def markdown(comparison: Comparison, code: dict[str, Any] | None = None) -> str:
    """The report a CI job posts on the pull request."""
    c = comparison
    lines = [
        f"### modelkeep gate: {ICONS[c.verdict]}",
        "",
        f"`{c.candidate}` against `{c.baseline}` on `{c.data}` "
        f"({c.resamples:,} paired bootstrap resamples, {c.confidence:.0%} intervals of the gain; positive is better).",
        "",
        "| metric | slice | baseline | candidate | delta | gain interval | verdict | why |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for r in c.results:
        interval = "—" if r.low != r.low else f"[{r.low:+.4f}, {r.high:+.4f}]"
        lines.append(f"| {r.metric} | {r.slice} | {r.baseline:.4f} | {r.candidate:.4f} | {r.delta:+.4f} | {interval} | "
                     f"{ICONS[r.verdict]} | {r.why} |")
    lines += ["", f"Evaluations: {', '.join(f'`{ref}` #{i}' for ref, i in c.evaluations.items())}."]
    if code:
        lines.append(f"Code: {code.get('repository', '')} {code.get('commit', '')}".rstrip() + ".")
    return "\n".join(lines) + "\n"
