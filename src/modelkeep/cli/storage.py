"""``mk push``, ``mk pull`` and ``mk verify``: the store as a whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelkeep.cli.output import emit_json, err_console, human_bytes, out_console
from modelkeep.cli.progress import byte_progress

if TYPE_CHECKING:
    from modelkeep.config import RepoConfig
    from modelkeep.services.data.roots import Root
    from modelkeep.store.repository import Repository

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _roots_and_store() -> tuple[RepoConfig, list[Root], Repository]:
    """(config, registry roots, local repository), without SQLAlchemy on a SQLite registry."""
    from modelkeep.cli.remote import local_workspace, require_local
    from modelkeep.config import find_root, load_config
    from modelkeep.services.data.roots import fast_roots, registry_roots
    from modelkeep.store.backends import open_backend
    from modelkeep.store.repository import Repository

    require_local("mk push/pull")
    config = load_config(find_root())
    roots = fast_roots(config.db_url)
    if roots is None:
        workspace = local_workspace("mk push/pull")
        return workspace.config, registry_roots(workspace.db), workspace.repo
    return config, roots, Repository.open(open_backend(config.store_url), create=True)


def push(
    remote: Annotated[str | None, typer.Argument(help="Remote name (config remote.NAME) or URL; default origin.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Copy the objects of every dataset and model version to a remote store (only missing ones)."""
    from modelkeep.services.data.sync import push as do_push

    config, roots, repo = _roots_and_store()
    with byte_progress("push") as progress:
        result = do_push(config, roots, repo, remote, progress.advance)
    if json_out:
        emit_json(result)
        return
    err_console().print(
        f"pushed {result['objects']:,} objects ({human_bytes(result['bytes'])}) to {result['remote']}", markup=False
    )


def pull(
    remote: Annotated[str | None, typer.Argument(help="Remote name (config remote.NAME) or URL; default origin.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Fetch the objects this registry references from a remote store (verified on arrival)."""
    from modelkeep.services.data.sync import pull as do_pull

    config, roots, repo = _roots_and_store()
    with byte_progress("pull") as progress:
        result = do_pull(config, roots, repo, remote, progress.advance)
    if json_out:
        emit_json(result)
        return
    err_console().print(
        f"pulled {result['objects']:,} objects ({human_bytes(result['bytes'])}) from {result['remote']}", markup=False
    )
    if result["unavailable"]:
        err_console().print(f"not in the remote either: {', '.join(result['unavailable'])}", markup=False)


def verify(
    sample: Annotated[float | None, typer.Option("--sample", help="Check this percentage of objects.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Read and hash every reachable object; name the versions any damage affects (exit 3)."""
    from modelkeep.cli.remote import local_workspace
    from modelkeep.services.data.integrity import verify as do_verify

    ws = local_workspace("mk verify")
    with byte_progress("verify") as progress:
        result = do_verify(ws.db, ws.repo, sample=sample, progress=progress.advance)
    if json_out:
        emit_json(result)
    elif result["ok"]:
        out_console().print(f"ok: {result['checked']:,} of {result['reachable']:,} reachable objects checked", markup=False)
    else:
        out = err_console()
        for item in result["damaged"]:
            out.print(f"damaged: {item['object']}: {item['error']}", markup=False)
        out.print(f"affected: {', '.join(result['affected'])}", markup=False)
    if not result["ok"]:
        raise typer.Exit(3)
