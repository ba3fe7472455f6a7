"""scikit-learn: skops format by default; pickle/joblib only with an explicit opt-in."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from blake3 import blake3

from modelkeep.errors import InvalidInput, PermissionDenied
from modelkeep.flavors.skops_import import skops_io

FORMATS = ("skops", "pickle", "joblib")
def save(model: Any, dest: Path, serialization: str = "skops") -> dict[str, Any]:
    if serialization not in FORMATS:
        raise InvalidInput(f"unknown sklearn serialization {serialization!r}: use {', '.join(FORMATS)}")
    import sklearn

    if serialization == "skops":
        sio = skops_io()
        sio.dump(model, dest / "model.skops")
        _normalize_zip(dest / "model.skops")
        file = "model.skops"
    elif serialization == "joblib":
        import joblib

        joblib.dump(model, dest / "model.joblib")
        file = "model.joblib"
    else:
        (dest / "model.pkl").write_bytes(pickle.dumps(model, protocol=5))
        file = "model.pkl"
    cls = type(model)
    return {"flavor": "sklearn", "format": serialization, "file": file,
            "class": f"{cls.__module__}.{cls.__qualname__}", "sklearn_version": sklearn.__version__}


def _normalize_zip(path: Path) -> None:
    """Rewrite a zip with fixed timestamps and sorted members, so the same model always gives the
    same bytes (and the same digest) — what ``reproduce --verify`` compares."""
    import zipfile

    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    # skops names array files after id(obj), which changes from process to process: name them
    # after their content instead, and point schema.json at the new names.
    renames = {name: f"{blake3(data).hexdigest()[:32]}.npy" for name, data in members.items()
               if re.fullmatch(r"\d+\.npy", name)}
    if "schema.json" in members:
        schema = members["schema.json"].decode()
        for old, new in renames.items():
            schema = schema.replace(f'"{old}"', f'"{new}"')
        # "__id__" (shared-reference markers) are id(obj) too: number them by first appearance.
        numbers: dict[str, int] = {}
        schema = re.sub(r'"__id__": (\d+)', lambda m: f'"__id__": {numbers.setdefault(m[1], len(numbers) + 1)}', schema)
        members["schema.json"] = schema.encode()
        members = {renames.get(name, name): data for name, data in members.items()}
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name, data in sorted(members.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, data)
    tmp.replace(path)


def load(path: Path, descriptor: dict[str, Any], *, allow_pickle: bool = False, trusted: list[str] | None = None) -> Any:
    file = path / descriptor["file"]
    if descriptor["format"] == "skops":
        sio = skops_io()
        untrusted = [t for t in sio.get_untrusted_types(file=file) if t not in (trusted or [])]
        if untrusted:
            raise PermissionDenied(
                f"{file} holds types skops does not trust by default: {', '.join(untrusted)}",
                hint="inspect them, then pass trusted=[...] with the ones you accept",
            )
        return sio.load(file, trusted=trusted or [])
    if not allow_pickle:
        raise PermissionDenied(
            f"{file} is a {descriptor['format']} file: loading it runs arbitrary code",
            hint="pass allow_pickle=True only for files from a source you trust",
        )
    if descriptor["format"] == "joblib":
        import joblib

        return joblib.load(file)
    return pickle.loads(file.read_bytes())  # noqa: S301 - only with allow_pickle, the caller's explicit opt-in
