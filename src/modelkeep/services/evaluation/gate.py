"""``mk gate``: a candidate against a baseline on the policy's pinned dataset, with a verdict a CI
job can act on (exit 0 pass, 1 fail, 2 inconclusive) and a Markdown report for the pull request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelkeep.flavors.skops_import import warm_up
from modelkeep.services.evaluation.compare import ComparePolicy, Comparison, Resamples, compare
from modelkeep.services.evaluation.scoring import Scorer, by_slice, metric_set, pick_target, read_table, task_of


def gate(conn: Any, candidate: str, baseline: str, policy: ComparePolicy, *, allow_pickle: bool = False,
         trusted: list[str] | None = None) -> Comparison:
    from modelkeep.services.evaluation.records import EvaluationRecord
    from modelkeep.services.evaluation.scoring import environment

    with ThreadPoolExecutor(max_workers=2) as early:  # the model libraries import while the table is read
        early.submit(warm_up)
        table = read_table(conn, policy.data, policy.split)
        # and the resamples are made while the models load (the making leaves the GIL to the imports)
        resamples = Resamples(len(table.frame), policy.resamples, policy.seed)
        resamples.make_ahead(early)
        target = pick_target(table.frame, policy.target)
        scorer = Scorer(conn, allow_pickle=allow_pickle, trusted=trusted)
        cand_view, cand = scorer.score(candidate, table, target, policy.slice_by)
        base_view, base = scorer.score(baseline, table, target, policy.slice_by)
    task = task_of(base.y)
    extra = [r.metric for r in policy.rules if ":" in r.metric]
    metrics = metric_set(task, cand if cand.score is not None else base, extra, trusted)
    if (cand.score is None) != (base.score is None):  # only what both can be judged on
        metrics = {k: m for k, m in metrics.items() if k not in ("auc", "log_loss")}
    slices = table.frame[policy.slice_by].astype(str).to_numpy() if policy.slice_by else None
    verdict, results = compare(policy, metrics, base, cand, slices, resamples)
    ids = {}
    for view, scored in ((cand_view, cand), (base_view, base)):
        found = conn.evaluations.find(view.ref, table.digest, policy.split, policy.slice_by, target)
        if found is None:
            found = conn.evaluations.record(EvaluationRecord(
                ref=view.ref, dataset=table.ref, dataset_digest=table.digest, split=policy.split,
                slice_by=policy.slice_by, target=target, task=task,  # type: ignore[arg-type]
                metrics=by_slice(metrics, scored, slices, policy.slice_by), environment=environment()))
        ids[view.ref] = found.id
    return Comparison(cand_view.ref, base_view.ref, table.ref, verdict, results, ids, policy.resamples, policy.confidence)


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
