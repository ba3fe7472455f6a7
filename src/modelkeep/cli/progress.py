"""Progress for long work: bytes, rate and ETA on a terminal; silent when stderr is piped."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ByteProgress:
    """``advance(n)`` adds n bytes; ``set_total(n)`` sets the expected total."""

    def __init__(self, advance: Callable[[int], None], set_total: Callable[[int], None]) -> None:
        self.advance = advance
        self.set_total = set_total


@contextmanager
def byte_progress(label: str, total: int | None = None) -> Iterator[ByteProgress]:
    if not sys.stderr.isatty():
        yield ByteProgress(lambda n: None, lambda n: None)
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from modelkeep.cli.output import err_console

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console(),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield ByteProgress(
            lambda n: progress.advance(task, n),
            lambda n: progress.update(task, total=n),
        )
