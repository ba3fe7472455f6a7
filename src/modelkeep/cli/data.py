"""``mk data ...``: add, status, diff, log, ls, cat, checkout."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelkeep.cli.output import emit_json, err_console, out_console
from modelkeep.cli.progress import byte_progress
from modelkeep.units import human_bytes

if TYPE_CHECKING:
    from modelkeep.services.interface import DatasetsService

app = typer.Typer(help="Version datasets: files and folders, chunked and deduplicated.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _datasets() -> DatasetsService:
    """The datasets of the connection: the local repository's, or the server's (MODELKEEP_URL)."""
    from modelkeep.cli.remote import connection

    return connection().datasets


@app.command()
def add(
    path: Annotated[Path, typer.Argument(help="File or folder to version.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    message: Annotated[str, typer.Option("-m", "--message", help="What changed.")] = "",
    partition_by: Annotated[
        str | None, typer.Option("--partition-by", help="Partition key of the top-level KEY=VALUE folders.")
    ] = None,
    partition: Annotated[
        str | None, typer.Option("--partition", help="PATH is this one partition (KEY=VALUE); others carry over.")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Add a new version of a dataset (only changed chunks are stored)."""
    with byte_progress(f"adding {path.name or path}") as progress:
        view = _datasets().add(
            path,
            name,
            message=message,
            partition_by=partition_by,
            partition=partition,
            progress=progress.advance,
            on_total=progress.set_total,
        )
    if json_out:
        emit_json(view.to_dict())
        return
    out = out_console()
    if view.unchanged:
        out.print(f"{view.ref} unchanged: {path} matches it ({view.files:,} files, {human_bytes(view.bytes)})", markup=False)
        return
    out.print(
        f"Added [bold]{view.ref}[/bold] {view.digest[:12]}: {view.files:,} files, {human_bytes(view.bytes)}; "
        f"new {human_bytes(view.bytes_new)}, stored {human_bytes(view.bytes_stored)}"
    )
    if view.partitions:
        out.print(f"  partitions: {', '.join(view.partitions)}", markup=False)


def _changes_table(doc: dict, title: str) -> None:  # type: ignore[type-arg]
    from rich.table import Table

    table = Table(title=title)
    for column in ("change", "path", "size"):
        table.add_column(column)
    for row in doc["added"]:
        table.add_row("added", row["path"], human_bytes(row["size"]))
    for row in doc["removed"]:
        table.add_row("removed", row["path"], human_bytes(row["size"]))
    for row in doc["modified"]:
        table.add_row("modified", row["path"], f"{human_bytes(row['size_a'])} → {human_bytes(row['size_b'])}")
    out_console().print(table)


@app.command()
def status(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    path: Annotated[Path | None, typer.Argument(help="Folder or file to compare (default: where it was added from).")] = None,
    json_out: JsonFlag = False,
) -> None:
    """What changed on disk since the latest version (hashes only files whose stat changed)."""
    from modelkeep.cli.remote import server_url
    from modelkeep.services.data.data_status import fast_status

    doc = None if server_url() else fast_status(name, path)  # the fast path reads a local repository's files
    if doc is None:
        doc = _datasets().status(name, path)
    if json_out:
        emit_json(doc)
        return
    if doc["clean"]:
        how = " (read what its watcher saw change)" if doc.get("watched") else ""
        out_console().print(f"{doc['path']} matches {doc['version']}{how}", markup=False)
        return
    _changes_table(doc, f"{doc['path']} vs {doc['version']}")


