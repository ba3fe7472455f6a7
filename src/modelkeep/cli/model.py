"""``mk model ...``: register, list, show, search, diff, alias, delete."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelkeep.cli.output import emit_json, err_console, out_console
from modelkeep.cli.remote import connection

if TYPE_CHECKING:
    from modelkeep.services.interface import RegistryService

app = typer.Typer(help="Register, find, compare and pin model versions.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _registry() -> RegistryService:
    return connection().registry


def _document(path: Path | None, what: str) -> Any:
    if path is None:
        return None
    from modelkeep.services.models.metadata import load_document

    return load_document(path, what)


@app.command()
def register(
    name: Annotated[str, typer.Argument(help="Model name.")],
    path: Annotated[Path | None, typer.Argument(help="Artifact file or folder.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="K=V hyperparameter.")] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="K=V, K[SPLIT]=V or K[DATASET:SPLIT]=V.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="K=V tag.")] = None,
    data: Annotated[list[str] | None, typer.Option("--data", help="Training dataset NAME@N.")] = None,
    parent: Annotated[str | None, typer.Option(help="Parent version (default: latest).")] = None,
    bump: Annotated[
        str, typer.Option(help="auto, major, minor, patch, data or experiment.")
    ] = "auto",
    version: Annotated[str | None, typer.Option("--version", help="Exact version to use.")] = None,
    experiment: Annotated[bool, typer.Option("--experiment", help="Mark as an experiment.")] = False,
    signature: Annotated[Path | None, typer.Option(help="Signature JSON/YAML file.")] = None,
    metadata: Annotated[Path | None, typer.Option(help="Structured metadata JSON/YAML file.")] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    composite: Annotated[
        list[str] | None, typer.Option("--composite", help="Component NAME@VERSION (repeat).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Composite config file.")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Training data CSV (with a header) to "
                                                  "profile as the monitoring baseline.")] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Register on this branch (mk branch create).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Register a new version; the bump part is proposed from the differences with its parent."""
    from modelkeep.services.models.inputs import parse_pairs

    view = _registry().register(
        f"{name}~{branch}" if branch and branch != "main" else name,
        path,
        params=parse_pairs(param or [], "param"),
        metrics=parse_pairs(metric or [], "metric", check_keys=False),
        tags=parse_pairs(tag or [], "tag"),
        data=data or [],
        parent=parent,
        bump=bump,
        version=version,
        experiment=experiment,
        signature=_document(signature, "signature"),
        metadata=_with_baseline(_document(metadata, "metadata"), baseline),
        description=description,
        components=composite or [],
        composite_config=_document(config, "composite config"),
    )
    parent_data = _registry().get(view.parent_ref).data if view.parent_ref and not data else []
    if parent_data and not view.data:  # said even with --json (on stderr): lineage lost without a word is a defect
        err_console().print(f"note: the parent {view.parent_ref} was trained on {', '.join(parent_data)}; "
                            f"{view.ref} records no training data", markup=False, soft_wrap=True)
        err_console().print("hint: register with --data NAME@N to record what it was trained on", markup=False)
    if json_out:
        emit_json(view.to_dict())
        return
    out = out_console()
    out.print(f"Registered [bold]{view.ref}[/bold] ({view.bump} bump)")
    for reason in view.reasons:
        out.print(f"  - {reason}", markup=False)


