"""The ``modelkeep`` / ``mk`` command line: the app, set-up commands, and error handling.

Exit codes (``shared/CLI.md``): 0 ok; 1 bad input, not found, conflict or a blocked promotion;
2 usage error; 3 integrity failure; 4 permission denied; 5 the server failed (HTTP 5xx that is
not an integrity error), each read from the error's class (``modelkeep.errors``). Errors print
one ``error: ...`` line (and a hint) on stderr; ``--debug`` shows the traceback instead. Command modules import the services
inside each command so ``mk --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from modelkeep.cli import data as data_commands
from modelkeep.cli import deploy as deploy_commands
from modelkeep.cli import evaluation as evaluation_commands
from modelkeep.cli import governance as governance_commands
from modelkeep.cli import imports as import_commands
from modelkeep.cli import login as login_commands
from modelkeep.cli import model as model_commands
from modelkeep.cli import retention as retention_commands
from modelkeep.cli import runs as run_commands
from modelkeep.cli import server as server_commands
from modelkeep.cli import storage as storage_commands
from modelkeep.cli.output import emit_json, err_console, out_console
from modelkeep.errors import ModelKeepError, PermissionDenied

app = typer.Typer(
    name="mk",
    help="modelkeep: version everything that makes an ML model what it is.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Read and change the repository configuration.", no_args_is_help=True)
app.add_typer(model_commands.app, name="model")
app.add_typer(data_commands.app, name="data")
app.command()(storage_commands.push)
app.command()(storage_commands.pull)
app.command()(storage_commands.verify)
app.command(context_settings={"allow_interspersed_args": False})(run_commands.run)
app.add_typer(run_commands.runs_app, name="runs")
app.add_typer(run_commands.env_app, name="env")
app.command()(run_commands.lineage)
app.command()(run_commands.reproduce)
app.command()(run_commands.export)
for command in ("promote", "approve", "reject", "comment", "withdraw", "rollback", "protect"):
    app.command(name=command)(getattr(governance_commands, command))
app.add_typer(governance_commands.audit_app, name="audit")
app.add_typer(governance_commands.user_app, name="user")
app.add_typer(governance_commands.token_app, name="token")
app.add_typer(governance_commands.role_app, name="role")
app.add_typer(governance_commands.webhook_app, name="webhook")
app.command()(server_commands.server)
for command in ("login", "logout", "whoami"):
    app.command(name=command)(getattr(login_commands, command))
deploy_app = deploy_commands.app
for command in ("create", "update", "status", "history", "rollback", "switch", "export"):
    deploy_app.command(name=command)(getattr(deploy_commands, command))
deploy_app.command(name="list")(deploy_commands.list_)
app.add_typer(deploy_app, name="deploy")
app.command()(deploy_commands.serve)
app.add_typer(config_app, name="config")
app.add_typer(import_commands.import_app, name="import")
app.add_typer(retention_commands.retention_app, name="retention")
app.command()(retention_commands.hold)
app.command()(retention_commands.gc)
app.command()(retention_commands.undelete)
app.command("eval")(evaluation_commands.evaluate)
app.command()(evaluation_commands.gate)
app.command()(evaluation_commands.card)
app.command()(evaluation_commands.note)
app.add_typer(evaluation_commands.branch_app, name="branch")
app.command()(evaluation_commands.merge)
app.command()(evaluation_commands.watch)

_DEBUG = False


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """modelkeep: version everything that makes an ML model what it is."""
    global _DEBUG
    _DEBUG = debug or bool(os.environ.get("MODELKEEP_DEBUG"))
    from modelkeep.cli.remote import reset

    reset()  # one command, one connection, closed when it ends (tests run many commands in one process)
    ctx.call_on_close(reset)
    from modelkeep.store.leases import begin_scope

    ctx.call_on_close(begin_scope())  # leases this command's writes take end after its commits (first)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create .modelkeep/ in.")] = Path("."),
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: SQLite inside).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create .modelkeep/ (config, SQLite database in WAL mode, local object folder)."""
    from modelkeep.services.workspace import init_workspace

    workspace, created = init_workspace(directory, db)
    info = {
        "root": str(workspace.config.root),
        "created": created,
        "db": _safe_url(workspace.config.db_url),
        "store": workspace.config.store_url,
    }
    workspace.close()
    if json_out:
        emit_json(info)
        return
    verb = "Initialized" if created else "Reinitialized (schema checked)"
    out_console().print(f"{verb} modelkeep repository in {info['root']}")
    out_console().print(f"  database: {info['db']}\n  objects:  {info['store']}")


