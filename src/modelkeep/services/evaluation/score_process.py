"""Scoring in a second process, started when a command starts, so that importing the model
libraries (scikit-learn's base alone brings scipy.stats and pandas: 1.5-2 s, nearly all of it
holding the GIL) runs on another core while this process imports its own and opens the
repository. A thread cannot do that: imports in two threads take turns on one GIL.

The process imports, then waits for one request on stdin (a JSON line naming the table file this
side wrote, the versions' fetched folders and the scoring options), parses the table and says
how many rows it has (``{"rows": N}``: the bootstrap resamples are made from then on, here),
loads and scores each version, takes the built-in metrics' point values, and writes the arrays
to an ``.npz`` (no pickle) beside the table and ``{"done": ...}``; or ``{"error": ...}`` with
the message and the error's class, raised here again. Its stdout carries only those lines.

Only a fresh command gains from it: a process that has imported scikit-learn already (a server, a
notebook, the tests) scores in process (:func:`modelkeep.services.evaluation.scoring.score_table`),
the same code this process runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from modelkeep import errors
from modelkeep.errors import ModelKeepError, ServerError

if TYPE_CHECKING:  # imported where used: the process starts before this side imports numpy
    import numpy as np

    from modelkeep.services.evaluation.scoring import ModelFiles, Scoring, TableSource

MODULE = "modelkeep.services.evaluation.score_process"


class ScoringProcess:
    """The parent's handle: :meth:`send` one request, :meth:`rows`, then :meth:`result`."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="mk-scoring-")
        self.folder = Path(self._dir.name)
        self._stderr = open(self.folder / "stderr", "wb")  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen([sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr)
        self._count, self._answered = 0, False

    def send(self, source: TableSource, models: list[ModelFiles], target: str | None, slice_by: str | None, *,
             allow_pickle: bool = False, trusted: list[str] | None = None) -> None:
        table = self.folder / f"table{Path(source.path).suffix.lower()}"
        table.write_bytes(source.raw)
        request = {"table": str(table), "source": {k: v for k, v in vars(source).items() if k != "raw"},
                   "models": [asdict(m) for m in models], "target": target, "slice_by": slice_by,
                   "allow_pickle": allow_pickle, "trusted": list(trusted or []), "out": str(self.folder / "scored.npz")}
        self._count = len(models)
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(request).encode() + b"\n")
            stdin.close()
        except BrokenPipeError:
            self._said()  # it ended before the request: say why

    def rows(self) -> int:
        return int(self._said("rows"))

    def result(self) -> Scoring:
        import numpy as np

        from modelkeep.services.evaluation.metrics import Scored
        from modelkeep.services.evaluation.scoring import Scoring

        done = self._said("done")
        with np.load(done["arrays"], allow_pickle=False) as arrays:
            scored = [Scored(arrays["y"], arrays[f"pred{i}"], arrays.get(f"score{i}"),
                             done["points"][i]) for i in range(self._count)]
            slices = arrays.get("slices")
        return Scoring(done["target"], done["task"], slices, scored)

    def _said(self, key: str | None = None) -> Any:
        stdout = self._proc.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            code = self._proc.wait()
            raise ServerError(f"the scoring process ended (exit code {code}) before it answered{self._last_words()}")
        message = json.loads(line)
        self._answered = "rows" not in message
        if "error" in message:
            raise _error_class(message.get("kind"))(message["error"], hint=message.get("hint"))
        return message[key] if key else message

    def _last_words(self) -> str:
        self._stderr.flush()
        lines = (self.folder / "stderr").read_text(errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        self._stderr.close()
        warnings = (self.folder / "stderr").read_bytes()
        if warnings and self._answered:  # what it warned while scoring (a model saved by another version, ...)
            sys.stderr.write(warnings.decode(errors="replace"))
        self._dir.cleanup()

    def __enter__(self) -> ScoringProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _error_class(name: Any) -> type[ModelKeepError]:
    """The class of modelkeep's error tree the process named (else the root): the same exit code and status."""
    found = getattr(errors, str(name), None)
    return found if isinstance(found, type) and issubclass(found, ModelKeepError) else ModelKeepError


def _serve(out: IO[str]) -> None:
    import threading

    import numpy as np

    from modelkeep.flavors.skops_import import warm_up
    from modelkeep.services.evaluation.scoring import ModelFiles, TableSource, parse_table, score_table

    def say(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    try:  # the table is parsed first: its row count lets the other side start the resamples
        import pandas  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        pass  # said when the table is parsed
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    line = sys.stdin.readline()
    if not line:
        return  # the command ended before it needed scores
    try:
        request = json.loads(line)
        source = TableSource(**(request["source"] | {"raw": Path(request["table"]).read_bytes()}))
        table = parse_table(source)
        say({"rows": len(table.frame)})
        scoring = score_table(table, [ModelFiles(**m) for m in request["models"]], request["target"],
                              request["slice_by"], allow_pickle=request["allow_pickle"], trusted=request["trusted"])
        arrays: dict[str, Any] = {"y": _plain(scoring.scored[0].y)}
        for i, scored in enumerate(scoring.scored):
            arrays[f"pred{i}"] = _plain(scored.pred)
            if scored.score is not None:
                arrays[f"score{i}"] = scored.score
        if scoring.slices is not None:
            arrays["slices"] = _plain(scoring.slices)
        np.savez(request["out"], **arrays)
        say({"done": {"arrays": request["out"], "target": scoring.target, "task": scoring.task,
                      "points": [s.points for s in scoring.scored]}})
    except ModelKeepError as exc:
        say({"error": str(exc), "hint": exc.hint, "kind": type(exc).__name__})
    except Exception as exc:  # said to the parent, which raises it without a traceback
        say({"error": f"scoring failed: {type(exc).__name__}: {exc}", "kind": "ModelKeepError"})


def _plain(values: np.ndarray) -> np.ndarray:
    """Labels as numbers or text: an object column (text labels) becomes text, which needs no pickle."""
    return values.astype(str) if values.dtype.kind == "O" else values


def main() -> None:
    out = os.fdopen(os.dup(1), "w")  # the answers' own descriptor: whatever else prints goes to stderr
    os.dup2(2, 1)
    _serve(out)


if __name__ == "__main__":
    main()