def _with_baseline(metadata: Any, baseline: Path | None) -> Any:
    """``metadata`` with ``baseline``: the profile of a CSV table (see modelkeep.stats.profile)."""
    if baseline is None:
        return metadata
    import csv

    from modelkeep.errors import InvalidInput
    from modelkeep.stats.profile import profile

    try:
        with baseline.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            rows = [row for row in reader if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"cannot read the baseline CSV {baseline}: {exc}") from exc
    if not header or not rows:
        raise InvalidInput(f"baseline CSV {baseline} needs a header row and at least one data row")
    if any(len(row) != len(header) for row in rows):
        raise InvalidInput(f"baseline CSV {baseline}: every row needs {len(header)} values, like the header")
    return {**(metadata or {}), "baseline": profile(rows, names=header)}


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Argument(help="List this model's versions.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """List models, or the versions of one model."""
    if name is None:
        from modelkeep.cli.remote import local_read
        from modelkeep.services.models.fast_reads import list_models

        models = local_read(list_models)  # sqlite3 on a personal registry: ~0.2 s instead of ~0.75
        if models is None:
            models = _registry().list_models()
        if json_out:
            emit_json([m.to_dict() for m in models])
            return
        from rich.table import Table

        table = Table()
        for column in ("model", "versions", "latest", "aliases"):
            table.add_column(column)
        shown: set[str] = set()
        for m in sorted(models, key=lambda m: m.name.partition("~")[::2]):  # branch lines under their model
            aliases = ", ".join(f"{a}→{v}" for a, v in m.aliases.items())
            main, _, branch = m.name.partition("~")
            label = f"  └ ~{branch}" if branch and main in shown else m.name
            shown.add(m.name)
            table.add_row(label, str(m.versions), m.latest or "-", aliases)
        out_console().print(table)
        return
    views = _registry().list_versions(name)
    if json_out:
        emit_json([v.to_dict() for v in views])
        return
    from modelkeep.cli.render import versions_table

    out_console().print(versions_table(views))


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME@SPEC: a version, 2.1.*, ^2.1, latest or an alias.")],
    json_out: JsonFlag = False,
) -> None:
    """Show one version: params, metrics, lineage, bump and its reasons."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.models.fast_reads import show_version

    view = local_read(show_version, ref) or _registry().get(ref)  # a miss: the normal path says what is missing
    if json_out:
        emit_json(view.to_dict())
        return
    from modelkeep.cli.render import version_table

    out_console().print(version_table(view))


@app.command()
def search(
    filter_text: Annotated[
        str, typer.Argument(metavar="FILTER", help="e.g. \"metrics.auc > 0.9 and tags.team = 'risk'\"")
    ] = "",
    order_by: Annotated[str | None, typer.Option("--order-by", help="FIELD [asc|desc] or -FIELD.")] = None,
    limit: Annotated[int, typer.Option(help="Results per page (1-1000).")] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Search versions by name, version, tags, params, metrics, aliases and dates."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.models.fast_reads import search as search_local

    page = (local_read(search_local, filter_text, order_by=order_by, limit=limit, cursor=cursor)  # sqlite3: ~0.2 s
            or _registry().search(filter_text, order_by=order_by, limit=limit, cursor=cursor))
    if json_out:
        emit_json(page.to_dict())
        return
    from modelkeep.cli.render import versions_table

    out_console().print(versions_table(page.results))
    if page.next_cursor:
        err_console().print(f"more: --cursor {page.next_cursor}", markup=False)


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="NAME@SPEC")],
    b: Annotated[str, typer.Argument(help="NAME@SPEC")],
    json_out: JsonFlag = False,
) -> None:
    """Compare two versions: params, metrics (with deltas), signature, data, code, artifacts."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.models.fast_reads import diff as diff_of

    document = local_read(diff_of, a, b) or _registry().diff(a, b)
    if json_out:
        emit_json(document)
        return
    from modelkeep.cli.render import diff_tables

    for table in diff_tables(document):
        out_console().print(table)


@app.command()
def alias(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME with --delete).")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Point an alias (e.g. production) at a version, or remove it."""
    registry = _registry()
    if delete:
        registry.delete_alias(ref.partition("@")[0], alias_name)
        if json_out:
            emit_json({"name": ref.partition("@")[0], "alias": alias_name, "deleted": True})
        else:
            err_console().print(f"Removed alias {alias_name} of {ref.partition('@')[0]}", markup=False)
        return
    view = registry.set_alias(ref, alias_name)
    if json_out:
        emit_json({"name": view.name, "alias": alias_name, "version": view.version})
        return
    out_console().print(f"{view.name}@{alias_name} → {view.version}", markup=False)


@app.command()
def delete(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, or NAME with --all.")],
    all_versions: Annotated[bool, typer.Option("--all", help="Delete the model and every version.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Delete a version (refused while an alias holds it or a composite pins it)."""
    from modelkeep.errors import InvalidInput

    registry = _registry()
    if all_versions:
        if "@" in ref:
            raise InvalidInput("--all takes a model NAME, not NAME@VERSION")
        if not yes and not typer.confirm(f"Delete model {ref} and all its versions?"):
            raise typer.Exit(1)
        count = registry.delete_model(ref)
        if json_out:
            emit_json({"name": ref, "deleted_versions": count})
        else:
            err_console().print(f"Deleted model {ref} ({count} versions)", markup=False)
        return
    if "@" not in ref:
        raise InvalidInput(f"give NAME@VERSION to delete one version, or --all to delete model {ref}")
    view = registry.delete_version(ref)
    if json_out:
        emit_json({"name": view.name, "version": view.version, "deleted": True})
    else:
        err_console().print(f"Deleted {view.ref}", markup=False)


@app.command()
def rename(
    name: Annotated[str, typer.Argument(help="The model's name now.")],
    new_name: Annotated[str, typer.Argument(help="Its new name (its branch lines NAME~BRANCH follow it).")],
    json_out: JsonFlag = False,
) -> None:
    """Rename a model: its versions, aliases, lineage, runs, branches, protection, role bindings,
    retention, holds and watches follow; refused while a deployment pins one of its versions."""
    lines = _registry().rename_model(name, new_name)
    if json_out:
        emit_json({"name": new_name, "from": name, "lines": lines})
    else:
        err_console().print(f"Renamed {name} to {new_name}" + (f" (and {', '.join(lines)})" if lines else ""), markup=False)


@app.command()
def download(
    ref: Annotated[str, typer.Argument(help="NAME@SPEC: a version, 2.1.*, ^2.1, latest or an alias.")],
    to: Annotated[Path, typer.Option("--to", help="New path: a folder for a folder artifact, else a file.")],
    json_out: JsonFlag = False,
) -> None:
    """Write a version's model files to a new path, every chunk verified (from the server when
    MODELKEEP_URL is set). Nothing existing is overwritten."""
    from modelkeep.cli.progress import byte_progress
    from modelkeep.services.model_files import download as download_files

    conn = connection()
    view = conn.registry.get(ref)
    with byte_progress(f"download {view.ref}", view.artifact_size) as progress:
        path = download_files(conn.store, view, to, progress.advance)
    if json_out:
        emit_json({"ref": view.ref, "digest": view.digest, "kind": view.artifact_kind, "size": view.artifact_size,
                   "path": str(path)})
        return
    err_console().print(f"Downloaded {view.ref} ({view.artifact_size:,} bytes) to {path}", markup=False)
