"""Objects, packs and indexes; chunk-level dedup; damage is detected, never returned."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from modelkeep.errors import IntegrityError, NotFound
from modelkeep.store.backends import open_backend
from modelkeep.store.checkout import materialize
from modelkeep.store.format import BLOB, TREE, TreeEntry, decode_tree, encode_tree, object_id
from modelkeep.store.ingest import Ingestor, StatCache
from modelkeep.store.packs import pack_key
from modelkeep.store.repository import Repository


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository.open(open_backend(str(tmp_path / "store")), create=True)


def _random_lines(n: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    return b"".join(f"{i},{rng.random():.12f},{rng.choice(['a', 'b', 'c'])}\n".encode() for i in range(n))


def test_put_get_dedup_and_persistence(repo: Repository, tmp_path: Path) -> None:
    oid, stored = repo.put(b"x" * 10_000)
    assert oid == object_id(b"x" * 10_000) and 0 < stored < 10_000  # compressed
    assert repo.put(b"x" * 10_000) == (oid, 0)
    repo.flush()
    reopened = Repository.open(open_backend(str(tmp_path / "store")))
    assert reopened.get(oid) == b"x" * 10_000
    with pytest.raises(NotFound):
        reopened.get("0" * 64)


def test_incompressible_data_is_stored_raw(repo: Repository) -> None:
    data = os.urandom(50_000)
    oid, stored = repo.put(data)
    assert stored == len(data)
    repo.flush()
    assert repo.entry(oid).flags == 0 and repo.get(oid) == data


def test_damage_is_detected_and_never_returned(repo: Repository, tmp_path: Path) -> None:
    oid, _ = repo.put(b"precious" * 1000, BLOB)
    repo.flush()
    entry = repo.entry(oid)
    path = tmp_path / "store" / pack_key(entry.pack)
    raw = bytearray(path.read_bytes())
    raw[entry.offset + 3] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="damaged"):
        Repository.open(open_backend(str(tmp_path / "store"))).get(oid)


def test_tree_encoding_is_canonical() -> None:
    a = TreeEntry("b.txt", "blob", object_id(b"b"), 1)
    b = TreeEntry("a.txt", "blob", object_id(b"a"), 1)
    assert encode_tree([a, b]) == encode_tree([b, a])
    assert decode_tree(encode_tree([a, b])) == [b, a]
    assert encode_tree([b]).startswith(b'{"entries":[["a.txt","blob",')


def test_cdc_stores_only_changed_chunks(repo: Repository, tmp_path: Path) -> None:
    base = _random_lines(120_000)  # ~3.6 MB: chunked
    path = tmp_path / "big.csv"
    path.write_bytes(base)
    with Ingestor(repo) as ing:
        first = ing.add_path(path)[0]
        repo.flush()
    assert first.kind == "chunked"
    # Insert 100 KB near the start: every later byte shifts, CDC re-synchronizes.
    insert = _random_lines(3000, seed=2)
    path.write_bytes(base[:50_000] + insert + base[50_000:])
    with Ingestor(repo) as ing:
        second = ing.add_path(path)[0]
        repo.flush()
    assert ing.stats.bytes_new < len(insert) + 3 * 262_144  # changed bytes + a few chunks
    # Append 1 %.
    path.write_bytes(base[:50_000] + insert + base[50_000:] + _random_lines(1200, seed=3))
    with Ingestor(repo) as ing:
        ing.add_path(path)
        repo.flush()
    assert ing.stats.bytes_new < 40_000 + 2 * 262_144
    out = tmp_path / "out.csv"
    materialize(repo, second, out)
    assert out.read_bytes() == base[:50_000] + insert + base[50_000:]


def test_folder_trees_and_stat_cache(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    for i in range(20):
        (src / "a" / f"f{i}.bin").write_bytes(os.urandom(3000))
    (src / "a" / "b" / "deep.txt").write_text("deep")
    (src / "top.txt").write_text("top")
    past = 1_600_000_000
    for f in src.rglob("*"):
        os.utime(f, (past, past))  # old enough for the stat cache to trust
    cache = StatCache(tmp_path / "stat.db")
    with Ingestor(repo, cache) as ing:
        root, _ = ing.add_path(src)
        repo.flush()
    assert ing.stats.hashed_files == 22
    assert repo.entry(root.id).type == TREE
    with Ingestor(repo, StatCache(tmp_path / "stat.db")) as ing:
        again, _ = ing.add_path(src)
    assert again.id == root.id and ing.stats.hashed_files == 0  # nothing re-read
    out = tmp_path / "out"
    assert materialize(repo, root, out) == 22
    assert (out / "a" / "b" / "deep.txt").read_text() == "deep"
    assert sorted(p for p, _ in repo.walk(root.id))[:2] == ["a/b/deep.txt", "a/f0.bin"]


def test_small_files_inline_and_on_the_pool_make_the_same_tree_and_a_file_that_changed_is_refused(
        repo: Repository, tmp_path: Path) -> None:
    """Files up to INLINE_LIMIT are added in the calling thread, larger small ones on the pool; the
    tree is the same whichever way a file went, and one that grew or shrank since the scan is refused."""
    from modelkeep.errors import InvalidInput
    from modelkeep.store.ingest import INLINE_LIMIT, scan

    src = tmp_path / "mixed"
    (src / "x" / "y").mkdir(parents=True)
    sizes = [0, 1, 200, INLINE_LIMIT, INLINE_LIMIT + 1, 200_000]
    for i, size in enumerate(sizes):
        (src / ("x/y" if i % 2 else "x") / f"f{i}.bin").write_bytes(random.Random(i).randbytes(size))
    with Ingestor(repo) as ing:
        root, _ = ing.add_path(src)
    assert sorted((rel, e.size) for rel, e in repo.walk(root.id)) == sorted(
        (f"{'x/y' if i % 2 else 'x'}/f{i}.bin", size) for i, size in enumerate(sizes))
    assert all(repo.get(e.id) == (src / rel).read_bytes() for rel, e in repo.walk(root.id))
    deep = encode_tree([TreeEntry(f"f{i}.bin", "blob", object_id((src / "x/y" / f"f{i}.bin").read_bytes()), size)
                        for i, size in enumerate(sizes) if i % 2])  # 1 and 65,536 bytes inline, 200,000 on the pool
    x = next(e for e in decode_tree(repo.get(root.id)) if e.name == "x")
    assert next(e for e in decode_tree(repo.get(x.id)) if e.name == "y").id == object_id(deep)
    for change in (b"more", None):  # grown, then shrunk, between the scan and the read
        items = scan(src)
        target = src / "x" / "f2.bin"
        if change:
            target.write_bytes(target.read_bytes() + change)
        else:
            target.write_bytes(target.read_bytes()[:50])
        with Ingestor(repo) as ing, pytest.raises(InvalidInput, match="changed while it was being added"):
            ing.add_files(items)


def test_checkout_copies_do_not_share_bytes(repo: Repository, tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"v1" * 1000)
    with Ingestor(repo) as ing:
        entry = ing.add_path(src)[0]
        repo.flush()
    first, second = tmp_path / "c1", tmp_path / "c2"
    materialize(repo, entry, first)
    materialize(repo, entry, second)
    first.write_bytes(b"changed")
    assert second.read_bytes() == b"v1" * 1000
    assert repo.get(entry.id) == b"v1" * 1000


def test_remote_stores_read_by_windows_in_any_pack_order(repo: Repository) -> None:
    """A store behind a network reads a window of objects in a few ranges, whatever order they lie
    in within the pack (ingest threads shuffle them), and still returns each in the order asked."""
    blobs = [os.urandom(20_000 + i) for i in range(300)]
    ids = [repo.put(b)[0] for b in blobs]
    repo.flush()
    shuffled = list(range(len(ids)))
    random.Random(3).shuffle(shuffled)
    calls: list[tuple[str, int, int]] = []
    backend = repo.backend
    original = backend.get_range

    def counting(key: str, offset: int, length: int) -> bytes:
        calls.append((key, offset, length))
        return original(key, offset, length)

    backend.get_range = counting  # type: ignore[method-assign]
    exact = list(repo.get_many([ids[i] for i in shuffled]))
    exact_calls = len(calls)
    calls.clear()
    repo._by_window = True
    windowed = list(repo.get_many([ids[i] for i in shuffled]))
    assert [bytes(b) for b in windowed] == [bytes(b) for b in exact] == [blobs[i] for i in shuffled]
    assert len(calls) <= 3 < exact_calls  # ~6 MB in one window: one range per pack instead of one per object
    twice = [stored for _, _, stored in repo.iter_stored([ids[0], ids[0]])]  # the same object twice in a window
    assert len(twice) == 2 and twice[0] == twice[1]


def test_stat_cache_writers_never_trip_over_each_other(tmp_path: Path) -> None:
    """Concurrent `mk data add` in one repository each save the stat cache: with one shared temporary
    name, one writer's rename found the file the other had already renamed (FileNotFoundError)."""
    import threading

    path = tmp_path / "cache" / "stat.db"
    errors: list[BaseException] = []
    (tmp_path / "f").write_text("x")
    os.utime(tmp_path / "f", (1_600_000_000, 1_600_000_000))
    st = os.stat(tmp_path / "f")

    def writer(n: int) -> None:
        try:
            for i in range(40):
                cache = StatCache(path)
                cache.remember(f"/file{n}-{i}", st, "blob", "0" * 64, started=time.time())
                cache.save()
        except BaseException as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    again = StatCache(path)
    assert all(again.lookup(f"/file{n}-{i}", st) == ("blob", "0" * 64) for n in range(6) for i in range(40))


