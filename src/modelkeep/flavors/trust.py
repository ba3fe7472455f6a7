"""Importing a class a saved model names: only when the caller trusts that class path, because
importing a module runs its code (PyTorch modules, plain Python classes)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput, PermissionDenied


def import_trusted(path: Path, class_path: str, trusted: list[str] | None) -> Any:
    """The class ``module:Qual.Name`` recorded for the model in ``path``, if ``trusted`` names it."""
    if class_path not in (trusted or []):
        raise PermissionDenied(
            f"loading {path} imports {class_path}, which runs that module's code",
            hint=f"trust it explicitly (trusted=[{class_path!r}], mk serve --trust {class_path})",
        )
    module_name, _, qualname = class_path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"cannot import {class_path}: {exc}") from exc
    return target
