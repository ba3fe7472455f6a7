"""Printing: JSON documents on stdout, Rich tables for people, messages on stderr."""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def json_text(document: Any) -> str:
    """A JSON document as the commands print it."""
    return json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n"


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout and nothing else."""
    sys.stdout.write(json_text(document))
    sys.stdout.flush()


@cache
def out_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


@cache
def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)
