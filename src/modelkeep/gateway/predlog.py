"""The prediction log: one JSON line per answered request (time, request id, routing key, arm,
version, revision, prediction), so A/B/n assignments can be joined with outcomes later.

The request path only appends a tuple to a list; a background thread swaps the list out and
writes it (every 0.5 s), so logging never waits on the disk.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any


class PredictionLog:
    def __init__(self, path: Path, *, interval_s: float = 0.5) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._pending: list[tuple[Any, ...]] = []
        self._stop = threading.Event()
        self._interval = interval_s
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def record(self, request_id: str, key: str | None, arm: str, model: str, revision: int, predictions: Any) -> None:
        self._pending.append((time.time(), request_id, key, arm, model, revision, predictions))

    def flush(self) -> int:
        batch, self._pending = self._pending, []
        if not batch:
            return 0
        lines = [json.dumps({"at": at, "request_id": rid, "key": key, "arm": arm, "version": model, "revision": rev,
                             "predictions": preds}, separators=(",", ":"), default=str)
                 for at, rid, key, arm, model, rev, preds in batch]
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return len(batch)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
