"""Replacing a local cache file whole, under a temporary name of the writer's own: two processes
writing at once each replace the file (the last one wins, which only costs a cache miss), never
rename the other's half-written file, and a failed write leaves no temporary behind. No fsync: a
cache lost in a crash is only rebuilt."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path


def replace_whole(path: Path, parts: Iterable[bytes | memoryview]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                out.write(part)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
