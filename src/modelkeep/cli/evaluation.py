"""``mk eval``, ``mk gate``, ``mk card`` and ``mk note``: versions judged on pinned data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from modelkeep.cli.output import emit_json, json_text, out_console
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
    from modelkeep.services.evaluation.score_process import ScoringProcess

    with ScoringProcess() as scoring:  # it imports the model libraries while this process opens the repository
        from modelkeep.cli.remote import connection
        from modelkeep.services.evaluation.gate import gate as run

        with _verdicts_own_1_and_2():
            conn = connection()
            result = run(conn, ref, against, _policy(policy), allow_pickle=allow_pickle, trusted=trust, process=scoring)
    from modelkeep.services.evaluation.gate import markdown

    with _verdicts_own_1_and_2():
        md = markdown(result, conn.registry.get(result.candidate).code)
    if report_file is not None:
        report_file.write_text(md)
    if report == "json":
        emit_json(result.to_dict())
    elif report == "md":
        typer.echo(md, nl=False)
    else:
        out_console().print(f"{result.verdict}: {result.candidate} against {result.baseline} on {result.data}",
                            markup=False)
        _print_results(result)
    raise typer.Exit(result.exit_code)


def card(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or alias).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the card here (default: print it).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Render the version's model card (Markdown with Hugging Face model-index front matter) from the registry;
    with --json, its front matter and what it is made from."""
    from modelkeep.cli.remote import connection, local_read
    from modelkeep.services.evaluation.card import card_parts
    from modelkeep.services.evaluation.fast_reads import card_parts as local_card_parts

    parts = local_read(local_card_parts, ref) or card_parts(connection(), ref)
    if json_out and output is None:
        emit_json(parts.to_dict())
        return
    text = json_text(parts.to_dict()) if json_out else parts.render()
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


branch_app = typer.Typer(help="Branches of a model: lines of versions merged back by evaluation.", no_args_is_help=True)


