"""``mk data watch``: a status that reads only what a folder's watcher (real inotify, its own
process) says changed answers exactly what a status scanning every file answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelkeep.cli.main import app
from modelkeep.services.data.data_status import status_of
from modelkeep.services.workspace import Workspace
from modelkeep.store import folder_watch
from modelkeep.store.folder_watch import WatchState
from modelkeep.store.stat_cache import StatCache

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
AN_HOUR_AGO = 3600


def test_a_token_is_vouched_for_only_by_its_own_watcher_and_not_across_an_overflow() -> None:
    state = WatchState("abc")
    state.touch("a.csv")
    token = state.token()
    assert state.since(token) == []
    state.touch("b.csv")
    state.touch("sub")
    state.always.add("link")
    assert state.since(token) == ["b.csv", "link", "sub"]
    assert state.since({"instance": "other", "seq": token["seq"]}) is None  # a restarted watcher knows nothing older
    assert state.since({"instance": "abc", "seq": state.seq + 1}) is None  # from the future: not ours
    assert state.since({"instance": "abc", "seq": "1"}) is None
    state.overflow()  # the kernel dropped events: nothing from before can be vouched for
    assert state.since(token) is None
    assert state.since(state.token()) == ["link"]


def _old(folder: Path) -> None:
    """Every file's mtime an hour back: its recorded stat is trusted (not 'modified within a second')."""
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            at = path.stat().st_mtime - AN_HOUR_AGO
            os.utime(path, (at, at))


@pytest.fixture
def watched(workspace: Workspace, tmp_path: Path) -> Iterator[tuple[Workspace, Path, Path]]:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    for i in range(20):
        (data / f"f{i:02d}.csv").write_text(f"{i},{i * i}\n")
        (data / "sub" / f"g{i:02d}.bin").write_bytes(bytes([i]) * (100 + i))
    _old(data)
    status_dir = workspace.datasets.cache.path.parent / "status"
    folder_watch.start(status_dir, data)
    try:
        yield workspace, data, status_dir
    finally:
        folder_watch.stop(status_dir, data)


