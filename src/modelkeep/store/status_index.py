"""What a folder held when it last matched a version, for ``mk data status`` in one scan.

Like git's index: for the folder a version was added from (or last found clean against), each
file's path, ``stat`` (size, mtime, inode, ctime) and content id, with the version's digest.
A status that finds every file with the same ``stat`` is done without reading a tree or hashing a
byte; files whose ``stat`` moved are hashed and compared by content id alone; added and removed
files come from the path lists. One binary file per folder, read whole in milliseconds (the
stat cache's JSON of 100,000 files took half a second to parse).

A file modified within a second of the scan may change again within the same mtime tick, so
its ``stat`` is not recorded (it is hashed again next time), as in the stat cache.
"""

from __future__ import annotations

import json
import os
import sys
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelkeep.store.cache_files import replace_whole
from modelkeep.store.folder_watch import folder_key
from modelkeep.store.format import ObjectId, TreeEntry
from modelkeep.store.ingest import scan_within
from modelkeep.store.stat_cache import racy

MAGIC = b"MKSTATUS1\n"
KINDS = ("blob", "chunked")
FIELDS = 4  # size, mtime_ns, ino, ctime_ns


def index_path(folder: Path, source: Path) -> Path:
    """The index file of ``source`` (a data folder) under the cache ``folder``."""
    return folder / "status" / f"{folder_key(source)}.idx"


