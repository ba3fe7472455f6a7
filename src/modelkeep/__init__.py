"""modelkeep: version everything that makes an ML model what it is.

The SDK mirrors the CLI::

    import modelkeep as mk

    v = mk.register("fraud", "model.skops", params={"max_depth": 5}, metrics={"auc": 0.91})
    mk.set_alias("fraud@1.0.1", "production")
    mk.get("fraud@production").version
    mk.search("metrics.auc > 0.9 and tags.team = 'risk'").results
    mk.diff("fraud@1.0.0", "fraud@1.0.1")["metrics"]

Functions use the repository found from the current directory (or ``MODELKEEP_HOME``);
:func:`open` returns a :class:`Workspace` for an explicit one. Heavy modules are imported on
first use, so ``import modelkeep`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelkeep.about import __version__
from modelkeep.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    ModelKeepError,
    NotFound,
    PermissionDenied,
)
from modelkeep.version import MLVersion, Part, VersionSpec

_SDK = {
    "delete",
    "delete_alias",
    "diff",
    "get",
    "init",
    "lineage",
    "list_models",
    "list_versions",
    "load_model",
    "download",
    "connection",
    "open",
    "register",
    "search",
    "seed_everything",
    "set_alias",
    "start_run",
    "step",
}

if TYPE_CHECKING:
    from modelkeep.sdk import (
        connection,
        delete,
        delete_alias,
        diff,
        download,
        get,
        init,
        lineage,
        list_models,
        list_versions,
        load_model,
        open,
        register,
        search,
        seed_everything,
        set_alias,
        start_run,
        step,
    )


def __getattr__(name: str) -> Any:
    if name in _SDK:
        from modelkeep import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'modelkeep' has no attribute {name!r}")


__all__ = [
    "Conflict",
    "IntegrityError",
    "InvalidInput",
    "MLVersion",
    "ModelKeepError",
    "NotFound",
    "Part",
    "PermissionDenied",
    "VersionSpec",
    "__version__",
    "connection",
    "delete",
    "delete_alias",
    "diff",
    "download",
    "get",
    "init",
    "lineage",
    "list_models",
    "list_versions",
    "load_model",
    "open",
    "register",
    "search",
    "seed_everything",
    "set_alias",
    "start_run",
    "step",
]