@app.command()
def watch(
    folder: Annotated[Path | None, typer.Argument(
        help="The data folder to watch (where a dataset is added from); none: list the running watchers.")] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the folder's watcher (no folder: every one).")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Watch a folder (Linux inotify) so `mk data status` reads only the files that changed."""
    from modelkeep.services.data.data_status import watch_folder

    doc = watch_folder(folder, stop=stop)
    if json_out:
        emit_json(doc)
        return
    out = out_console()
    if folder is None:
        for w in doc["watchers"]:
            state = "stopped" if w.get("stopped") else f"pid {w['pid']}, {w['folders_watched']} folders"
            out.print(f"{w['folder']}  ({state})", markup=False)
        if not doc["watchers"]:
            out.print("no watcher is running for this repository", markup=False)
    elif stop:
        out.print(f"stopped the watcher of {doc['folder']}" if doc["stopped"]
                  else f"no watcher was running for {doc['folder']}", markup=False)
    else:
        verb = "watching" if doc["started"] else "already watching"
        out.print(f"{verb} {doc['folder']} ({doc['folders_watched']} folders, pid {doc['pid']}); "
                  f"stop with: mk data watch {folder} --stop", markup=False)


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="NAME@N")],
    b: Annotated[str, typer.Argument(help="NAME@N")],
    json_out: JsonFlag = False,
) -> None:
    """Files added, removed and modified between two versions; row counts for CSV and Parquet."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.data.dataset_diff import diff_dataset_versions
    from modelkeep.services.data.fast_reads import dataset_diff

    doc = local_read(dataset_diff, a, b)
    if doc is None:
        doc = diff_dataset_versions(_datasets(), a, b)
    if json_out:
        emit_json(doc)
        return
    _changes_table(doc, f"{doc['a']} → {doc['b']}")
    for path, rows in doc["rows"].items():
        out_console().print(
            f"{path}: rows {rows['rows_a']:,} → {rows['rows_b']:,} (+{rows['added']:,} / -{rows['removed']:,})",
            markup=False,
        )


@app.command()
def log(name: Annotated[str, typer.Argument()], json_out: JsonFlag = False) -> None:
    """The versions of a dataset, newest first."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.data.fast_reads import dataset_log

    views = local_read(dataset_log, name)
    if views is None:
        views = _datasets().log(name)
    if json_out:
        emit_json([v.to_dict() for v in views])
        return
    from rich.table import Table

    table = Table()
    for column in ("version", "digest", "files", "size", "new", "stored", "created", "message"):
        table.add_column(column)
    for v in views:
        table.add_row(
            str(v.number),
            v.digest[:12],
            f"{v.files:,}",
            human_bytes(v.bytes),
            human_bytes(v.bytes_new),
            human_bytes(v.bytes_stored),
            f"{v.created_at:%Y-%m-%d %H:%M}",
            v.message,
        )
    out_console().print(table)


@app.command("ls")
def ls(ref: Annotated[str, typer.Argument(help="NAME@N")], json_out: JsonFlag = False) -> None:
    """The files of a dataset version."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.data.fast_reads import dataset_files

    files = local_read(dataset_files, ref)
    if files is None:
        files = _datasets().files(ref)
    if json_out:
        emit_json([{"path": p, "size": e.size, "digest": e.id} for p, e in files.items()])
        return
    for path, entry in files.items():
        sys.stdout.write(f"{entry.size:>14,}  {path}\n")


@app.command()
def cat(
    ref: Annotated[str, typer.Argument(help="NAME@N")],
    file: Annotated[str | None, typer.Argument(help="Path inside the version.")] = None,
) -> None:
    """Write one file of a dataset version to stdout (verified)."""
    from modelkeep.cli.remote import local_read
    from modelkeep.services.data.fast_reads import dataset_cat

    out = sys.stdout.buffer
    contents = local_read(dataset_cat, ref, file)  # sqlite3 and the store: ~0.2 s instead of ~0.9
    for data in contents if contents is not None else _datasets().cat(ref, file):
        out.write(data)
    out.flush()


@app.command()
def checkout(
    ref: Annotated[str, typer.Argument(help="NAME@N")],
    to: Annotated[Path, typer.Option("--to", help="Destination folder.")],
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Remove files an earlier checkout of this dataset wrote that the version does not hold "
            "(unchanged ones only; anything else is kept and listed).",
        ),
    ] = False,
    force: Annotated[
        list[str] | None,
        typer.Option(
            "--force",
            help="PATH (relative to --to) that may be overwritten or pruned although it is not an unchanged "
            "file of an earlier checkout; repeat for several.",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Materialize a dataset version (fresh copies, every chunk verified before the folder is touched)."""
    datasets = _datasets()
    view = datasets.get(ref)
    with byte_progress(f"checkout {view.ref}", view.bytes) as progress:
        view, result = datasets.checkout(ref, to, progress.advance, prune=prune, force=force)
    if json_out:
        emit_json(
            {
                "ref": view.ref,
                "to": str(to),
                "files": result.files,
                "written": result.written,
                "bytes": view.bytes,
                "removed": result.removed,
                "kept": result.kept,
            }
        )
        return
    err = err_console()
    err.print(
        f"Checked out {view.ref} to {to} ({result.files:,} files, {human_bytes(view.bytes)}; "
        f"{result.written:,} written, {len(result.removed):,} removed)",
        markup=False,
    )
    if result.kept:
        shown = ", ".join(result.kept[:20]) + (f" and {len(result.kept) - 20} more" if len(result.kept) > 20 else "")
        err.print(
            f"kept {len(result.kept):,} files that are not an unchanged file of an earlier checkout: {shown} "
            "(name one with --force PATH to remove it)",
            markup=False,
        )