def _safe_url(url: str) -> str:
    """A database URL with any password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@config_app.command("get")
def config_get(
    key: Annotated[str, typer.Argument(help="e.g. db.url, store.url, user.name")],
    global_: Annotated[bool, typer.Option("--global", help="Only your user config, not the repository's.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print one configuration value: the repository's, else your user config's (exit 1 if unset)."""
    from modelkeep.config import find_root, load_config, read_values, user_config_path
    from modelkeep.errors import NotFound

    value = read_values(user_config_path()).get(key) if global_ else load_config(find_root()).get(key)
    if json_out:
        emit_json({"key": key, "value": value})
        return
    if value is None:
        raise NotFound(f"config key {key!r} is not set")
    typer.echo(value)


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="e.g. db.url, store.url, user.name")],
    value: Annotated[str, typer.Argument()],
    global_: Annotated[bool, typer.Option("--global", help="In your user config (every repository), not this one's.")]
    = False,
) -> None:
    """Set a configuration value (the file keeps its comments and layout)."""
    from modelkeep.config import find_root, load_config, set_key, user_config_path

    if global_:
        set_key(user_config_path(), key, value)
        err_console().print(f"{key} = {value} (in {user_config_path()})", markup=False)
        return
    load_config(find_root()).set(key, value)
    err_console().print(f"{key} = {value}", markup=False)


def _fail(message: str, hint: str | None, code: int) -> NoReturn:
    """One ``error:`` line that always says what went wrong (plain writes: nothing to mis-render)."""
    message = " ".join(str(message).split()) or "an error with no message"
    lines = f"error: {message}\n" + (f"hint: {hint}\n" if hint else "")
    try:
        sys.stderr.write(lines)
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: the exit code still tells
        pass
    raise SystemExit(code)


def _keep_large_buffers_in_heap() -> None:
    """Let glibc serve the store's multi-MiB buffers (packs, read spans) from the heap.

    By default each such allocation is a fresh mmap, page-faulted and zeroed anew: on a VM that
    halves the throughput of add and checkout. The process is short-lived, so keeping freed
    memory for reuse costs nothing. Only the CLI does this; the SDK leaves malloc alone.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _audit_refusal(exc: PermissionDenied) -> None:
    """A refused local command is audited (outcome ``denied``), as the server audits refused
    requests; through a server, the server already did. Never masks the refusal itself."""
    from modelkeep.cli.remote import server_url

    if server_url():
        return
    try:
        from modelkeep.services.governance import audit
        from modelkeep.services.workspace import open_workspace

        workspace = open_workspace()
        try:
            with workspace.db.writer() as session, session.begin():
                audit.append(session, exc.actor or workspace.config.user, "access.check",
                             ("cli:mk " + " ".join(a for a in sys.argv[1:3] if not a.startswith("-")))[:300],
                             outcome="denied", source="local", detail={"reason": str(exc), "permission": exc.permission})
        finally:
            workspace.close()
    except Exception:  # no repository, or a database that cannot be written: the refusal stands regardless
        import logging

        logging.getLogger("modelkeep.cli").debug("could not audit a refused command", exc_info=True)


def run() -> None:
    """Console-script entry point: run the app, turning errors into messages and exit codes."""
    _keep_large_buffers_in_heap()
    from modelkeep.cli.coercion import defer_adapters
    from modelkeep.cli.narrow import narrowed

    defer_adapters()
    try:
        narrowed(app, sys.argv[1:])()
    except ModelKeepError as exc:
        if isinstance(exc, PermissionDenied):
            _audit_refusal(exc)
        if _DEBUG:
            raise
        _fail(str(exc), exc.hint, exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", None, 130)
    except Exception as exc:  # an unexpected failure: a message, never a traceback
        if _DEBUG:
            raise
        _fail(f"{type(exc).__name__}: {exc}".rstrip(": "), "run again with --debug for the traceback", 1)


if __name__ == "__main__":  # pragma: no cover
    run()
