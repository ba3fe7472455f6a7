"""Eight processes adding different partitions of one dataset at once: every partition is in
``@latest`` (the commit is compare-and-set on the head); the same partition written by two
writers on the same head is a conflict for the second (issue 10)."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from modelkeep.errors import Conflict
from modelkeep.services.workspace import Workspace

WRITERS = 8


def _writer(home: str, db_url: str | None, folder: str, index: int, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    if db_url:
        os.environ["MODELKEEP_DB"] = db_url
    from modelkeep.services.workspace import open_workspace

    workspace = open_workspace(Path(home))
    try:
        view = workspace.datasets.add(Path(folder), "events", partition=f"date=2026-11-{index + 1:02d}")
        queue.put((index, view.number, None))
    except Exception as exc:  # reported to the parent, which fails the test
        queue.put((index, None, f"{type(exc).__name__}: {exc}"))
    finally:
        workspace.close()


def test_concurrent_partition_writers_keep_every_partition(any_workspace: Workspace, tmp_path: Path) -> None:
    url = any_workspace.config.db_url
    pg_url = url if url.startswith("postgresql") else None
    folders = []
    for n in range(WRITERS):
        folder = tmp_path / f"part{n}"
        folder.mkdir()
        (folder / "rows.csv").write_text(f"writer,{n}\n" * (n + 1))
        folders.append(folder)
    context = mp.get_context("spawn")
    queue = context.Queue()
    procs = [context.Process(target=_writer, args=(str(any_workspace.config.root), pg_url, str(folders[n]), n, queue))
             for n in range(WRITERS)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=240) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert [err for _, _, err in results if err] == []
    latest = any_workspace.datasets.get("events")
    assert sorted(latest.partitions) == [f"date=2026-11-{n + 1:02d}" for n in range(WRITERS)]
    assert latest.number == WRITERS and sorted(n for _, n, _ in results) == list(range(1, WRITERS + 1))
    files = any_workspace.datasets.files("events")
    assert files[f"date=2026-11-0{WRITERS}/rows.csv"].size == len(f"writer,{WRITERS - 1}\n") * WRITERS


def test_same_partition_written_meanwhile_is_a_conflict(workspace: Workspace, tmp_path: Path) -> None:
    ds = workspace.datasets
    for name, text in (("b", "from b"), ("c", "from c"), ("mine", "mine")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "rows.csv").write_text(text)
    ds.add(tmp_path / "b", "events", partition="date=2026-11-02")
    base = ds.get("events")  # what our add read as the head ...
    ds.add(tmp_path / "c", "events", partition="date=2026-11-02")  # ... before another writer changed it
    from modelkeep.services.data.dataset_files import stage

    ours = stage(ds.repo, ds.cache, tmp_path / "mine", key="date", partition="date=2026-11-02")
    with pytest.raises(Conflict, match=r"date=2026-11-02 of dataset events was written by events@2"):
        ds._commit_partition("events", "date", "date=2026-11-02", ours.root, base, "", ours)
    assert ds.get("events").number == 2  # the other writer's version stands; nothing of ours committed
