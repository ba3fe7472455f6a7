"""``mk push``, ``mk pull`` and ``mk verify``: the store as a whole.

Through a server (``MODELKEEP_URL``) they act on the server's store: it verifies itself, or
pushes to / pulls from a remote named in its own configuration (an admin's command). Locally,
push and pull read the registry's roots without SQLAlchemy where they can, which is why they
do not open a connection there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from modelkeep.cli.output import emit_json, err_console, out_console
from modelkeep.cli.progress import byte_progress
from modelkeep.units import human_bytes

if TYPE_CHECKING:
    from modelkeep.config import RepoConfig
    from modelkeep.services.data.roots import Root
    from modelkeep.store.repository import Repository

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _roots_and_store() -> tuple[RepoConfig, list[Root], Repository]:
    """(config, registry roots, local repository), without SQLAlchemy on a SQLite registry."""
    from modelkeep.cli.remote import local_workspace
    from modelkeep.config import find_root, load_config
    from modelkeep.services.data.roots import fast_roots, registry_roots
    from modelkeep.store.backends import open_backend
    from modelkeep.store.repository import Repository

    config = load_config(find_root())
    roots = fast_roots(config.db_url)
    if roots is None:
        workspace = local_workspace("mk push/pull")  # (never reached through a server: see _sync)
        return workspace.config, registry_roots(workspace.db), workspace.repo
    from modelkeep.services.governance.audit_keys import mac_key
    from modelkeep.services.workspace import registry_id_of_key

    repo = Repository.open(open_backend(config.store_url), create=True)
    repo.registry_id = registry_id_of_key(mac_key(config)[0])
    return config, roots, repo


def _sync(direction: Literal["push", "pull"], remote: str | None) -> dict[str, Any]:
    from modelkeep.cli.remote import connection, server_url

    if server_url():
        err_console().print(f"{direction}: the server's store, on the server ...", markup=False)
        return connection().admin.sync(direction, remote)
    from modelkeep.services.data import sync

    config, roots, repo = _roots_and_store()
    with byte_progress(direction) as progress:
        return (sync.push if direction == "push" else sync.pull)(config, roots, repo, remote, progress.advance)


def push(
    remote: Annotated[str | None, typer.Argument(help="Remote name (config remote.NAME) or URL; default origin.")] = None,
    json_out: JsonFlag = False,
) -> None:
    """Copy the objects of every dataset and model version to a remote store (only missing ones)."""
    result = _sync("push", remote)
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
    result = _sync("pull", remote)
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
    from modelkeep.cli.remote import connection

    with byte_progress("verify") as progress:
        result = connection().admin.verify(sample, progress.advance)
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
