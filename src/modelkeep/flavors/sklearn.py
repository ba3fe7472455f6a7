"""scikit-learn: skops format by default; pickle/joblib only with an explicit opt-in."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from modelkeep.errors import InvalidInput, PermissionDenied

FORMATS = ("skops", "pickle", "joblib")


def save(model: Any, dest: Path, serialization: str = "skops") -> dict[str, Any]:
    if serialization not in FORMATS:
        raise InvalidInput(f"unknown sklearn serialization {serialization!r}: use {', '.join(FORMATS)}")
    import sklearn

    if serialization == "skops":
        import skops.io as sio

        sio.dump(model, dest / "model.skops")
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


def load(path: Path, descriptor: dict[str, Any], *, allow_pickle: bool = False, trusted: list[str] | None = None) -> Any:
    file = path / descriptor["file"]
    if descriptor["format"] == "skops":
        import skops.io as sio

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
    return pickle.loads(file.read_bytes())  # noqa: S301 - explicit opt-in above
