"""Weights in safetensors files: chunks cut on the tensors, stored as byte planes, and a fine-tune
stored as planes of its XOR with the version before; every form reads back exactly."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import os
import struct
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import save_file

from modelkeep.errors import IntegrityError
from modelkeep.store import planes
from modelkeep.store.backends import open_backend
from modelkeep.store.dataset_checkout import checkout_files
from modelkeep.store.format import DEFAULT_CONFIG, FLAG_DELTA, FLAG_PLANES, TreeEntry
from modelkeep.store.ingest import Ingestor, StatCache
from modelkeep.store.packs import pack_key
from modelkeep.store.repository import Repository
from modelkeep.store.tensor_layout import Cut, layout, tensor_spans

PIECE = 262_144


@given(st.binary(max_size=300), st.sampled_from([2, 4, 8]))
def test_planes_split_and_join_are_inverse(data: bytes, width: int) -> None:
    assert planes.join(planes.split(data, width), width) == data


def test_planes_group_each_byte_of_an_element() -> None:
    assert planes.split(b"ABCDabcd12", 4) == b"AaBbCcDd12"  # the two bytes past the last element stay last


def _weights(seed: int, dtype: torch.dtype = torch.float32, layers: int = 6) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for i in range(layers):
        tensors[f"layers.{i}.weight"] = torch.randn(256, 512, generator=generator) * 0.02
        tensors[f"layers.{i}.bias"] = torch.randn(512, generator=generator) * 0.02
    return {name: t.to(dtype) for name, t in tensors.items()}


def _moved(tensors: dict[str, torch.Tensor], seed: int, step: float = 1e-4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {k: (v.float() + torch.randn(v.shape, generator=generator) * step).to(v.dtype) for k, v in tensors.items()}


def _save_old(tensors: dict[str, torch.Tensor], path: Path, age: float = 60) -> None:
    """Written as safetensors and dated in the past, so the stat cache remembers what it was added as."""
    save_file(tensors, str(path))
    then = time.time() - age
    os.utime(path, (then, then))


def _add(repo: Repository, cache: StatCache, path: Path) -> tuple[TreeEntry, int]:
    with Ingestor(repo, cache) as ing:
        entry = ing.add_path(path)[0]
        repo.flush()
    return entry, ing.stats.bytes_stored


def test_a_safetensors_file_is_cut_on_its_tensors(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    tensors = {
        "embed": torch.zeros(300, 700, dtype=torch.bfloat16),  # 420,000 bytes: two pieces
        "norm.a": torch.zeros(10, dtype=torch.float32),
        "norm.b": torch.zeros(6, dtype=torch.float32),
        "mask": torch.zeros(5, dtype=torch.int8),
        "big": torch.zeros(70_000, dtype=torch.float64),  # 560,000 bytes: three pieces
    }
    save_file(tensors, str(path), metadata={"step": "10"})
    size = path.stat().st_size
    with open(path, "rb") as handle:
        spans = tensor_spans(handle, size)
        handle.seek(0)
        cuts = layout(handle, size, PIECE)
    assert spans is not None and cuts is not None
    # the chunks cover the file end to end, none larger than a piece
    assert cuts[0].offset == 0 and all(a.offset + a.length == b.offset for a, b in itertools.pairwise(cuts))
    assert cuts[-1].offset + cuts[-1].length == size and max(c.length for c in cuts) <= PIECE
    assert cuts[0] == Cut(0, spans[0][0], 1)  # the header alone
    # every tensor starts a chunk, or joins a neighbour of its width; no chunk crosses a tensor of another width
    widths = {start: width for start, _end, width in spans}
    for start, end, width in spans:
        holder = next(c for c in cuts if c.offset <= start < c.offset + c.length)
        assert holder.width == width and (holder.offset == start or widths.get(holder.offset) == width)
        assert all(c.width == width for c in cuts if start <= c.offset < end)
    by_width = sorted({c.width for c in cuts})
    assert by_width == [1, 2, 4, 8]  # header and int8 (1), bf16, the two float32 norms together, float64
    assert sum(1 for c in cuts if c.width == 4) == 1


@pytest.mark.parametrize(
    "head",
    [
        b"id,value\n1,2\n" * 10,  # a CSV: its first 8 bytes as a length are absurd
        struct.pack("<Q", 20) + b"not json at all!!!!!" + bytes(100),
        struct.pack("<Q", 2) + b"[]" + bytes(100),
        struct.pack("<Q", 64) + json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                            "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}).encode()[:64],
        struct.pack("<Q", 56) + json.dumps({"a": {"dtype": "F32", "shape": [400], "data_offsets": [0, 1600]}}).encode()[:56],
    ],
    ids=["csv", "not-json", "not-an-object", "overlapping", "past-the-end"],
)
def test_files_that_are_not_safetensors_are_cut_by_content(head: bytes) -> None:
    assert layout(io.BytesIO(head + bytes(200)), len(head) + 200, PIECE) is None


def test_a_fine_tune_is_stored_as_planes_of_its_xor_and_reads_back(tmp_path: Path) -> None:
    repo = Repository.open(open_backend(str(tmp_path / "store")), create=True)
    cache = StatCache(tmp_path / "stat.db")
    path = tmp_path / "model.safetensors"
    v1 = _weights(seed=1)
    _save_old(v1, path)
    first, first_stored = _add(repo, cache, path)
    size = path.stat().st_size
    first_bytes = path.read_bytes()
    assert first_stored < 0.92 * size  # planes alone: zstd over the float32 bytes as they lie saves ~7 %
    _save_old(_moved(v1, seed=2), path, age=30)
    second, second_stored = _add(repo, cache, path)
    assert second.id != first.id
    assert second_stored < 0.7 * size  # every weight moved by 0.5 % of its scale
    kinds = {repo.entry(c).flags for c, _ in repo.read_manifest(second.id)}
    assert FLAG_DELTA | FLAG_PLANES in kinds
    assert b"".join(repo.iter_file("chunked", second.id)) == path.read_bytes()
    assert b"".join(repo.iter_file("chunked", first.id)) == first_bytes
    # switching a checked-out file between the two: planes XORed with bases read from the file replaced
    dest = tmp_path / "work"
    for to, entry, expected in ((1, first, first_bytes), (2, second, path.read_bytes()), (1, first, first_bytes)):
        checkout_files(repo, entry, dest, file_name="model.safetensors", owner="m", version=f"m@{to}")
        assert (dest / "model.safetensors").read_bytes() == expected


def test_a_bfloat16_fine_tune_stores_under_a_third_and_unchanged_tensors_nothing(tmp_path: Path) -> None:
    repo = Repository.open(open_backend(str(tmp_path / "store")), create=True)
    cache = StatCache(tmp_path / "stat.db")
    path = tmp_path / "model.safetensors"
    v1 = _weights(seed=3, dtype=torch.bfloat16)
    _save_old(v1, path)
    _add(repo, cache, path)
    size = path.stat().st_size
    _save_old(_moved(v1, seed=4), path, age=30)
    _, moved = _add(repo, cache, path)
    assert moved < 0.35 * size
    # a fine-tune of one layer: the other tensors are the same chunks
    v3 = _moved(v1, seed=4)
    v3["layers.0.weight"] = (v3["layers.0.weight"].float() * 1.01).to(torch.bfloat16)
    _save_old(v3, path, age=20)
    _, one_layer = _add(repo, cache, path)
    assert one_layer < v3["layers.0.weight"].numel() * 2 * 0.6


def test_a_store_made_before_tensor_cuts_keeps_chunking_by_content(tmp_path: Path) -> None:
    """Its manifests' ids depend on the cuts: a store whose config lacks the key is not changed under it."""
    config = {**DEFAULT_CONFIG, "chunker": {k: v for k, v in DEFAULT_CONFIG["chunker"].items() if k != "tensors"}}
    backend = open_backend(str(tmp_path / "old"))
    backend.put("config", json.dumps(config).encode())
    old = Repository.open(backend)
    new = Repository.open(open_backend(str(tmp_path / "new")), create=True)
    path = tmp_path / "model.safetensors"
    _save_old(_weights(seed=5), path)
    by_content, _ = _add(old, StatCache(None), path)
    by_tensor, _ = _add(new, StatCache(None), path)
    assert by_content.id != by_tensor.id
    assert {old.entry(c).flags for c, _ in old.read_manifest(by_content.id)} <= {0, 1}
    assert b"".join(old.iter_file("chunked", by_content.id)) == path.read_bytes()


def test_damaged_planes_and_unknown_flags_are_named(tmp_path: Path) -> None:
    repo = Repository.open(open_backend(str(tmp_path / "store")), create=True)
    path = tmp_path / "model.safetensors"
    _save_old(_weights(seed=6, layers=2), path)
    entry, _ = _add(repo, StatCache(None), path)
    chunk = next(c for c, _ in repo.read_manifest(entry.id) if repo.entry(c).flags & FLAG_PLANES)
    record = repo.entry(chunk)
    pack = tmp_path / "store" / pack_key(record.pack)
    raw = bytearray(pack.read_bytes())
    raw[record.offset] = 9  # an element width no tensor has
    pack.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="element width"):
        repo.get(chunk)
    unknown = dataclasses.replace(record, flags=8)
    with pytest.raises(IntegrityError, match="flags 0x8 this modelkeep does not know"):
        repo.decode(chunk, unknown, b"x" * record.stored_length)
