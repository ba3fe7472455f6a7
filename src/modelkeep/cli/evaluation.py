"""``mk eval``, ``mk gate``, ``mk card`` and ``mk note``: versions judged on pinned data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from modelkeep.cli.output import emit_json, out_console
from modelkeep.errors import ModelKeepError

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Trust = Annotated[list[str] | None, typer.Option("--trust", help="A class or metric path (module:name) you trust to import.")]


class GateCouldNotRun(ModelKeepError):
    """Bad input or an unknown version for ``mk gate``, whose exit codes 1 and 2 are verdicts."""

    exit_code = 6


AllowPickle = Annotated[bool, typer.Option("--allow-pickle", help="Load pickled models (only from a source you trust).")]


def evaluate(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or alias) to score.")],
    data: Annotated[str, typer.Option("--data", help="The pinned dataset version, NAME@N.")],
    split: Annotated[str | None, typer.Option("--split", help="A file named after it, or rows of that split column.")] = None,
    slice_by: Annotated[str | None, typer.Option("--slice", help="A column whose values are slices.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="The label column (default: label, target, y, ...).")] = None,
    metric: Annotated[list[str] | None, typer.Option("--metric", help="A custom metric module:function (with --trust).")] = None,
    trust: Trust = None,
    allow_pickle: AllowPickle = False,
    json_out: JsonFlag = False,
) -> None:
    """Score a version on a pinned dataset version and record the evaluation (metrics per slice with
    their row counts, the dataset's digest, the environment); reused when asked again."""
    from modelkeep.cli.remote import connection
    from modelkeep.services.evaluation.scoring import evaluate as run

    result = run(connection(), ref, data, split=split, slice_by=slice_by, target=target, metrics=metric,
                 allow_pickle=allow_pickle, trusted=[*(trust or []), *(metric or [])])
    if json_out:
        emit_json(result.to_dict())
        return
    out = out_console()
    out.print(f"evaluation #{result.id} of {result.ref} on {result.dataset}"
              f"{' (recorded before: reused)' if result.reused else ''}", markup=False)
    for slice_name, values in result.metrics.items():
        shown = ", ".join(f"{k} {v:.4f}" for k, v in values.items() if k != "n")
        out.print(f"  {slice_name:<24} n={int(values.get('n', 0)):<8} {shown}", markup=False)


def gate(
    ref: Annotated[str, typer.Argument(help="The candidate, NAME@VERSION.")],
    against: Annotated[str, typer.Option("--against", help="The baseline: NAME@production, NAME@main, NAME@VERSION.")],
    policy: Annotated[Path, typer.Option("--policy", help="gate.yaml: data, rules (metric, margin, floor, ...).")],
    report: Annotated[Literal["md", "json"] | None,
                      typer.Option("--report", help="Print a report: md (for a pull request) or json.")] = None,
    report_file: Annotated[Path | None, typer.Option("--report-file", help="Write the Markdown report here too.")] = None,
    trust: Trust = None,
    allow_pickle: AllowPickle = False,
) -> None:
    """Judge a candidate against a baseline on the policy's pinned dataset: exit 0 pass, 1 fail,
    2 inconclusive (paired bootstrap intervals per metric and protected slice); 6 when the gate
    could not run (bad policy, unknown version), 3-5 as for every command."""
    from modelkeep.cli.remote import connection
    from modelkeep.errors import InvalidInput
    from modelkeep.services.evaluation.compare import load_policy
    from modelkeep.services.evaluation.gate import gate as run
    from modelkeep.services.evaluation.gate import markdown

    try:
        try:
            text = policy.read_text()
        except OSError as exc:
            raise InvalidInput(f"cannot read the policy {policy}: {exc.strerror}") from None
        conn = connection()
        result = run(conn, ref, against, load_policy(text, str(policy)), allow_pickle=allow_pickle, trusted=trust)
        md = markdown(result, conn.registry.get(result.candidate).code)
    except ModelKeepError as exc:  # 1 and 2 are verdicts here: a gate that could not run exits 6
        if exc.exit_code in (1, 2):
            raise GateCouldNotRun(str(exc), hint=exc.hint) from exc
        raise
    if report_file is not None:
        report_file.write_text(md)
    if report == "json":
        emit_json(result.to_dict())
    elif report == "md":
        typer.echo(md, nl=False)
    else:
        out = out_console()
        out.print(f"{result.verdict}: {result.candidate} against {result.baseline} on {result.data}", markup=False)
        for r in result.results:
            out.print(f"  {r.verdict:<12} {r.metric} [{r.slice}] {r.baseline:.4f} -> {r.candidate:.4f}: {r.why}", markup=False)
    raise typer.Exit(result.exit_code)


def card(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or alias).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the card here (default: print it).")] = None,
) -> None:
    """Render the version's model card (Markdown with Hugging Face model-index front matter) from the registry."""
    from modelkeep.cli.remote import connection
    from modelkeep.services.evaluation.card import card as render

    text = render(connection(), ref)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        out_console().print(f"wrote {output}", markup=False)


def note(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or alias).")],
    message: Annotated[str, typer.Option("--message", "-m", help="The note: why this version, what was rejected, ...")],
    kind: Annotated[Literal["note", "decision", "limitation", "intended-use", "risk"],
                    typer.Option("--kind", help="What it records (shown in the card and show).")] = "note",
    json_out: JsonFlag = False,
) -> None:
    """Record a note or decision on a version (audited; shown in its card)."""
    from modelkeep.cli.remote import connection
    from modelkeep.services.evaluation.records import NoteRequest

    made = connection().evaluations.note(NoteRequest(ref=ref, text=message, kind=kind))
    if json_out:
        emit_json(made.to_dict())
        return
    out_console().print(f"{made.kind} #{made.id} on {made.model}@{made.version}", markup=False)
