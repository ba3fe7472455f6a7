"""A plain Python class: the class's import path plus the JSON keyword arguments that rebuild it.

No code is stored: the class comes from the loading environment, so, as with PyTorch, loading
imports a module by name and the caller must name the classes it trusts
(``trusted=["pkg.module:Scorer"]``). The instance needs ``predict(X)`` (or ``transform(X)`` /
``__call__`` for a preprocessing step); ``init_kwargs`` default to ``model.get_config()`` when
the class has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput
from modelkeep.flavors.trust import import_trusted


def save(model: Any, dest: Path, init_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    cls = type(model)
    if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
        raise InvalidInput(f"{cls.__qualname__} must be defined at module level in an importable module to be saved")
    if not any(callable(getattr(model, m, None)) for m in ("predict", "transform", "__call__")):
        raise InvalidInput(f"{cls.__qualname__} has no predict, transform or __call__ method")
    if init_kwargs is None:
        get_config = getattr(model, "get_config", None)
        init_kwargs = get_config() if callable(get_config) else {}
    try:
        json.dumps(init_kwargs)
    except TypeError as exc:
        raise InvalidInput(f"init_kwargs of {cls.__qualname__} must be JSON values: {exc}") from exc
    return {"flavor": "python", "format": "class", "class": f"{cls.__module__}:{cls.__qualname__}",
            "init_kwargs": init_kwargs}


def load(path: Path, descriptor: dict[str, Any], *, trusted: list[str] | None = None) -> Any:
    return import_trusted(path, descriptor["class"], trusted)(**descriptor.get("init_kwargs", {}))
