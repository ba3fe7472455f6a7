"""A plain folder: whatever files the model is, copied as they are."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput


def save(model: Any, dest: Path) -> dict[str, Any]:
    source = Path(model)
    if not source.is_dir():
        raise InvalidInput(f"the folder flavor takes a folder path, got {model!r}")
    shutil.copytree(source, dest, dirs_exist_ok=True)
    return {"flavor": "folder", "format": "files"}
