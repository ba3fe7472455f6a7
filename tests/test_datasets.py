"""Datasets end to end on real files, databases and stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.data.dataset_diff import diff_dataset_versions
from modelkeep.services.data.integrity import verify
from modelkeep.services.data.roots import registry_roots
from modelkeep.services.data.sync import pull, push
from modelkeep.services.workspace import Workspace, init_workspace
from modelkeep.store.packs import pack_key


def _csv(path: Path, rows: range, extra: str = "") -> None:
    path.write_text("id,value\n" + "".join(f"{i},{i * 7 % 13}\n" for i in rows) + extra)


def test_add_log_ls_cat_checkout(any_workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    _csv(data / "train.csv", range(50_000))
    (data / "sub" / "notes.txt").write_text("hello")
    ds = any_workspace.datasets
    v1 = ds.add(data, "train", message="first")
    assert (v1.number, v1.files, v1.bytes) == (1, 2, (data / "train.csv").stat().st_size + 5)
    assert v1.bytes_new >= v1.bytes and 0 < v1.bytes_stored < v1.bytes  # content + manifest + trees
    assert ds.add(data, "train").unchanged  # same content: no new version
    _csv(data / "train.csv", range(50_000), extra="50000,1\n")
    v2 = ds.add(data, "train", message="append one row")
    assert v2.number == 2 and v2.bytes_new < 300_000  # one or two chunks, not the file
    assert [v.number for v in ds.log("train")] == [2, 1]
    assert sorted(ds.files("train@1")) == ["sub/notes.txt", "train.csv"]
    assert b"".join(ds.cat("train@1", "sub/notes.txt")) == b"hello"
    with pytest.raises(NotFound, match="no file"):
        list(ds.cat("train@1", "nope.txt"))
    view, result = ds.checkout("train@1", tmp_path / "out")
    assert result.files == 2 and (tmp_path / "out" / "sub" / "notes.txt").read_text() == "hello"
    (tmp_path / "out" / "stray.txt").write_text("not in the version")
    result = ds.checkout("train@2", tmp_path / "out", prune=True)[1]  # switch in place
    assert result.kept == ["stray.txt"] and result.written == 1  # the user's own file is not ours to remove
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file() and not p.name.startswith(".")) == [
        "notes.txt", "stray.txt", "train.csv"]
    assert (tmp_path / "out" / "train.csv").read_bytes() == (data / "train.csv").read_bytes()
    assert ds.get(f"train@{v2.digest[:8]}").number == 2
    doc = diff_dataset_versions(ds, "train@1", "train@2")
    assert [m["path"] for m in doc["modified"]] == ["train.csv"]
    assert doc["rows"]["train.csv"] == {"rows_a": 50_000, "rows_b": 50_001, "added": 1, "removed": 0, "exact": True}


def test_status_uses_stat_cache_and_sees_changes(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    for i in range(10):
        (data / f"{i}.txt").write_text(str(i))
    past = 1_600_000_000
    for f in data.iterdir():
        os.utime(f, (past, past))
    workspace.datasets.add(data, "d")
    assert workspace.datasets.status("d")["clean"]
    (data / "3.txt").write_text("changed")
    (data / "new.txt").write_text("n")
    (data / "0.txt").unlink()
    status = workspace.datasets.status("d")
    assert [r["path"] for r in status["modified"]] == ["3.txt"]
    assert [r["path"] for r in status["added"]] == ["new.txt"]
    assert [r["path"] for r in status["removed"]] == ["0.txt"]


def test_partitioned_dataset(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "events"
    for day in ("2026-11-01", "2026-11-02"):
        (data / f"date={day}").mkdir(parents=True)
        _csv(data / f"date={day}" / "part.csv", range(100))
    ds = workspace.datasets
    v1 = ds.add(data, "events", partition_by="date")
    assert sorted(v1.partitions) == ["date=2026-11-01", "date=2026-11-02"]
    new_day = tmp_path / "incoming"
    new_day.mkdir()
    _csv(new_day / "part.csv", range(200))
    v2 = ds.add(new_day, "events", partition="date=2026-11-03")
    assert sorted(v2.partitions) == ["date=2026-11-01", "date=2026-11-02", "date=2026-11-03"]
    # The untouched partitions are the very same objects: reused, not copied.
    assert v2.partitions["date=2026-11-01"] == v1.partitions["date=2026-11-01"]
    fix = tmp_path / "fix"
    fix.mkdir()
    _csv(fix / "part.csv", range(50))
    v3 = ds.add(fix, "events", partition="date=2026-11-02")
    assert v3.partitions["date=2026-11-02"] != v2.partitions["date=2026-11-02"]
    assert v3.partitions["date=2026-11-03"] == v2.partitions["date=2026-11-03"]
    assert ds.get("events@2").partitions == v2.partitions  # old versions keep their own view
    (data / "stray.csv").write_text("x")
    with pytest.raises(InvalidInput, match="date=VALUE"):
        ds.add(data, "events2", partition_by="date")
    with pytest.raises(InvalidInput, match="KEY=VALUE"):
        ds.add(fix, "events", partition="date")


def test_bad_input_commits_nothing(workspace: Workspace, tmp_path: Path) -> None:
    ds = workspace.datasets
    with pytest.raises(InvalidInput, match="does not exist"):
        ds.add(tmp_path / "missing", "x")
    with pytest.raises(InvalidInput, match="dataset name"):
        ds.add(tmp_path, "bad name!")
    loop = tmp_path / "loop"
    (loop / "inner").mkdir(parents=True)
    (loop / "inner" / "back").symlink_to(loop)
    with pytest.raises(InvalidInput, match="symbolic link loop"):
        ds.add(loop, "loop")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InvalidInput, match="broken symbolic link"):
        ds.add(broken, "broken")
    growing = tmp_path / "growing"
    growing.mkdir()
    (growing / "big.bin").write_bytes(os.urandom(2_000_000))

    def change_it(_n: int) -> None:
        with open(growing / "big.bin", "ab") as handle:
            handle.write(b"more")

    with pytest.raises(InvalidInput, match="changed while it was being added"):
        ds.add(growing, "growing", progress=change_it)
    assert ds.list() == []  # no dataset and no version was committed


def test_push_pull_between_teammates_via_s3(tmp_path: Path, s3_bucket: str) -> None:
    alice, _ = init_workspace(tmp_path / "alice")
    alice.config.set("remote.origin", s3_bucket)
    data = tmp_path / "data.csv"
    _csv(data, range(30_000))
    alice.datasets.add(data, "shared")
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(5000))
    alice.registry.register("m", model, data=["shared@1"])
    first = push(alice.config, registry_roots(alice.db), alice.repo)
    assert first["objects"] > 0 and first["bytes"] > 0
    again = push(alice.config, registry_roots(alice.db), alice.repo)
    assert again["objects"] == 0  # only missing objects move
    # Bob shares the registry database but has an empty store of his own.
    bob, _ = init_workspace(tmp_path / "bob", alice.config.db_url)
    bob.config.set("remote.origin", s3_bucket)
    result = pull(bob.config, registry_roots(bob.db), bob.repo)
    assert result["objects"] == first["objects"]
    bob.datasets.checkout("shared@1", tmp_path / "bob-out")
    assert (tmp_path / "bob-out" / "data.csv").read_bytes() == data.read_bytes()
    bob.registry.store.materialize("file", bob.registry.get("m@latest").digest or "", tmp_path / "m.bin")
    assert (tmp_path / "m.bin").read_bytes() == model.read_bytes()
    assert verify(bob.db, bob.repo)["ok"]
    alice.close()
    bob.close()


def test_verify_names_affected_versions(workspace: Workspace, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("alpha" * 100)
    b.write_text("beta" * 100)
    workspace.datasets.add(a, "da")
    workspace.datasets.add(b, "db")
    workspace.registry.register("model-a", a)  # shares its object with da@1
    assert verify(workspace.db, workspace.repo)["ok"]
    oid = workspace.datasets.get("da@1").digest
    entry = workspace.repo.entry(oid)
    pack = Path(workspace.config.store_url) / pack_key(entry.pack)
    raw = bytearray(pack.read_bytes())
    raw[entry.offset] ^= 0x55
    pack.write_bytes(bytes(raw))
    report = verify(workspace.db, workspace.repo)
    assert not report["ok"]
    assert [d["object"] for d in report["damaged"]] == [oid]
    assert report["affected"] == ["dataset:da@1", "model:model-a@1.0.0.0.0"]
    sampled = verify(workspace.db, workspace.repo, sample=50)
    assert sampled["checked"] <= report["checked"]


def test_verify_reads_packs_in_few_requests_and_names_each_damaged_object(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"f{i}.bin").write_bytes(os.urandom(3000))
    workspace.datasets.add(folder, "many")
    backend = workspace.repo.backend
    calls = []
    real = backend.get_range

    def counted(key: str, offset: int, length: int) -> bytes:
        calls.append(key)
        return real(key, offset, length)

    backend.get_range = counted  # type: ignore[method-assign]
    report = verify(workspace.db, workspace.repo)
    assert report["ok"] and report["checked"] == 41
    assert len(calls) <= 3  # neighbours coalesced: not one request per object
    files = workspace.datasets.files("many@1")
    hit = sorted(str(files[f"f{i}.bin"].id) for i in (3, 17, 30))
    for oid in hit:  # three objects of one pack damaged: each is named, the rest still checked
        entry = workspace.repo.entry(oid)
        pack = Path(workspace.config.store_url) / pack_key(entry.pack)
        raw = bytearray(pack.read_bytes())
        raw[entry.offset + 10] ^= 0x55
        pack.write_bytes(bytes(raw))
    damaged = verify(workspace.db, workspace.repo)
    assert sorted(d["object"] for d in damaged["damaged"]) == hit and damaged["affected"] == ["dataset:many@1"]


def test_bytes_stored_is_what_the_packs_and_their_indexes_take(workspace: Workspace, tmp_path: Path) -> None:
    """A fresh store holds only what the first version stored: its packs and index files add up to
    bytes_stored, but for each pack's 20 bytes of trailer and index magic."""
    from modelkeep.store.format import INDEX_MAGIC, TRAILER

    data = tmp_path / "data"
    data.mkdir()
    _csv(data / "train.csv", range(400_000))
    for i in range(30):
        (data / f"note-{i}.txt").write_text(f"note {i}\n" * (i + 1))
    version = workspace.datasets.add(data, "train")
    store = Path(workspace.repo.backend.url.removeprefix("file://"))
    packs = [p for p in (store / "packs").rglob("*") if p.is_file()]
    on_disk = sum(p.stat().st_size for p in packs) + sum(p.stat().st_size for p in (store / "index").iterdir())
    assert packs and on_disk == version.bytes_stored + len(packs) * (TRAILER.size + len(INDEX_MAGIC))
