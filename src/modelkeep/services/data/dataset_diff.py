"""Comparing two dataset versions: files, and rows for CSV and Parquet files.

Rows of a modified CSV file are compared only where the files differ: the chunk lists of the
two versions are aligned (chunks are content-defined, so unchanged regions keep their chunk
ids), and for each differing region the lines of both sides (with one shared chunk of context
on each side, whose lines cancel out) are compared as multisets. Memory is bounded by one
region, not the file. Rows are lines: a quoted field with a newline inside counts as two.
Parquet files report the row counts from their footers (needs ``pyarrow``); added/removed is
then the net change.
"""

from __future__ import annotations

import io
from collections import Counter
from difflib import SequenceMatcher
from typing import Any

from modelkeep.services.data.data_status import compare_files
from modelkeep.services.data.version_reads import VersionReads
from modelkeep.store.format import ObjectId, TreeEntry
from modelkeep.store.repository import Repository

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")


def _lines(data: bytes, at_start: bool, at_end: bool) -> list[bytes]:
    lines = data.split(b"\n")
    if not at_end:
        lines = lines[:-1]  # a partial line: it continues beyond this region
    elif lines and lines[-1] == b"":
        lines = lines[:-1]
    if not at_start:
        lines = lines[1:]  # a partial line: it started before this region
    return lines


def _region(repo: Repository, chunks: list[tuple[ObjectId, int]], lo: int, hi: int) -> list[bytes]:
    start, end = max(0, lo - 1), min(len(chunks), hi + 1)  # one chunk of shared context each side
    data = b"".join(repo.get_many([c for c, _ in chunks[start:end]]))
    return _lines(data, start == 0, end == len(chunks))


def count_rows(repo: Repository, entry: TreeEntry) -> int:
    total, last = 0, b"\n"
    data: bytes | memoryview
    for data in repo.iter_file(entry.kind, entry.id):
        total += bytes(data).count(b"\n")
        if data:
            last = bytes(data[-1:])
    return total + (0 if last == b"\n" else 1)


def csv_rows(repo: Repository, entry: TreeEntry) -> int:
    """Data rows of a CSV file: its lines but the header line."""
    return max(0, count_rows(repo, entry) - 1)


def csv_row_diff(repo: Repository, a: TreeEntry, b: TreeEntry) -> dict[str, Any]:
    chunks_a, chunks_b = repo.chunks_of(a.kind, a.id), repo.chunks_of(b.kind, b.id)
    matcher = SequenceMatcher(None, [c for c, _ in chunks_a], [c for c, _ in chunks_b], autojunk=False)
    added = removed = 0
    for tag, a_lo, a_hi, b_lo, b_hi in matcher.get_opcodes():
        if tag == "equal":
            continue
        # An empty side (pure insert or delete) still reads its context chunks, which cancel.
        left = Counter(_region(repo, chunks_a, a_lo, a_hi))
        right = Counter(_region(repo, chunks_b, b_lo, b_hi))
        added += sum((right - left).values())
        removed += sum((left - right).values())
    return {"rows_a": csv_rows(repo, a), "rows_b": csv_rows(repo, b), "added": added, "removed": removed, "exact": True}


def parquet_rows(repo: Repository, entry: TreeEntry | None) -> int:
    if entry is None:
        return 0
    import pyarrow.parquet as pq

    data = b"".join(repo.iter_file(entry.kind, entry.id))
    return int(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)


def _tabular_rows(repo: Repository, path: str, a: TreeEntry | None, b: TreeEntry | None) -> dict[str, Any] | None:
    lower = path.lower()
    if lower.endswith(CSV_SUFFIXES):
        if a is not None and b is not None:
            return csv_row_diff(repo, a, b)
        rows = csv_rows(repo, a or b)  # type: ignore[arg-type]
        return {"rows_a": rows if a else 0, "rows_b": rows if b else 0,
                "added": 0 if a else rows, "removed": rows if a else 0, "exact": True}
    if lower.endswith(".parquet"):
        try:
            rows_a, rows_b = parquet_rows(repo, a), parquet_rows(repo, b)
        except ImportError:
            return None
        return {"rows_a": rows_a, "rows_b": rows_b, "added": max(0, rows_b - rows_a),
                "removed": max(0, rows_a - rows_b), "exact": False}
    return None


def diff_dataset_versions(datasets: VersionReads, a_ref: str, b_ref: str) -> dict[str, Any]:
    """The JSON document of ``mk data diff A B``."""
    a, b = datasets.get(a_ref), datasets.get(b_ref)
    files_a, files_b = datasets.files_of(a), datasets.files_of(b)
    if a.root_kind != "tree" and b.root_kind != "tree" and set(files_a) != set(files_b):
        # A single-file dataset whose source was renamed: compare the one file with the other.
        (name_b, entry_b), = files_b.items()
        files_a = {name_b: next(iter(files_a.values()))}
    doc = compare_files(files_a, files_b)
    rows: dict[str, Any] = {}
    for change in ("added", "removed", "modified"):
        for row in doc[change]:
            path = row["path"]
            result = _tabular_rows(datasets.repo, path, files_a.get(path), files_b.get(path))
            if result is not None:
                rows[path] = result
    return {"a": a.ref, "b": b.ref, **doc, "rows": rows,
            "bytes": {"a": a.bytes, "b": b.bytes, "delta": b.bytes - a.bytes}}
