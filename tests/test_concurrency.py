"""Eight processes registering versions of one model at once: no error, no duplicate, no loss."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

from modelkeep.services.governance.audit import verify_chain
from modelkeep.services.workspace import Workspace

WRITERS = 8
EACH = 15


def _writer(home: str, db_url: str | None, index: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    if db_url:
        os.environ["MODELKEEP_DB"] = db_url
    from modelkeep.services.workspace import open_workspace

    workspace = open_workspace(Path(home))
    made = []
    try:
        for i in range(EACH):
            view = workspace.registry.register(
                "shared", params={"writer": index, "i": i}, metrics={"auc": 0.5 + i / 100}
            )
            made.append(view.version)
        queue.put((index, made, None))
    except Exception as exc:  # reported to the parent, which fails the test
        queue.put((index, made, f"{type(exc).__name__}: {exc}"))
    finally:
        workspace.close()


def test_concurrent_registration(any_workspace: Workspace) -> None:
    url = any_workspace.config.db_url
    pg_url = url if url.startswith("postgresql") else None
    context = mp.get_context("spawn")
    queue = context.Queue()
    procs = [
        context.Process(target=_writer, args=(str(any_workspace.config.root), pg_url, n, queue))
        for n in range(WRITERS)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=240) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    errors = [err for _, _, err in results if err]
    assert errors == []
    reported = [v for _, made, _ in results for v in made]
    assert len(reported) == WRITERS * EACH
    assert len(set(reported)) == len(reported)  # no duplicate number handed out
    stored = [v.version for v in any_workspace.registry.list_versions("shared")]
    assert sorted(stored) == sorted(reported)  # no lost write
    # Each writer's params survived with its own version (no write landed on another row).
    for view in any_workspace.registry.list_versions("shared"):
        assert set(view.params) == {"writer", "i"}
    # The audit chain stayed one unbroken chain under concurrent appends.
    chain = verify_chain(any_workspace.db)
    assert chain["ok"] and chain["entries"] == WRITERS * EACH + 1  # and the model's creation, once, by whoever made it
