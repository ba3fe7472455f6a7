"""Which registry a command talks to: the server named by ``MODELKEEP_URL`` (with
``MODELKEEP_TOKEN``), or the local repository."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelkeep.client import RemoteRegistry


def server_client() -> RemoteRegistry | None:
    """A client for the server in ``MODELKEEP_URL``, or None to work on the local repository."""
    if not os.environ.get("MODELKEEP_URL"):
        return None
    from modelkeep.client import RemoteRegistry

    return RemoteRegistry(os.environ["MODELKEEP_URL"], os.environ.get("MODELKEEP_TOKEN"))
