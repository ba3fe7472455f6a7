"""Two gateway workers loading the same version cold (issue 11: `mk serve --workers 2` staged into
one `.{digest}.partial` folder and deleted it under each other; one worker stayed failed). Each
loader stages in a folder of its own and the first rename wins; the other's identical copy goes."""

from __future__ import annotations

import threading
from pathlib import Path

from modelkeep.services.model_files import cached_files
from modelkeep.services.workspace import Workspace


def test_concurrent_cold_loads_of_one_version_all_succeed(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for i in range(20):
        (folder / f"part-{i}.bin").write_bytes(bytes([i]) * 50_000)
    view = workspace.registry.register("clf", folder)
    cache = tmp_path / "cache"
    start = threading.Barrier(8)
    results: list[Path] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            start.wait()
            results.append(cached_files(workspace.store, view, cache))
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 8 and len(set(results)) == 1
    target = results[0]
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in folder.iterdir())
    assert (target / "part-7.bin").read_bytes() == bytes([7]) * 50_000
    assert [p.name for p in cache.iterdir()] == [view.digest]  # no staging folder left behind
