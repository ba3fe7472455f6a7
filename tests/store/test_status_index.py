"""``mk data status`` in one scan (issue 17): a folder's status index answers as the long way does
(computing every id and reading the version's tree), reads no tree and hashes only files whose
stat moved, and is not believed when it is damaged or of another version."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from modelkeep.services.data import data_status
from modelkeep.services.workspace import Workspace
from modelkeep.store import ingest as ingest_module
from modelkeep.store.format import ObjectId, TreeEntry
from modelkeep.store.stat_cache import StatCache
from modelkeep.store.status_index import StatusIndex, index_path


def _old(path: Path, seconds: float = 10.0) -> None:
    """Back-date a file: written more than a second before a scan, its stat is trusted."""
    when = time.time() - seconds
    os.utime(path, (when, when))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for d in range(3):
        (data / f"d{d}").mkdir(parents=True)
        for f in range(20):
            (data / f"d{d}" / f"f{f}.txt").write_text(f"{d},{f}\n" * (f + 1))
    (data / "a.txt").write_text("sorted before a/ by a scan, after it by path\n")
    (data / "a").mkdir()
    (data / "a" / "b.txt").write_text("b\n")
    for path in data.rglob("*"):
        _old(path)
    return data


def _index(workspace: Workspace, folder: Path) -> Path:
    assert workspace.datasets.cache.path is not None
    return index_path(workspace.datasets.cache.path.parent, folder)


def _long_way(workspace: Workspace, folder: Path) -> dict[str, Any]:
    _index(workspace, folder).unlink(missing_ok=True)
    return workspace.datasets.status("events", folder)


def test_the_index_answers_as_the_long_way_and_reads_no_tree(workspace: Workspace, folder: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    workspace.datasets.add(folder, "events")
    assert _index(workspace, folder).exists()  # written by the add
    hashed: list[str] = []
    real_add_file = ingest_module.Ingestor.add_file

    def counting(self: ingest_module.Ingestor, item: ingest_module.ScannedFile) -> TreeEntry:
        hashed.append(item.rel)
        return real_add_file(self, item)

    def no_tree(*args: object, **kwargs: object) -> None:
        raise AssertionError("the status index should have answered without the version's tree")

    with monkeypatch.context() as patch:
        patch.setattr(ingest_module.Ingestor, "add_file", counting)
        patch.setattr(data_status, "recorded_files", no_tree)
        assert workspace.datasets.status("events", folder)["clean"] and hashed == []
        touched = folder / "d1" / "f3.txt"
        touched.write_text(touched.read_text())  # same content, new mtime
        _old(touched, 5)
        assert workspace.datasets.status("events", folder)["clean"] and hashed == ["d1/f3.txt"]
        assert workspace.datasets.status("events", folder)["clean"] and hashed == ["d1/f3.txt"]  # refreshed: not again
        changed = folder / "d2" / "f5.txt"
        changed.write_text(changed.read_text().replace("2,", "9,"))  # same size, other content
        (folder / "d0" / "f0.txt").unlink()
        (folder / "new.txt").write_text("new\n")
        for path in (changed, folder / "new.txt"):
            _old(path, 5)
        quick = workspace.datasets.status("events", folder)
    assert not quick["clean"] and quick == _long_way(workspace, folder)
    assert [m["path"] for m in quick["modified"]] == ["d2/f5.txt"]
    assert [a["path"] for a in quick["added"]] == ["new.txt"] and [r["path"] for r in quick["removed"]] == ["d0/f0.txt"]
    assert not _index(workspace, folder).exists()  # the long way writes one only for a clean folder


def test_a_damaged_index_or_one_of_another_version_is_not_believed(workspace: Workspace, folder: Path) -> None:
    workspace.datasets.add(folder, "events")
    kept = _index(workspace, folder)
    kept.write_bytes(kept.read_bytes()[:-7])
    assert StatusIndex.load(kept) is None and workspace.datasets.status("events", folder)["clean"]
    assert StatusIndex.load(kept) is not None  # the long way found it clean and wrote it again
    (folder / "extra.txt").write_text("x\n")
    _old(folder / "extra.txt")
    workspace.datasets.add(folder, "other")  # the same folder, another dataset: the index is now of that version
    status = workspace.datasets.status("events", folder)
    assert [a["path"] for a in status["added"]] == ["extra.txt"]


def test_a_file_written_within_a_second_of_the_scan_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("x")
    st = os.stat(path)
    entry = TreeEntry("f.txt", "blob", ObjectId("ab" * 32), 1)
    racy = StatusIndex.of("cd" * 32, [("f.txt", st, entry)], started=st.st_mtime_ns / 1e9 + 0.5)
    asked: list[str] = []
    _, refreshed = racy.compare([("f.txt", st)], lambda rel: asked.append(rel) or entry, started=time.time() + 5)  # type: ignore[func-returns-value]
    assert asked == ["f.txt"] and refreshed  # not trusted then; hashed, the same, and trusted from now on
    racy.save(tmp_path / "i.idx")
    again = StatusIndex.load(tmp_path / "i.idx")
    assert again is not None and again.compare([("f.txt", st)], lambda rel: pytest.fail("hashed"), 0.0)[0]["clean"]


def test_an_add_takes_unchanged_files_from_the_index_and_asks_the_stat_cache_only_of_the_rest(
        workspace: Workspace, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = workspace.datasets.add(folder, "events")
    asked: list[str] = []
    real_row = StatCache.row

    def counting(self: StatCache, path: Path | str) -> Any:
        asked.append(Path(path).relative_to(folder).as_posix())
        return real_row(self, path)

    changed = folder / "d2" / "f5.txt"
    changed.write_text(changed.read_text().replace("2,", "9,"))
    moved = folder / "a.txt"
    os.chmod(moved, 0o755)  # the same bytes, another mode: found by the stat cache, stored with its new mode
    for path in (changed, moved):
        _old(path, 5)
    monkeypatch.setattr(StatCache, "row", counting)
    second = workspace.datasets.add(folder, "events")
    assert sorted(set(asked)) == ["a.txt", "d2/f5.txt"]
    assert second.digest != first.digest
    _index(workspace, folder).unlink()
    assert workspace.datasets.cache.path is not None
    workspace.datasets.cache.path.unlink()  # neither index nor stat cache: every file read again
    asked.clear()
    assert second.digest == workspace.datasets.add(folder, "fresh").digest and len(set(asked)) == 62
    assert workspace.datasets.status("events", folder)["clean"]
