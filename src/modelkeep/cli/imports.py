"""``mk import mlflow``: bring an MLflow server's experiments, runs, models, versions, aliases and
files over (into this repository, or through ``mk server``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from modelkeep.cli.output import emit_json, err_console, out_console
from modelkeep.units import human_bytes

import_app = typer.Typer(help="Bring another system's history over.", no_args_is_help=True)


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


@import_app.command("mlflow")
def mlflow(
    source: Annotated[str, typer.Option(
        "--from", help="An MLflow server's URL (its token: MLFLOW_TRACKING_TOKEN), or its database (sqlite:///mlflow.db).")],
    artifacts: Annotated[Path | None, typer.Option(
        "--artifacts", help="With a database: the artifact root (mlflow server --artifacts-destination).")] = None,
    experiments: Annotated[str | None, typer.Option("--experiments", help="Only these experiments (comma-separated).")] = None,
    models: Annotated[str | None, typer.Option("--models", help="Only these registered models (comma-separated).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Copy experiments, runs (params, metric histories, tags), registered models, versions with their
    files, and aliases, from a running MLflow server or from its database and artifact root. Re-running
    copies only what is new."""
    from modelkeep.cli.remote import connection
    from modelkeep.services.mlflow_database import MlflowDatabase
    from modelkeep.services.mlflow_import import MlflowServer, MlflowSource, import_mlflow

    server: MlflowSource
    if source.startswith(("http://", "https://")):
        server = MlflowServer(source, os.environ.get("MLFLOW_TRACKING_TOKEN"))
    else:
        server = MlflowDatabase(source, artifacts)
    status = err_console().status("importing ...") if sys.stderr.isatty() else None
    try:
        if status is not None:
            status.start()
        summary = import_mlflow(connection(), server, experiments=_names(experiments), models=_names(models),
                                step=(lambda text: status.update(f"importing {text}")) if status else None)
    finally:
        if status is not None:
            status.stop()
        server.close()
    if json_out:
        emit_json(summary.to_dict())
        return
    out = out_console()
    out.print(f"from {summary.source}: {summary.experiments} experiments, {summary.runs_new} runs copied "
              f"({summary.runs_skipped} already here), {summary.models} models, {summary.versions_new} versions copied "
              f"({summary.versions_skipped} already here, {human_bytes(summary.bytes)} of files), "
              f"{summary.aliases_set} aliases set", markup=False)
    for line in summary.refused:
        err_console().print(f"not copied: {line}", markup=False)
