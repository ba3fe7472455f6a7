"""PyTorch: the ``state_dict`` (loaded with ``weights_only=True``) plus the class to rebuild.

Loading imports the recorded class by name, which runs that module's code: the caller names the
classes it trusts (``trusted=["pkg.module:Net"]``), or loading is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput
from modelkeep.flavors.trust import import_trusted


def save(model: Any, dest: Path, init_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    import torch

    if not isinstance(model, torch.nn.Module):
        raise InvalidInput(f"the pytorch flavor takes a torch.nn.Module, got {type(model).__name__}")
    cls = type(model)
    if "<locals>" in cls.__qualname__:
        raise InvalidInput(f"{cls.__qualname__} is defined inside a function; define it at module level to save it")
    torch.save(model.state_dict(), dest / "state_dict.pt")
    return {"flavor": "pytorch", "format": "state_dict", "file": "state_dict.pt",
            "class": f"{cls.__module__}:{cls.__qualname__}", "init_kwargs": init_kwargs or {},
            "torch_version": torch.__version__}


def load(path: Path, descriptor: dict[str, Any], *, trusted: list[str] | None = None) -> Any:
    import torch

    model = import_trusted(path, descriptor["class"], trusted)(**descriptor.get("init_kwargs", {}))
    model.load_state_dict(torch.load(path / descriptor["file"], weights_only=True))
    model.eval()
    return model
