"""``mk run -- CMD``, ``mk runs list|show|delete``, ``mk env show|diff`` and ``mk lineage``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer

from modelkeep.cli.output import emit_json, err_console, out_console

runs_app = typer.Typer(help="Runs: list, show and delete.", no_args_is_help=True)
env_app = typer.Typer(help="Captured environments: show one, diff two.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def run(
    command: Annotated[list[str], typer.Argument(help="The command, after --.", metavar="-- CMD [ARGS]...")],
    name: Annotated[str | None, typer.Option("--name", help="Run name (default: the command).")] = None,
    project: Annotated[str, typer.Option("--project", help="Project the run belongs to.")] = "default",
    output: Annotated[
        list[Path] | None, typer.Option("--output", "-o", help="A file or folder the command writes (repeat).")
    ] = None,
) -> None:
    """Run any command as a run: environment, git state, exit status, duration and outputs.

    The command finds its run id in MODELKEEP_RUN_ID, so mk.start_run() inside it logs to the
    same run. Exits with the command's exit status.
    """
    from modelkeep.cli.remote import connection
    from modelkeep.services.runs.run_handle import RUN_ENV

    active = connection().runs.start(name or " ".join(command)[:200], project, command=list(command))
    err_console().print(f"run {active.id}: {' '.join(command)}", markup=False)
    try:
        code = subprocess.run(command, env={**os.environ, RUN_ENV: str(active.id)}).returncode
    except FileNotFoundError:
        active.end("failed", exit_code=127)
        from modelkeep.errors import InvalidInput

        raise InvalidInput(f"command not found: {command[0]}") from None
    except KeyboardInterrupt:
        active.end("killed", exit_code=130)
        raise
    for path in output or []:
        if path.exists():
            active.log_artifact(path)
        else:
            active.warn(f"output {path} was not written by the command", emit=False)
            err_console().print(f"warning: output {path} was not written by the command", markup=False)
    active.end("finished" if code == 0 else "failed", exit_code=code)
    err_console().print(f"run {active.id} {'finished' if code == 0 else f'failed (exit {code})'}", markup=False)
    raise typer.Exit(code)


@runs_app.command("list")
def runs_list(
    project: Annotated[str | None, typer.Option("--project")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    json_out: JsonFlag = False,
) -> None:
    """The latest runs, newest first."""
    from modelkeep.cli.remote import connection, local_read
    from modelkeep.services.runs.fast_reads import list_runs

    rows = local_read(list_runs, project, limit)
    if rows is None:
        rows = connection().runs.list(project, limit)
    if json_out:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table()
    for column in ("id", "name", "project", "status", "exit", "started"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["name"],
            r["project"],
            r["status"],
            "" if r["exit_code"] is None else str(r["exit_code"]),
            r["started_at"],
        )
    out_console().print(table)


@runs_app.command("show")
def runs_show(run_id: Annotated[int, typer.Argument()], json_out: JsonFlag = False) -> None:
    """One run: params, metric series, inputs, artifacts, models, code and seeds."""
    from modelkeep.cli.remote import connection, local_read
    from modelkeep.services.runs.fast_reads import show_run

    doc = (local_read(show_run, run_id) or connection().runs.get(run_id)).to_dict()
    if json_out:
        emit_json(doc)
        return
    doc.pop("environment")
    for key, value in doc.items():
        out_console().print(f"[bold]{key}[/bold]: {value}")


@runs_app.command("delete")
def runs_delete(run_id: Annotated[int, typer.Argument()]) -> None:
    """Delete a run (its model versions and their lineage stay)."""
    from modelkeep.cli.remote import connection

    connection().runs.delete(run_id)
    err_console().print(f"deleted run {run_id}", markup=False)


def _environment_of(ref: str | None) -> tuple[str, dict[str, Any]]:
    if ref is None:
        from modelkeep.capture.environment import capture

        return "this machine, now", capture()
    from modelkeep.cli.remote import connection

    conn = connection()
    text = ref[4:] if ref.startswith("run:") else ref
    if text.isdigit():
        view = conn.runs.get(int(text))
        return f"run {view.id}", view.environment
    version = conn.registry.get(ref)
    return version.ref, version.environment or {}


@env_app.command("show")
def env_show(
    ref: Annotated[str | None, typer.Argument(help="run:ID, a run id, or NAME@VERSION (default: now).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Show a captured environment."""
    label, environment = _environment_of(ref)
    if json_out:
        emit_json(environment)
        return
    from modelkeep.capture.environment import flatten

    out_console().print(f"[bold]{label}[/bold]")
    for key, value in flatten(environment).items():
        if key == "cpu.flags":
            value = f"{len(value)} flags"
        out_console().print(f"  {key} = {value}", markup=False)