def _both(ws: Workspace, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The status as ``mk data status`` answers it, and as a scan of every file with no index answers it."""
    answer = ws.datasets.status(name)
    latest = ws.datasets.get(name)
    summary = {"number": latest.number, "digest": latest.digest, "root_kind": latest.root_kind,
               "source": latest.source, "bytes": latest.bytes}
    return answer, status_of(ws.datasets.repo, StatCache(None), name, summary)


def test_a_watched_status_reads_only_changes_and_answers_as_a_full_scan(
        watched: tuple[Workspace, Path, Path], tmp_path: Path) -> None:
    ws, data, status_dir = watched
    outside = tmp_path / "outside.txt"
    outside.write_text("out\n")
    ws.datasets.add(data, "ds")  # the add keeps the watcher's token: the next status is watched
    first, scanned = _both(ws, "ds")
    assert first.pop("watched") is True and first == scanned and first["clean"]
    said = CliRunner().invoke(app, ["data", "status", "ds"], env={"MODELKEEP_HOME": str(ws.config.root)})
    words = " ".join(said.stdout.split())  # (the console may wrap a long path at its width)
    assert said.exit_code == 0 and words.endswith("matches ds@1 (read what its watcher saw change)"), words

    def mutate_link() -> None:
        os.symlink(outside, data / "link.txt")

    def through_the_link_target() -> None:
        outside.write_text("changed outside the folder\n")

    def hard_link_written_elsewhere() -> None:
        os.link(data / "f03.csv", tmp_path / "second-name.csv")
        # Linux raises no event in the folder for a new name: a watcher started after it knows of it
        folder_watch.stop(status_dir, data)
        folder_watch.start(status_dir, data)
        ws.datasets.add(data, "ds")  # the version holds the file with two names; the add keeps the new token

    steps = [
        ("append", lambda: (data / "f01.csv").write_text("1,1,appended\n")),
        ("same size, other bytes", lambda: (data / "sub" / "g05.bin").write_bytes(b"\xff" * 105)),
        ("touch only", lambda: os.utime(data / "f02.csv")),
        ("new file", lambda: (data / "new.csv").write_text("n\n")),
        ("removed file", lambda: (data / "f04.csv").unlink()),
        ("new folder with files", lambda: [(data / "deep" / "er").mkdir(parents=True),
                                            (data / "deep" / "er" / "x.csv").write_text("x\n"),
                                            (data / "deep" / "y.csv").write_text("y\n")]),
        ("folder renamed", lambda: (data / "deep").rename(data / "deeper")),
        ("folder removed", lambda: shutil.rmtree(data / "deeper")),
        ("folder moved in from outside", lambda: [(tmp_path / "in" / "z").mkdir(parents=True),
                                                  (tmp_path / "in" / "z" / "w.csv").write_text("w\n"),
                                                  (tmp_path / "in").rename(data / "in")]),
        ("symbolic link added", mutate_link),
        ("its target changed outside the folder", through_the_link_target),
        ("a file with a second name outside", hard_link_written_elsewhere),
        ("written through that name", lambda: (tmp_path / "second-name.csv").write_text("3,9,written elsewhere\n")),
        ("chmod", lambda: os.chmod(data / "f05.csv", 0o600)),
        ("a second name inside the folder", lambda: os.link(data / "f06.csv", data / "f06-again.csv")),
        ("written through it", lambda: (data / "f06-again.csv").write_text("6,36,through the second name\n")),
    ]
    answers = {}
    for label, step in steps:
        step()
        answer, scanned = _both(ws, "ds")
        assert answer.pop("watched", None) is True, label
        assert answer == scanned, label
        answers[label] = answer
    before_the_second_add = answers["its target changed outside the folder"]
    assert {m["path"] for m in before_the_second_add["modified"]} == {"f01.csv", "sub/g05.bin"}
    assert [a["path"] for a in before_the_second_add["added"]] == ["in/z/w.csv", "link.txt", "new.csv"]
    assert answers["its target changed outside the folder"]["added"][1]["size"] == len("changed outside the folder\n")
    assert [r["path"] for r in before_the_second_add["removed"]] == ["f04.csv"]
    assert answers["touch only"]["modified"] == answers["same size, other bytes"]["modified"]  # same bytes: not modified
    assert [m["path"] for m in answers["chmod"]["modified"]] == ["f03.csv"]  # written through its other name
    assert [m["path"] for m in answers["written through it"]["modified"]] == ["f03.csv", "f06.csv"]


def test_a_restarted_watcher_is_not_trusted_with_an_older_token(watched: tuple[Workspace, Path, Path]) -> None:
    ws, data, status_dir = watched
    ws.datasets.add(data, "ds")
    answer, _ = _both(ws, "ds")
    assert answer["watched"]
    assert folder_watch.stop(status_dir, data)
    assert folder_watch.start(status_dir, data)["started"]
    (data / "f00.csv").write_text("changed while no watcher that knew the token ran\n")
    answer, scanned = _both(ws, "ds")
    assert "watched" not in answer and answer == scanned  # a full scan
    assert [m["path"] for m in answer["modified"]] == ["f00.csv"]
    (data / "f00.csv").write_text("0,0\n")  # as the version has it again, so the status is clean and keeps a token
    _old(data)
    answer, scanned = _both(ws, "ds")
    assert "watched" not in answer and answer["clean"]
    answer, scanned = _both(ws, "ds")
    assert answer.pop("watched") is True and answer == scanned


def test_mk_data_watch_starts_once_and_stops(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("a\n")
    env = {"MODELKEEP_HOME": str(workspace.config.root)}
    runner = CliRunner()
    try:
        started = json.loads(runner.invoke(app, ["data", "watch", str(data), "--json"], env=env).stdout)
        assert started["started"] and started["folders_watched"] == 1 and started["folder"] == str(data.resolve())
        again = json.loads(runner.invoke(app, ["data", "watch", str(data), "--json"], env=env).stdout)
        assert not again["started"] and again["pid"] == started["pid"]
    finally:
        stopped = runner.invoke(app, ["data", "watch", str(data), "--stop"], env=env)
    assert stopped.exit_code == 0 and "stopped the watcher" in stopped.stdout
    none = runner.invoke(app, ["data", "watch", str(data), "--stop", "--json"], env=env)
    assert json.loads(none.stdout)["stopped"] is False
    missing = runner.invoke(app, ["data", "watch", str(tmp_path / "nope")], env=env)
    assert missing.exit_code != 0 and "is not a folder" in str(missing.exception or missing.output)
    other = tmp_path / "other"
    other.mkdir()
    for each in (data, other):
        assert runner.invoke(app, ["data", "watch", str(each)], env=env).exit_code == 0
    listed = json.loads(runner.invoke(app, ["data", "watch", "--json"], env=env).stdout)["watchers"]
    assert [w["folder"] for w in listed] == [str(data.resolve()), str(other.resolve())]
    every = json.loads(runner.invoke(app, ["data", "watch", "--stop", "--json"], env=env).stdout)["watchers"]
    assert [w["stopped"] for w in every] == [True, True]
    assert "no watcher is running" in runner.invoke(app, ["data", "watch"], env=env).stdout


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_a_second_watcher_of_a_folder_takes_over_and_the_first_ends(tmp_path: Path) -> None:
    status_dir, data = tmp_path / "status", tmp_path / "data"
    data.mkdir()
    first = folder_watch.start(status_dir, data)
    try:
        # two starts racing: the later one binds the socket's name
        subprocess.run([sys.executable, "-m", "modelkeep.store.folder_watch", str(data), str(status_dir)], check=True)
        second = folder_watch.ask(status_dir, data.resolve(), {"ask": "token"})
        assert second and second["pid"] != first["pid"]
        (data / "wake").write_text("x")  # an event wakes the first, which finds its name taken and ends
        deadline = time.monotonic() + 30
        while _running(first["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(first["pid"])
        assert folder_watch.ask(status_dir, data.resolve(), {"ask": "token"})["pid"] == second["pid"]  # type: ignore[index]
    finally:
        assert folder_watch.stop(status_dir, data)


def test_a_change_to_the_folder_itself_reads_it_whole(workspace: Workspace, tmp_path: Path) -> None:
    from modelkeep.store.status_index import StatusIndex, index_path

    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("a\n")
    (data / "sub" / "b.csv").write_text("b\n")
    _old(data)
    ws = workspace
    ws.datasets.add(data, "ds")
    index = StatusIndex.load(index_path(ws.datasets.cache.path.parent, data))
    assert index is not None
    (data / "sub" / "b.csv").unlink()
    (data / "c.csv").write_text("c\n")

    def never(rel: str) -> Any:
        raise AssertionError(f"{rel} kept its stat: nothing to hash")

    changes, refreshed = index.compare_changed(data, [""], never, time.time())
    assert (changes["added"], changes["removed"], changes["modified"]) == (
        [{"path": "c.csv", "size": 2}], [{"path": "sub/b.csv", "size": 2}], [])
    assert changes == index.compare_changed(data, ["sub", "c.csv"], never, time.time())[0]  # the same, read by path
    assert not refreshed
