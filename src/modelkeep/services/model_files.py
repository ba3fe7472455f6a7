"""Getting a version's files back out: into a local content cache, verified, and loaded.

Used the same way on both transports: the connection's store yields the bytes (read from the
local packs, or fetched chunk by chunk through the server), every chunk is checked against its
id, and the files land in ``CACHE/<digest>`` through a staging folder, so a second load of the
same version moves no bytes and a failed one leaves nothing half-written.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.errors import InvalidInput
from modelkeep.flavors import DESCRIPTOR

if TYPE_CHECKING:  # a scoring process loads models without the store
    from modelkeep.services.models.views import VersionView
    from modelkeep.store.artifacts import ArtifactStore


def cached_files(store: ArtifactStore, view: VersionView, cache: Path,
                 progress: Callable[[int], None] | None = None) -> Path:
    """The version's files under ``cache/<digest>`` (fetched and verified on first use)."""
    if not view.digest or view.artifact_kind not in ("file", "tree"):
        raise InvalidInput(f"{view.ref} has no model files (a {view.artifact_kind or 'metadata-only'} version)")
    target = cache / view.digest
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f".{view.digest}.{uuid.uuid4().hex[:8]}.partial"
    try:
        store.materialize(view.artifact_kind, view.digest, staging, progress)
        try:
            staging.rename(target)
        except OSError:  # another process finished the same digest first: theirs is identical
            if not target.exists():
                raise
    finally:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        elif staging.exists():
            staging.unlink()
    return target


def download(store: ArtifactStore, view: VersionView, dest: Path, progress: Callable[[int], None] | None = None) -> Path:
    """Write the version's files to ``dest`` (a folder for a folder artifact, else a file); ``dest``
    must not exist yet, or be an empty folder."""
    if not view.digest or view.artifact_kind not in ("file", "tree"):
        raise InvalidInput(f"{view.ref} has no model files to download")
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise InvalidInput(f"{dest} exists and is not an empty folder; give a new path (nothing is overwritten)")
    if dest.is_dir():
        dest.rmdir()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        store.materialize(view.artifact_kind, view.digest, staging, progress)
        staging.rename(dest)
    finally:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        elif staging.exists():
            staging.unlink()
    return dest


def load_version(folder: Path, *, allow_pickle: bool = False, trusted: list[str] | None = None) -> tuple[Any, str]:
    """The framework object saved in ``folder`` by a flavor, and the flavor's name."""
    from modelkeep.flavors import describe, load_model

    if not (folder / DESCRIPTOR).is_file() and not (folder / "MLmodel").is_file():
        raise InvalidInput(f"these files were not saved by a modelkeep flavor (no {DESCRIPTOR}) nor by MLflow; "
                           "use 'mk model download' to get them as they are")
    flavor = str(describe(folder)["flavor"])
    return load_model(folder, allow_pickle=allow_pickle, trusted=trusted), flavor


class Predictor:
    """One ``predict`` for every flavor: a DataFrame (columns by the signature's names), an array
    or a list of rows in, a list of predictions out; inputs are checked against the signature."""

    def __init__(self, obj: Any, flavor: str, view: VersionView) -> None:
        from modelkeep.services.deploy.predictor import LoadedModel

        self.model = LoadedModel(obj, flavor)
        self.version = view.ref
        self.inputs = (view.signature or {}).get("inputs") or self.model.inputs

    def predict(self, data: Any) -> list[Any]:
        from modelkeep.services.deploy.predictor import rows_to_array, to_json

        columns = getattr(data, "columns", None)
        if columns is not None:  # a DataFrame: order its columns as the signature names them
            names = [str(c.get("name")) for c in self.inputs] if self.inputs else [str(c) for c in columns]
            missing = [n for n in names if n not in set(map(str, columns))]
            if missing:
                raise InvalidInput(f"the data lacks column {missing[0]!r} of {self.version}'s signature "
                                   f"({', '.join(names)})")
            rows = data[names].to_numpy().tolist()
        elif hasattr(data, "tolist"):
            rows = data.tolist()
        else:
            rows = list(data)
        if rows and not isinstance(rows[0], list | dict):
            raise InvalidInput("predict takes rows: a DataFrame, a 2-D array or a list of rows")
        return to_json(self.model.call(rows_to_array(rows, self.inputs, where="data")))