@env_app.command("diff")
def env_diff(
    a: Annotated[str, typer.Argument(help="run:ID, a run id, or NAME@VERSION")],
    b: Annotated[str, typer.Argument(help="run:ID, a run id, or NAME@VERSION")],
    json_out: JsonFlag = False,
) -> None:
    """What differs between two environments, most relevant first (GPU, frameworks, numerics flags...)."""
    from modelkeep.capture.environment import diff

    label_a, env_a = _environment_of(a)
    label_b, env_b = _environment_of(b)
    rows = diff(env_a, env_b)
    if json_out:
        emit_json({"a": label_a, "b": label_b, "differences": rows})
        return
    if not rows:
        out_console().print(f"{label_a} and {label_b}: same environment", markup=False)
        return
    from rich.table import Table

    table = Table(title=f"{label_a} → {label_b}")
    for column in ("key", label_a, label_b):
        table.add_column(column)
    for row in rows:
        table.add_row(row["key"], str(row["a"]), str(row["b"]))
    out_console().print(table)


def lineage(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION of a model or dataset (model:/dataset: to disambiguate).")],
    downstream: Annotated[bool, typer.Option("--downstream", help="What depends on it, instead of what made it.")] = False,
    depth: Annotated[int | None, typer.Option("--depth", help="Stop after this many hops.")] = None,
    parents: Annotated[bool, typer.Option("--parents", help="Follow parent_of edges (version history) too.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Upstream (what made it) or downstream (what it feeds) lineage of a version."""
    from modelkeep.cli.remote import connection, local_read
    from modelkeep.services.runs.fast_reads import lineage as lineage_of

    graph = (local_read(lineage_of, ref, downstream=downstream, depth=depth, parents=parents)
             or connection().lineage.lineage(ref, downstream=downstream, depth=depth, parents=parents))
    start = graph["root"]
    if json_out:
        emit_json(graph)
        return
    from rich.markup import escape
    from rich.tree import Tree

    labels = {
        n["id"]: escape(f"{n['kind']}: {n['label']}" + (f" [{', '.join(n['aliases'])}]" if n.get("aliases") else ""))
        for n in graph["nodes"]
    }
    children: dict[str, list[tuple[str, str]]] = {}
    for edge in graph["edges"]:
        parent, child = (edge["src"], edge["dst"]) if downstream else (edge["dst"], edge["src"])
        children.setdefault(parent, []).append((edge["kind"], child))
    tree = Tree(labels[start])
    seen = {start}

    def grow(node: str, branch: Tree) -> None:
        for kind, child in sorted(children.get(node, [])):
            sub = branch.add(f"{kind} ← {labels.get(child, child)}" if not downstream else f"{kind} → {labels.get(child, child)}")
            if child not in seen:
                seen.add(child)
                grow(child, sub)

    grow(start, tree)
    out_console().print(tree)


def reproduce(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION of a model version.")],
    to: Annotated[Path, typer.Option("--to", help="A new folder for code, data, lock and command.")],
    verify: Annotated[bool, typer.Option("--verify", help="Re-run the command and compare the result.")] = False,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Relative/absolute tolerance for metrics.")] = 1e-6,
    json_out: JsonFlag = False,
) -> None:
    """Rebuild what made a version: code commit (+ diff), exact data, requirements lock, command."""
    from modelkeep.cli.remote import connection
    from modelkeep.services.runs.reproduce import reproduce as do_reproduce

    result = do_reproduce(connection(), ref, to, check=verify, tolerance=tolerance)
    if json_out:
        emit_json(result)
    else:
        out = out_console()
        out.print(f"[bold]{result['version']}[/bold] → {result['to']}")
        out.print(f"  code: {result['code'].get('status')} {result['code'].get('commit', '')}", markup=False)
        for data_ref, path in result["data"].items():
            out.print(f"  data: {data_ref} → {path}", markup=False)
        out.print(f"  requirements.lock: {result['requirements']} packages", markup=False)
        out.print(f"  command: {' '.join(result['command'] or ['(none recorded)'])}", markup=False)
        check = result.get("verify")
        if check is not None:
            verdict = "MATCHES" if check["match"] else "DIFFERS"
            out.print(f"  verify: re-run {check['run']} → {check.get('produced')}: [bold]{verdict}[/bold]")
            if check.get("produced"):
                out.print(f"    {check['produced']} is recorded as a reproduction of {result['version']}: "
                          "it never becomes @latest", markup=False)
            if "artifact" in check:
                out.print(f"    artifact digest {'same' if check['artifact']['same'] else 'differs'}", markup=False)
                for m in check["metrics"]:
                    out.print(
                        f"    {m['key']}: {m['a']} → {m['b']} ({'within' if m['within'] else 'OUTSIDE'} tolerance)", markup=False
                    )
                if not check["match"]:
                    for row in check["environment"][:10]:
                        out.print(f"    env {row['key']}: {row['a']} → {row['b']}", markup=False)
            elif check.get("reason"):
                out.print(f"    {check['reason']}", markup=False)
    if result.get("verify") is not None and not result["verify"]["match"]:
        raise typer.Exit(1)


def export(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="openlineage or cyclonedx")],
    ref: Annotated[str, typer.Argument(help="NAME@VERSION of a model version (openlineage: or of a dataset version).")],
    to: Annotated[str | None, typer.Option(
        "--to", help="openlineage: POST the events to this OpenLineage endpoint (a bare URL gets Marquez's "
                     "/api/v1/lineage); the key comes from OPENLINEAGE_API_KEY.")] = None,
    namespace: Annotated[str | None, typer.Option(
        "--namespace", help="openlineage: the namespace of jobs and datasets (default: the repository's "
                            "lineage.namespace, else modelkeep://HOST/PATH of the repository).")] = None,
) -> None:
    """Export lineage: OpenLineage run events (one pair per pipeline step) or a CycloneDX 1.6 ML-BOM (JSON)."""
    from modelkeep.cli.remote import connection
    from modelkeep.errors import InvalidInput
    from modelkeep.services.runs import openlineage, standards

    workspace = connection()
    try:
        if fmt == "openlineage":
            events = openlineage.events(workspace, ref, namespace=namespace)
            openlineage.validate(events)
            if to is None:
                emit_json(events)
            else:
                sent = openlineage.post(events, to, api_key=os.environ.get("OPENLINEAGE_API_KEY"))
                err_console().print(f"posted {sent} OpenLineage events for {ref} to {openlineage.endpoint(to)}")
        elif to is not None:
            raise InvalidInput("--to posts OpenLineage events; a CycloneDX document is printed")
        elif fmt == "cyclonedx":
            document = standards.cyclonedx_bom(workspace, ref)
            standards.validate_cyclonedx(document)
            emit_json(document)
        else:
            raise InvalidInput(f"unknown export format {fmt!r}: use openlineage or cyclonedx")
    except ImportError as exc:
        raise InvalidInput(f"exporting {fmt} needs {exc.name}: pip install 'modelkeep[standards]'") from exc