@pytest.mark.parametrize("size", [262_145, 1_000_000, 3 * 262_144 + 17, 2_500_000])
def test_large_files_cut_in_blocks_chunk_exactly_as_one_stream(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Reading a large file a block at a time (the last chunk of each block carried over) gives the
    chunk list FastCDC gives over the whole file, whatever the block size."""
    from pyfastcdc import FastCDC

    from modelkeep.store import blocks

    data = (_random_lines(size // 30 + 1, seed=size) + os.urandom(size // 3))[:size]  # text, then incompressible
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    chunker = repo.config["chunker"]
    cdc = FastCDC(chunker["avg_size"], min_size=chunker["min_size"], max_size=chunker["max_size"], seed=chunker["seed"])
    expected = [(object_id(c.data), c.length) for c in cdc.cut_buf(data)]
    for block in (300_000, 1 << 20, 4 << 20):  # smaller than, near and above the file's size
        monkeypatch.setattr(blocks, "BLOCK", block)
        with Ingestor(repo) as ing:
            entry = ing.add_path(path)[0]
            repo.flush()
        assert entry.kind == "chunked"
        assert repo.read_manifest(entry.id) == expected
        assert b"".join(bytes(part) for part in repo.iter_file(entry.kind, entry.id)) == data
    # Each block's new chunks were handed to the pack together: read in file order, a file is a few
    # runs of neighbours (one per block at most), not one read per chunk.
    fresh = Repository.open(open_backend(str(tmp_path / "fresh")), create=True)
    monkeypatch.setattr(blocks, "BLOCK", 300_000)
    with Ingestor(fresh) as ing:
        entry = ing.add_path(path)[0]
        fresh.flush()
    chunks = [c for c, _ in fresh.read_manifest(entry.id)]
    assert len(fresh._spans(chunks)) <= size // 300_000 + 1 < len(chunks)


def test_packs_are_written_through_a_spool_file_that_never_stays_behind(tmp_path: Path) -> None:
    store = tmp_path / "store"
    repo = Repository.open(open_backend(str(store)), create=True)
    repo.writer.target_size = 100_000  # several packs
    data = random.Random(5).randbytes(450_000)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with Ingestor(repo) as ing:
        entry = ing.add_path(path)[0]
        repo.flush()
    assert repo.writer.packs_written >= 3
    assert list((store / ".tmp").iterdir()) == []  # each spool became a pack by a rename
    again = Repository.open(open_backend(str(store)))
    assert b"".join(bytes(part) for part in again.iter_file(entry.kind, entry.id)) == data
    packs = sorted(p for p in (store / "packs").rglob("*") if p.is_file())
    assert sum(p.stat().st_size for p in packs) == repo.writer.bytes_written


def test_a_pack_that_cannot_be_stored_leaves_no_spool_and_fails_the_flush(tmp_path: Path) -> None:
    store = tmp_path / "store"
    backend = open_backend(str(store), retry=False)
    repo = Repository.open(backend, create=True)

    def refuse(key: str, path: Path) -> None:
        raise OSError(28, "No space left on device")

    backend.put_file = refuse  # type: ignore[attr-defined]
    repo.put(os.urandom(5_000))
    with pytest.raises(OSError, match="No space left"):
        repo.flush()
    assert list((store / ".tmp").iterdir()) == []
    assert not (store / "packs").exists() and not (store / "index").exists()


@pytest.mark.parametrize("by_window", [False, True], ids=["local", "remote"])
def test_a_checkout_writes_every_chunk_at_its_offsets_repeated_chunks_included(
    repo: Repository, tmp_path: Path, by_window: bool
) -> None:
    block = random.Random(8).randbytes(300_000)
    data = _random_lines(40_000) + block * 4 + _random_lines(20_000, seed=9)  # one chunk held several times
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with Ingestor(repo) as ing:
        entry = ing.add_path(path)[0]
        repo.flush()
    chunks = repo.read_manifest(entry.id)
    assert len({c for c, _ in chunks}) < len(chunks)
    repo._by_window = by_window
    out = tmp_path / "out" / "big.bin"
    materialize(repo, entry, out)
    assert out.read_bytes() == data


def test_a_checkout_whose_chunk_is_damaged_leaves_no_file(repo: Repository, tmp_path: Path) -> None:
    data = _random_lines(100_000)
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    with Ingestor(repo) as ing:
        entry = ing.add_path(path)[0]
        repo.flush()
    chunk = repo.read_manifest(entry.id)[5][0]
    where = repo.entry(chunk)
    pack = tmp_path / "store" / pack_key(where.pack)
    raw = bytearray(pack.read_bytes())
    raw[where.offset + where.stored_length // 2] ^= 0xFF
    pack.write_bytes(bytes(raw))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError, match="damaged"):
        materialize(repo, entry, out / "big.csv")
    assert list(out.iterdir()) == []


def test_switching_a_checkout_copies_the_chunks_both_versions_share_from_the_file_it_replaces(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelkeep.store.dataset_checkout import checkout_files

    v1 = _random_lines(60_000)
    v2 = v1 + _random_lines(5_000, seed=7)  # an append: v1's chunks but its last are v2's too
    entries = []
    for content in (v1, v2):
        (tmp_path / "src.csv").write_bytes(content)
        with Ingestor(repo) as ing:
            entries.append(ing.add_path(tmp_path / "src.csv")[0])
            repo.flush()
    dest = tmp_path / "work"

    def switch(to: int, force: list[str] | None = None) -> int:
        decoded = []
        real = repo._decode_chain
        monkeypatch.setattr(repo, "_decode_chain", lambda oid, *args: decoded.append(oid) or real(oid, *args))
        checkout_files(repo, entries[to], dest, file_name="data.csv", owner="d", version=f"d@{to + 1}", force=force)
        monkeypatch.setattr(repo, "_decode_chain", real)
        return len([oid for oid in decoded if repo.entry(oid).type == BLOB])  # chunks, not manifests

    switch(1)
    assert (dest / "data.csv").read_bytes() == v2
    assert switch(0) <= 1  # only v1's last chunk (cut at its end) is read from the store
    assert (dest / "data.csv").read_bytes() == v1
    assert switch(1) <= 3
    assert (dest / "data.csv").read_bytes() == v2
    # Bytes changed under an unchanged stat are caught by the chunk ids and read from the store.
    st = (dest / "data.csv").stat()
    with open(dest / "data.csv", "r+b") as handle:
        handle.seek(1000)
        handle.write(b"#")
    os.utime(dest / "data.csv", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert 1 <= switch(0) <= 2
    assert (dest / "data.csv").read_bytes() == v1
    switch(1)
    # A file changed by hand is never a source, even when --force lets the checkout replace it.
    with open(dest / "data.csv", "r+b") as handle:
        handle.write(b"#" * 100)
    assert switch(0, force=["data.csv"]) == len(set(c for c, _ in repo.read_manifest(entries[0].id)))
    assert (dest / "data.csv").read_bytes() == v1


def test_the_stat_cache_answers_row_by_row_and_a_damaged_one_only_costs_hashing_again(tmp_path: Path) -> None:
    """A SQLite file of rows keyed by path (the 35 MB JSON it replaces was parsed whole by any add that
    looked a file up): rows read in batches, a stat that moved answers nothing, a file modified within
    the last second is not remembered, the old JSON cache beside it is dropped, damage is rebuilt."""
    old, new = tmp_path / "old.bin", tmp_path / "new.bin"
    old.write_text("x")
    new.write_text("y")
    os.utime(old, (1_600_000_000, 1_600_000_000))
    st_old, st_new = os.stat(old), os.stat(new)
    legacy = tmp_path / "stat.json"
    legacy.write_text("{}")
    cache = StatCache(tmp_path / "stat.db")
    for i in range(1_200):
        cache.remember(f"/data/f{i}.bin", st_old, "blob", f"{i:064x}", started=time.time())
    cache.remember("/data/new.bin", st_new, "blob", "0" * 64, started=time.time())  # modified just now
    assert cache.dirty and cache.lookup("/data/f3.bin", st_old) == ("blob", f"{3:064x}")
    cache.save()
    assert not cache.dirty and not legacy.exists()
    again = StatCache(tmp_path / "stat.db")
    again.prefetch([f"/data/f{i}.bin" for i in range(0, 1_200, 2)] + ["/data/absent.bin"])
    assert [again.lookup(f"/data/f{i}.bin", st_old) for i in (0, 1, 1_199)] == [
        ("blob", f"{i:064x}") for i in (0, 1, 1_199)]
    assert again.lookup("/data/f0.bin", st_new) is None and again.row("/data/absent.bin") is None
    assert again.row("/data/new.bin") is None
    (tmp_path / "stat.db").write_bytes(b"not a database" * 100)
    damaged = StatCache(tmp_path / "stat.db")
    assert damaged.lookup("/data/f0.bin", st_old) is None
    damaged.remember("/data/f0.bin", st_old, "chunked", "1" * 64, started=time.time())
    damaged.save()
    assert StatCache(tmp_path / "stat.db").lookup("/data/f0.bin", st_old) == ("chunked", "1" * 64)
    remote = tmp_path / "stat" / ("ab" * 16)  # a remote dataset's cache: DIGEST.json before, DIGEST.db now
    remote.parent.mkdir()
    remote.with_suffix(".json").write_text("{}")
    (remote.parent / "notes.json").write_text("a user's own file")
    per_digest = StatCache(remote.with_suffix(".db"))
    per_digest.remember("/data/f0.bin", st_old, "blob", "2" * 64, started=time.time())
    per_digest.save()
    assert not remote.with_suffix(".json").exists() and (remote.parent / "notes.json").read_text() == "a user's own file"
