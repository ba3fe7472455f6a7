"""Chunks changed a little are stored as deltas against the previous version's chunk at the same
offset: scattered edits store a small fraction of what whole chunks would; chains stay bounded;
garbage collection and transfers keep every delta's base."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from modelkeep.errors import IntegrityError
from modelkeep.services.clock import utcnow
from modelkeep.services.connection import LocalConnection
from modelkeep.services.data.integrity import verify
from modelkeep.services.data.roots import registry_roots
from modelkeep.services.data.sync import pull, push
from modelkeep.services.retention.gc import collect
from modelkeep.services.workspace import Workspace, init_workspace
from modelkeep.store import deltas
from modelkeep.store.backends import open_backend
from modelkeep.store.dataset_checkout import checkout_files
from modelkeep.store.format import FLAG_DELTA, ObjectId, TreeEntry
from modelkeep.store.ingest import Ingestor, StatCache
from modelkeep.store.packs import pack_key
from modelkeep.store.repository import Repository


def _lines(n: int, seed: int) -> bytearray:
    rng = random.Random(seed)
    return bytearray(b"".join(f"{i},{rng.random():.12f},{rng.randrange(10**6)}\n".encode() for i in range(n)))


def _edit(data: bytearray, seed: int, every: int = 40_000) -> bytearray:
    """Rewrite a few digits every ``every`` bytes, in place (the size stays)."""
    rng = random.Random(seed)
    out = bytearray(data)
    for at in range(rng.randrange(every), len(out) - 8, every):
        for i in range(at, at + 6):
            if 48 <= out[i] <= 57:
                out[i] = 48 + rng.randrange(10)
    return out


def _write_old(path: Path, data: bytes) -> None:
    """Write a file dated a minute ago, so the stat cache remembers what it was added as."""
    path.write_bytes(data)
    then = time.time() - 60
    os.utime(path, (then, then))


def _add(repo: Repository, cache: StatCache, path: Path, threads: int | None = None) -> tuple[str, int]:
    with Ingestor(repo, cache, threads=threads) as ing:
        entry = ing.add_path(path)[0]
        repo.flush()
    return entry.id, ing.stats.bytes_stored


def _two_dataset_versions(workspace: Workspace, tmp_path: Path, *, lines: int, seed: int) -> bytearray:
    """``sales@1`` (a CSV) and ``sales@2`` (the same with scattered edits, mostly deltas); returns v2."""
    src = tmp_path / "data"
    src.mkdir()
    v1 = _lines(lines, seed=seed)
    _write_old(src / "t.csv", v1)
    workspace.datasets.add(src, "sales")
    v2 = _edit(v1, seed=seed + 1)
    _write_old(src / "t.csv", v2)
    workspace.datasets.add(src, "sales")
    return v2


def test_scattered_edits_are_stored_as_small_deltas_that_read_back(tmp_path: Path) -> None:
    repo = Repository.open(open_backend(str(tmp_path / "store")), create=True)
    cache = StatCache(tmp_path / "stat.db")
    path = tmp_path / "big.csv"
    v1 = _lines(120_000, seed=1)  # ~3.6 MB, ~50 chunks
    _write_old(path, v1)
    first, first_stored = _add(repo, cache, path)
    v2 = _edit(v1, seed=2)
    assert v2 != v1
    _write_old(path, v2)
    second, second_stored = _add(repo, cache, path)
    chunks = repo.read_manifest(second)
    changed = [c for c, _ in chunks if c not in {b for b, _ in repo.read_manifest(first)}]
    assert len(changed) > len(chunks) // 2  # nearly every chunk changed ...
    assert second_stored < first_stored // 10  # ... yet the version costs a tenth of the first
    assert all(repo.entry(c).flags & FLAG_DELTA for c in changed)
    assert b"".join(bytes(p) for p in repo.iter_file("chunked", second)) == v2
    fresh = Repository.open(open_backend(str(tmp_path / "store")))  # read through another index
    assert b"".join(bytes(p) for p in fresh.iter_file("chunked", second)) == v2
    bases = fresh.reachable("chunked", second) - {second} - {c for c, _ in chunks}
    assert bases and bases <= {c for c, _ in fresh.read_manifest(first)}  # a delta's base is reachable


def test_chains_of_deltas_stay_bounded(tmp_path: Path) -> None:
    repo = Repository.open(open_backend(str(tmp_path / "store")), create=True)
    cache = StatCache(tmp_path / "stat.db")
    path = tmp_path / "big.csv"
    data = _lines(60_000, seed=3)
    for version in range(deltas.MAX_DEPTH + 4):
        if version:
            data = _edit(data, seed=10 + version)
        _write_old(path, data)
        manifest, _ = _add(repo, cache, path)
    depths = [repo._decode_chain(c, *repo.get_stored(c))[1] for c, _ in repo.read_manifest(manifest)]
    assert max(depths) == deltas.MAX_DEPTH  # deep enough to save, never deeper
    assert b"".join(bytes(p) for p in repo.iter_file("chunked", manifest)) == data


def test_gc_and_a_push_keep_the_bases_of_a_kept_version(workspace: Workspace, tmp_path: Path) -> None:
    v2 = _two_dataset_versions(workspace, tmp_path, lines=80_000, seed=5)
    LocalConnection(workspace).retention.set_policy("dataset", "sales", {"keep_last": 1})
    result = collect(workspace.db, workspace.repo, workspace.access, utcnow(), grace_s=0)
    assert result["purged"] == ["dataset:sales@1"]
    workspace.repo.reload_index()
    out = tmp_path / "out"
    workspace.datasets.checkout("sales@2", out)
    assert (out / "t.csv").read_bytes() == v2
    assert verify(workspace.db, workspace.repo)["ok"]
    remote = tmp_path / "remote"
    workspace.config.set("remote.origin", str(remote))
    push(workspace.config, registry_roots(workspace.db), workspace.repo)
    bob, _ = init_workspace(tmp_path / "bob", workspace.config.db_url)
    bob.config.set("remote.origin", str(remote))
    pull(bob.config, registry_roots(bob.db), bob.repo)
    bob.datasets.checkout("sales@2", tmp_path / "bob-out")
    assert (tmp_path / "bob-out" / "t.csv").read_bytes() == v2
    assert verify(bob.db, bob.repo)["ok"]
    bob.close()


def test_switching_to_a_version_of_deltas_reads_their_bases_from_the_file_it_replaces(tmp_path: Path) -> None:
    repo = Repository.open(open_backend(str(tmp_path / "store")), create=True)
    cache = StatCache(tmp_path / "stat.db")
    path = tmp_path / "big.csv"
    v1 = _lines(80_000, seed=7)
    _write_old(path, v1)
    first, _ = _add(repo, cache, path)
    v2 = _edit(v1, seed=8)
    _write_old(path, v2)
    second, _ = _add(repo, cache, path)
    entries = {n: TreeEntry("t.csv", "chunked", ObjectId(m), len(v1)) for n, m in ((1, first), (2, second))}
    dest = tmp_path / "work"

    def switch(to: int) -> None:
        checkout_files(repo, entries[to], dest, file_name="t.csv", owner="d", version=f"d@{to}")

    switch(1)
    v1_chunks = {c for c, _ in repo.read_manifest(first)}
    read: list[str] = []
    real = repo.get_stored
    repo.get_stored = lambda oid: read.append(oid) or real(oid)  # type: ignore[method-assign]
    switch(2)
    repo.get_stored = real  # type: ignore[method-assign]
    assert (dest / "t.csv").read_bytes() == v2
    assert not v1_chunks & set(read)  # every base came from the file being replaced
    # A base read from a file whose bytes changed under an unchanged stat cannot pass: what is
    # built on it does not hash to the chunk's id, so that chunk is built on the store's base.
    switch(1)
    target = dest / "t.csv"
    st = target.stat()
    with open(target, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"#")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    read.clear()
    repo.get_stored = lambda oid: read.append(oid) or real(oid)  # type: ignore[method-assign]
    switch(2)
    repo.get_stored = real  # type: ignore[method-assign]
    assert target.read_bytes() == v2
    assert len(v1_chunks & set(read)) == 1  # the one base that did not match came from the store
    # The store itself damaged is another matter: that is reported, and the folder left as it was.
    switch(1)
    second_chunk = repo.read_manifest(second)[3][0]
    where = repo.entry(second_chunk)
    pack = tmp_path / "store" / pack_key(where.pack)
    raw = bytearray(pack.read_bytes())
    raw[where.offset + where.stored_length - 3] ^= 0xFF
    pack.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="damaged"):
        switch(2)
    assert target.read_bytes() == v1  # untouched: nothing was committed


def test_a_file_rewritten_whole_stops_trying_deltas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Repository.open(open_backend(str(tmp_path / "store")), create=True)
    cache = StatCache(tmp_path / "stat.db")
    path = tmp_path / "weights.bin"
    rng = random.Random(4)
    _write_old(path, rng.randbytes(6_000_000))
    _add(repo, cache, path)
    _write_old(path, rng.randbytes(6_000_000))  # nothing in common with the version before
    tried: list[str] = []
    real = repo.delta_against
    monkeypatch.setattr(repo, "delta_against", lambda data, base, width=1: tried.append(base) or real(data, base, width))
    second, _ = _add(repo, cache, path, threads=1)  # one worker: the chunks are tried in order
    chunks = len(repo.read_manifest(second))
    assert chunks > 40
    assert len(tried) == 8 + len(range(16, chunks, 16))  # eight misses, then every sixteenth chunk
    assert not any(repo.entry(c).flags & FLAG_DELTA for c, _ in repo.read_manifest(second))


def test_deltas_on_a_store_behind_a_network_read_their_bases_in_a_few_requests(
    workspace: Workspace, tmp_path: Path
) -> None:
    v2 = _two_dataset_versions(workspace, tmp_path, lines=120_000, seed=11)
    repo = Repository.open(workspace.repo.backend)  # a fresh reader, as a remote one would be
    repo._by_window = True  # read by windows, as a store behind a network is
    manifest = workspace.datasets.get("sales@2").digest
    chunks = repo.read_manifest(repo.read_tree(manifest)[0].id)
    assert sum(1 for c, _ in chunks if repo.entry(c).flags & FLAG_DELTA) > 20
    calls = []
    real = repo.backend.get_range
    repo.backend.get_range = lambda key, offset, length: calls.append(key) or real(key, offset, length)  # type: ignore[method-assign]
    assert b"".join(bytes(p) for p in repo.iter_file("chunked", chunks and repo.read_tree(manifest)[0].id)) == v2
    assert len(calls) <= 12  # not one request per delta's base (more than 20 of them)
    calls.clear()
    result = verify(workspace.db, repo)
    assert result["ok"] and len(calls) <= 16


def test_a_first_push_copies_whole_packs_and_a_later_one_only_new_objects(tmp_path: Path) -> None:
    from modelkeep.store.transfer import copy_objects

    src = Repository.open(open_backend(str(tmp_path / "src")), create=True)
    src.writer.target_size = 200_000  # several packs
    cache = StatCache(tmp_path / "stat.db")
    path = tmp_path / "big.csv"
    v1 = _lines(60_000, seed=21)
    _write_old(path, v1)
    first, _ = _add(src, cache, path)
    dst = Repository.open(open_backend(str(tmp_path / "dst")), create=True)
    stats = copy_objects(src, dst, src.reachable("chunked", first))
    src_packs = sorted(p.name for p in (tmp_path / "src" / "packs").rglob("*") if p.is_file())
    assert sorted(p.name for p in (tmp_path / "dst" / "packs").rglob("*") if p.is_file()) == src_packs  # as they are
    assert stats.objects == len(src.reachable("chunked", first))
    v2 = _edit(v1, seed=22)
    _write_old(path, v2)
    second, _ = _add(src, cache, path)
    new = src.reachable("chunked", second) - src.reachable("chunked", first)
    again = copy_objects(src, dst, src.reachable("chunked", second))
    assert again.objects == len(new)
    fresh = Repository.open(open_backend(str(tmp_path / "dst")))
    assert b"".join(bytes(p) for p in fresh.iter_file("chunked", second)) == v2
    assert copy_objects(src, dst, src.reachable("chunked", second)).objects == 0
