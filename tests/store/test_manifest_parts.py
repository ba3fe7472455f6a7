"""A long manifest is stored in parts cut at chunk ids: a version that changes a few chunks
stores the parts it touches and the short list of parts, and every reader sees the whole list."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from modelkeep.errors import IntegrityError
from modelkeep.services.data.integrity import verify
from modelkeep.services.workspace import Workspace
from modelkeep.store.backends import open_backend
from modelkeep.store.format import MANIFEST, ObjectId, encode_manifest, encode_parts, manifest_parts
from modelkeep.store.ingest import StatCache
from modelkeep.store.repository import Repository
from modelkeep.store.transfer import copy_objects
from tests.store.test_deltas import _add, _lines, _write_old


def _parted(path: Path, average: int = 4) -> Repository:
    repo = Repository.open(open_backend(str(path)), create=True)
    repo.config["manifest_part_chunks"] = average  # parts from 4 x 4 chunks on: a few MB make many parts
    return repo


def _new_manifests(repo: Repository, before: set[ObjectId]) -> list[ObjectId]:
    return [oid for oid, entry in repo.index.items() if entry.type == MANIFEST and oid not in before]


def test_cuts_depend_only_on_the_ids_around_them() -> None:
    rng = random.Random(3)
    chunks = [(ObjectId(f"{rng.getrandbits(256):064x}"), 1000) for _ in range(2000)]
    parts = manifest_parts(chunks, 16)
    assert [c for part in parts for c in part] == chunks
    assert max(len(p) for p in parts) <= 64 and 60 < len(parts) < 200
    edited = list(chunks)
    edited[1000] = (ObjectId(f"{rng.getrandbits(256):064x}"), 1000)
    changed = [p for p in manifest_parts(edited, 16) if p not in parts]
    assert 1 <= len(changed) <= 2  # the part holding the edit (and its neighbour if a cut moved)


def test_an_append_stores_only_the_last_part_and_the_list(tmp_path: Path) -> None:
    repo = _parted(tmp_path / "store")
    cache = StatCache(tmp_path / "stat.db")
    path = tmp_path / "big.csv"
    v1 = _lines(150_000, seed=1)  # ~4.5 MB, about 70 chunks: more than 16, so in parts
    _write_old(path, v1)
    first, _ = _add(repo, cache, path)
    parts, chunks = repo.manifest_with_parts(first)
    assert len(parts) >= 5 and repo.read_manifest(first) == chunks
    assert sum(n for _, n in chunks) == len(v1)
    before = set(repo.index)
    v2 = v1 + _lines(1_000, seed=2)
    _write_old(path, v2)
    second, _ = _add(repo, cache, path)
    new = _new_manifests(repo, before)
    assert second in new and len(new) <= 3  # the list, the last part (and the one before, if a cut moved)
    assert b"".join(repo.iter_file("chunked", second)) == v2
    assert set(repo.manifest_with_parts(second)[0]) <= repo.reachable("chunked", second)


def test_parts_travel_with_their_list_and_are_verified(workspace: Workspace, tmp_path: Path) -> None:
    src = _parted(tmp_path / "src")
    path = tmp_path / "big.csv"
    data = _lines(100_000, seed=5)
    _write_old(path, data)
    first, _ = _add(src, StatCache(None), path)
    dst = Repository.open(open_backend(str(tmp_path / "dst")), create=True)
    copy_objects(src, dst, src.reachable("chunked", first))
    assert b"".join(Repository.open(open_backend(str(tmp_path / "dst"))).iter_file("chunked", first)) == data
    # a store that reads parted manifests verifies them like any object
    ws_repo = workspace.repo
    copy_objects(src, ws_repo, src.reachable("chunked", first))
    assert verify(workspace.db, ws_repo)["ok"]


def test_a_part_that_does_not_cover_what_the_list_says_is_damage(tmp_path: Path) -> None:
    repo = _parted(tmp_path / "store")
    chunk, _ = repo.put(b"x" * 100)
    part, _ = repo.put(encode_manifest([(chunk, 100)]), MANIFEST)
    top, _ = repo.put(encode_parts([(part, 150)]), MANIFEST)
    repo.flush()
    with pytest.raises(IntegrityError, match="is not the 150 bytes it lists"):
        repo.read_manifest(top)


def test_a_store_made_before_parts_writes_whole_manifests(tmp_path: Path) -> None:
    repo = Repository.open(open_backend(str(tmp_path / "store")), create=True)
    repo.config.pop("manifest_part_chunks")
    path = tmp_path / "big.csv"
    _write_old(path, _lines(150_000, seed=4))
    first, _ = _add(repo, StatCache(None), path)
    assert repo.manifest_with_parts(first)[0] == []
