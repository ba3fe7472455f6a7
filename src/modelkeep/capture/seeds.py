"""Seeding every random number generator in reach, and recording what was done."""

from __future__ import annotations

import os
import random
import sys
from typing import Any


def seed_everything(seed: int, *, deterministic: bool = False, warn_only: bool = True) -> dict[str, Any]:
    """Seed ``random``, NumPy and PyTorch (CPU and CUDA) when present; with ``deterministic``,
    also set the flags that make PyTorch / cuBLAS deterministic. Returns what was set (a run
    records it)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        from modelkeep.errors import InvalidInput

        raise InvalidInput(f"seed must be an integer in [0, 2**32), got {seed!r}")
    record: dict[str, Any] = {"seed": seed, "deterministic": deterministic, "seeded": ["random"]}
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # affects child processes (this one is already hashed)
    numpy = sys.modules.get("numpy")
    if numpy is None:
        try:
            import numpy
        except ImportError:
            numpy = None
    if numpy is not None:
        numpy.random.seed(seed)
        record["seeded"].append("numpy")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        record["seeded"].append("torch")
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
            record["seeded"].append("torch.cuda")
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=warn_only)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
            record["flags"] = {"use_deterministic_algorithms": True, "cudnn.deterministic": True,
                               "cudnn.benchmark": False, "CUBLAS_WORKSPACE_CONFIG": os.environ["CUBLAS_WORKSPACE_CONFIG"]}
    elif deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        record["flags"] = {"CUBLAS_WORKSPACE_CONFIG": os.environ["CUBLAS_WORKSPACE_CONFIG"]}
    return record