@branch_app.command("create")
def branch_create(
    line: Annotated[str, typer.Argument(help="MODEL~BRANCH, e.g. fraud~wide-trees.")],
    base: Annotated[str | None, typer.Option("--from", help="The version of main it forks from (default: latest).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Create a branch: register on it with mk model register MODEL --branch BRANCH."""
    from modelkeep.cli.remote import connection

    made = connection().branches.create(line, base)
    if json_out:
        emit_json(made.to_dict())
        return
    out_console().print(f"created {made.line} from {made.model}@{made.base}", markup=False)


@branch_app.command("list")
def branch_list(model: Annotated[str, typer.Argument(help="The model.")], json_out: JsonFlag = False) -> None:
    """The model's lines: main (and whether it is protected) and each branch with its head and base."""
    from modelkeep.cli.remote import connection, local_read
    from modelkeep.services.models.fast_reads import branches

    rows = local_read(branches, model)
    if rows is None:
        rows = connection().branches.list(model)
    if json_out:
        emit_json([r.to_dict() for r in rows])
        return
    out = out_console()
    for r in rows:
        merged = f", merged into {r.merged['version']}" if r.merged else ""
        extra = " (protected: merge only)" if r.protected else f" from {r.model}@{r.base}" if r.base else ""
        out.print(f"{r.line:<40} head {r.head or '-'}{extra}{merged}", markup=False)


@branch_app.command("delete")
def branch_delete(line: Annotated[str, typer.Argument(help="MODEL~BRANCH.")]) -> None:
    """Delete a branch (its versions stay, as versions of MODEL~BRANCH, until retention drops them)."""
    from modelkeep.cli.remote import connection

    connection().branches.delete(line)
    out_console().print(f"deleted branch {line}", markup=False)


@branch_app.command("protect")
def branch_protect(
    model: Annotated[str, typer.Argument(help="The model whose main line takes versions only by merge.")],
    off: Annotated[bool, typer.Option("--off", help="Let register write to main again.")] = False,
) -> None:
    """Protect main: versions reach it only by mk merge (admin)."""
    from modelkeep.cli.remote import connection

    connection().branches.protect(model, not off)
    out_console().print(f"main of {model} is {'open to register' if off else 'protected: merge only'}", markup=False)


def merge(
    branch: Annotated[str, typer.Argument(help="MODEL~BRANCH whose head to merge.")],
    policy: Annotated[Path, typer.Option("--policy", help="merge.yaml: data, rules (the gate's shape).")],
    into: Annotated[str | None, typer.Option("--into", help="main (default) or another branch.")] = None,
    report: Annotated[Literal["md", "json"] | None, typer.Option("--report", help="Print md or json.")] = None,
    trust: Trust = None,
    allow_pickle: AllowPickle = False,
) -> None:
    """Merge a branch head into main when it wins on the policy's pinned dataset: both heads
    scored in one comparison, paired bootstrap intervals per rule; exit 0 merged, 1 rejected,
    2 inconclusive, 6 could not run. Parameters both lines changed are reported and take the
    evaluated winner's values."""
    from modelkeep.services.evaluation.score_process import ScoringProcess

    with ScoringProcess() as scoring:  # it imports the model libraries while this process opens the repository
        from modelkeep.cli.remote import connection
        from modelkeep.services.evaluation.merge import merge as run

        with _verdicts_own_1_and_2():
            outcome = run(connection(), branch, _policy(policy), into=into, allow_pickle=allow_pickle, trusted=trust,
                          process=scoring)
    from modelkeep.services.evaluation.gate import markdown

    if report == "json":
        emit_json(outcome.to_dict())
    elif report == "md":
        typer.echo(markdown(outcome.comparison), nl=False)
    else:
        out = out_console()
        c = outcome.comparison
        verb = f"merged as {outcome.merged['ref']}" if outcome.merged else "rejected" if c.verdict == "fail" else "not merged"
        out.print(f"{c.verdict}: {c.candidate} into {outcome.into} (head {c.baseline}) on {c.data}: {verb}", markup=False)
        _print_results(c)
        for conflict in outcome.conflicts:
            out.print(f"  conflict   {conflict['param']}: base {conflict['base']!r}, branch {conflict['branch']!r}, "
                      f"{outcome.into} {conflict['target']!r}" + (f" -> {conflict['resolved']!r}" if "resolved" in conflict
                                                                  else ""), markup=False)
    raise typer.Exit(outcome.comparison.exit_code)


@contextmanager
def _verdicts_own_1_and_2() -> Iterator[None]:
    """For mk gate and mk merge, exit codes 1 and 2 are verdicts: an error that would exit so exits 6."""
    try:
        yield
    except ModelKeepError as exc:
        if exc.exit_code in (1, 2):
            raise GateCouldNotRun(str(exc), hint=exc.hint) from exc
        raise


def _print_results(comparison: Any) -> None:
    out = out_console()
    for r in comparison.results:
        out.print(f"  {r.verdict:<12} {r.metric} [{r.slice}] {r.baseline:.4f} -> {r.candidate:.4f}: {r.why}", markup=False)


def _policy(path: Path) -> Any:
    from modelkeep.errors import InvalidInput
    from modelkeep.services.evaluation.compare import load_policy

    try:
        return load_policy(path.read_text(), str(path))
    except OSError as exc:
        raise InvalidInput(f"cannot read the policy {path}: {exc.strerror}") from None


def watch(
    name: Annotated[str, typer.Argument(help="The model (or, with --dataset, the dataset) to watch.")],
    to: Annotated[str, typer.Option("--to", help="Where to post: a webhook or Slack incoming-webhook URL.")],
    events: Annotated[list[str] | None, typer.Option("--events", help="Event types (default: version.created, "
                                                     "alias.moved, promotion.applied, rollback).")] = None,
    dataset: Annotated[bool, typer.Option("--dataset", help="NAME is a dataset.")] = False,
    json_body: Annotated[bool, typer.Option("--json-body", help="Post the raw event JSON, not plain words.")] = False,
    bump: Annotated[list[str] | None, typer.Option("--bump", help="Of new versions, only these bumps (repeat): "
                                                   "major, minor (inputs, data sources), patch, data, experiment.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Hear about one model or dataset: each event as a message in plain words, built from the diff
    (input features, data sources, metrics, parameters that changed), Slack-compatible."""
    from modelkeep.cli.remote import connection

    default = ["dataset_version.created"] if dataset else ["version.created", "alias.moved", "promotion.applied", "rollback"]
    made = connection().admin.add_webhook(to, events or default, format="json" if json_body else "words",
                                          subject=f"{'dataset' if dataset else 'model'}:{name}", bumps=bump)
    if json_out:
        emit_json(made)
        return
    out_console().print(f"watching {name} ({', '.join(made['events'])}) → {to}; webhook #{made['id']}, "
                        f"signing secret {made['secret']}", markup=False)