def stat_row(st: os.stat_result, started: float) -> list[int]:
    """The recorded ``stat`` of a file (a file modified within the last second: one never matched)."""
    return [st.st_size, -1 if racy(st, started) else st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def _stats_of(files: Iterable[tuple[str, os.stat_result]]) -> array:
    """The stats of ``files`` as the index keeps them, FIELDS per file."""
    out = array("q")
    for _, st in files:
        out.extend((st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns))
    return out


@dataclass
class StatusIndex:
    digest: str  # the version this folder's files make
    paths: list[str]  # relative POSIX paths, in the order a scan lists them
    stats: array  # FIELDS per file
    ids: list[str]
    kinds: bytes  # an index into KINDS per file
    watch: dict[str, Any] | None = None  # the folder watcher's token from before these stats were read

    @classmethod
    def of(cls, digest: str, files: Iterable[tuple[str, os.stat_result, TreeEntry]], started: float,
           watch: dict[str, Any] | None = None) -> StatusIndex:
        rows = list(files)  # in scan order: a status scanning the same folder lists them alike
        stats = array("q")
        for _, st, _ in rows:
            stats.extend(stat_row(st, started))
        return cls(digest, [r[0] for r in rows], stats, [str(r[2].id) for r in rows],
                   bytes(KINDS.index(r[2].kind) for r in rows), watch)

    def entry(self, i: int) -> TreeEntry:
        path = self.paths[i]
        return TreeEntry(path.rsplit("/", 1)[-1], KINDS[self.kinds[i]], ObjectId(self.ids[i]), self.stats[i * FIELDS])

    def save(self, path: Path) -> None:
        blobs = ["\0".join(self.paths).encode(), self.stats.tobytes(), bytes.fromhex("".join(self.ids)), self.kinds]
        header = {"digest": self.digest, "count": len(self.paths), "byteorder": sys.byteorder,
                  "lengths": [len(b) for b in blobs], "watch": self.watch}
        try:
            replace_whole(path, [MAGIC + json.dumps(header).encode() + b"\n", *blobs])
        except OSError:
            pass  # only costs a slower status

    @classmethod
    def load(cls, path: Path) -> StatusIndex | None:
        """The index, or None when missing or unreadable (then status takes the long way)."""
        try:
            data = path.read_bytes()
            if not data.startswith(MAGIC):
                return None
            end = data.index(b"\n", len(MAGIC))
            header = json.loads(data[len(MAGIC):end])
            count, lengths = int(header["count"]), [int(n) for n in header["lengths"]]
            if header["byteorder"] != sys.byteorder or len(lengths) != 4 or end + 1 + sum(lengths) != len(data):
                return None
            blobs, at = [], end + 1
            for n in lengths:
                blobs.append(data[at:at + n])
                at += n
            paths = blobs[0].decode().split("\0") if count else []
            stats = array("q")
            stats.frombytes(blobs[1])
            raw_ids = blobs[2]
            ids = [raw_ids[i * 32:(i + 1) * 32].hex() for i in range(count)]
            if len(paths) != count or len(stats) != count * FIELDS or len(raw_ids) != 32 * count or len(blobs[3]) != count:
                return None
            if any(k >= len(KINDS) for k in blobs[3]):
                return None
            watch = header.get("watch")
            return cls(str(header["digest"]), paths, stats, ids, bytes(blobs[3]), watch if isinstance(watch, dict) else None)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def compare(self, files: list[tuple[str, os.stat_result]], hash_file: Callable[[str], TreeEntry],
                started: float) -> tuple[dict[str, Any], bool]:
        """What changed from this index's version to ``files`` (relative path and stat, in scan
        order), in ``compare_files``' shape; ``hash_file(rel)`` gives the entry of a file whose
        stat moved. Also says whether the index should be saved again (files touched, not changed)."""
        current = _stats_of(files)
        same_paths = [p for p, _ in files] == self.paths
        if same_paths and current == self.stats:  # the common case: compared in C
            return {"added": [], "removed": [], "modified": [], "clean": True}, False
        now = dict(files)
        if same_paths:  # only stats moved: find which, a block of files at a time
            added, removed, candidates = [], [], self._moved(current)
        else:
            known = {p: i for i, p in enumerate(self.paths)}
            added = [{"path": p, "size": st.st_size} for p, st in sorted(now.items()) if p not in known]
            removed = [{"path": p, "size": self.stats[i * FIELDS]} for p, i in sorted(known.items()) if p not in now]
            candidates = [i for p, i in known.items() if p in now]
        return self._verdict(added, removed, candidates, now, hash_file, started)

    def compare_changed(self, root: Path, changed: list[str], hash_file: Callable[[str], TreeEntry],
                        started: float) -> tuple[dict[str, Any], bool]:
        """``compare`` of the folder ``root`` as it is now, reading only the ``changed`` paths (a
        watcher's answer: files, or folders read whole) and the files whose recorded stat was too
        recent to trust; every other file is as this index recorded it."""
        racy = [i for i in range(len(self.paths)) if self.stats[i * FIELDS + 1] == -1] \
            if -1 in self.stats[1::FIELDS] else []
        if not changed and not racy:  # the common case: nothing to read
            return {"added": [], "removed": [], "modified": [], "clean": True}, False
        if "" in changed:  # the folder itself (moved away and back, say): read it all
            return self.compare([(item.rel, item.st) for item in scan_within(root, "")], hash_file, started)
        known = {p: i for i, p in enumerate(self.paths)}
        now: dict[str, Any] = {}
        recorded: set[int] = set()  # the index's entries at or under the paths read again
        folders: set[str] = set()  # read paths the index holds no file at: maybe a folder it had files in
        for rel in [*changed, *(self.paths[i] for i in racy)]:
            now.update((item.rel, item.st) for item in scan_within(root, rel))
            if rel in known:
                recorded.add(known[rel])
            else:
                folders.add(rel)
        if folders:
            recorded.update(i for i, path in enumerate(self.paths) if _under(path, folders))
        recorded.update(known[path] for path in now if path in known)
        added = [{"path": p, "size": st.st_size} for p, st in sorted(now.items()) if p not in known]
        removed = [{"path": self.paths[i], "size": self.stats[i * FIELDS]}
                   for i in sorted(recorded, key=self.paths.__getitem__) if self.paths[i] not in now]
        candidates = [i for i in recorded if self.paths[i] in now]
        return self._verdict(added, removed, candidates, now, hash_file, started)

    def _verdict(self, added: list[dict[str, Any]], removed: list[dict[str, Any]], candidates: list[int],
                 now: dict[str, Any], hash_file: Callable[[str], TreeEntry], started: float) -> tuple[dict[str, Any], bool]:
        """The ``candidates`` (index positions of files still there) whose stat moved, hashed: modified
        when the content differs, else their new stat recorded (touched, not changed)."""
        modified, refreshed = [], False
        for i in candidates:
            path = self.paths[i]
            seen = now[path]
            row = self.stats[i * FIELDS:(i + 1) * FIELDS].tolist()
            if row == [seen.st_size, seen.st_mtime_ns, seen.st_ino, seen.st_ctime_ns]:
                continue
            entry = hash_file(path)
            if str(entry.id) != self.ids[i]:
                modified.append({"path": path, "size_a": row[0], "size_b": seen.st_size})
                continue
            self.stats[i * FIELDS:(i + 1) * FIELDS] = array("q", stat_row(seen, started))  # touched, not changed
            refreshed = True
        modified.sort(key=lambda m: str(m["path"]))
        clean = not (added or removed or modified)
        return {"added": added, "removed": removed, "modified": modified, "clean": clean}, refreshed

    def vouched(self, files: list[tuple[str, os.stat_result]]) -> dict[str, tuple[str, str]]:
        """``relative path -> (kind, id)`` of the files whose stat is as recorded: an add of this
        folder hashes none of them and asks the stat cache only about the rest."""
        current = _stats_of(files)
        if [p for p, _ in files] == self.paths:  # the common case: the moved ones found a block at a time
            moved = set(self._moved(current))
            return {path: (KINDS[self.kinds[i]], self.ids[i]) for i, path in enumerate(self.paths) if i not in moved}
        known = {p: i for i, p in enumerate(self.paths)}
        out: dict[str, tuple[str, str]] = {}
        for n, (path, _) in enumerate(files):
            i = known.get(path)
            if i is not None and current[n * FIELDS:(n + 1) * FIELDS] == self.stats[i * FIELDS:(i + 1) * FIELDS]:
                out[path] = (KINDS[self.kinds[i]], self.ids[i])
        return out

    def _moved(self, current: array) -> list[int]:
        """Files whose recorded stat differs from ``current`` (the same files, in the same order)."""
        block = 1024 * FIELDS
        out: list[int] = []
        for start in range(0, len(current), block):
            if current[start:start + block] != self.stats[start:start + block]:
                out.extend(i for i in range(start // FIELDS, min(start + block, len(current)) // FIELDS)
                           if current[i * FIELDS:(i + 1) * FIELDS] != self.stats[i * FIELDS:(i + 1) * FIELDS])
        return out


def _under(path: str, replaced: set[str]) -> bool:
    """``path`` or one of the folders above it is in ``replaced``."""
    while True:
        if path in replaced:
            return True
        cut = path.rfind("/")
        if cut < 0:
            return False
        path = path[:cut]
