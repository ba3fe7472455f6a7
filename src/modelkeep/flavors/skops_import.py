"""Importing skops in a fraction of its own import time, trusting exactly the types it trusts.

When imported, skops computes the lists of types it trusts by default: scikit-learn's estimators
(``all_estimators``: a walk that imports every sklearn module, about 1 s here, and through
sklearn's array-API shim torch where it is installed, 1.3-2.5 s more) and the public ufuncs of
numpy and scipy.special (each found by scanning every loaded module, 0.2-0.5 s). It keeps only
their names. So the torch shim is marked missing while skops imports (the walk skips a package
that fails to import), and the names are kept in the user's cache, keyed by the skops,
scikit-learn, numpy, scipy and Python versions; a later import hands skops those names instead of
computing them. A cached name must lie in the package it was computed for (``sklearn.``,
``numpy.``, ``scipy.``), so a tampered cache cannot make skops trust anything else.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_TORCH_SHIM = "sklearn.externals.array_api_compat.torch"
_ESTIMATOR = re.compile(r"sklearn(\.[A-Za-z_][A-Za-z0-9_]*)+")
_PUBLIC = re.compile(r"(numpy|scipy)(\.[A-Za-z_][A-Za-z0-9_]*)+")


_IMPORTING = threading.Lock()  # the finder and the shim's mark are process-wide: one thread sets them


def skops_io() -> Any:
    """``skops.io``, imported as described above (by whichever thread asks first; the others wait)."""
    with _IMPORTING:
        return _import_skops()


def _import_skops() -> Any:
    if "skops.io" in sys.modules or "torch" in sys.modules or _TORCH_SHIM in sys.modules:
        import skops.io as sio

        return sio
    cache = _cache_path()
    cached = _read(cache)
    computed: dict[str, list[str]] = {}
    finder = _TrustedTypesFinder(cached, computed)
    sys.meta_path.insert(0, finder)
    sys.modules[_TORCH_SHIM] = None  # type: ignore[assignment]
    try:
        import skops.io as sio
    finally:
        sys.meta_path.remove(finder)
        if sys.modules.get(_TORCH_SHIM, False) is None:
            del sys.modules[_TORCH_SHIM]
    if cached is None and finder.ran:
        _write(cache, {"estimators": list(sio._trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES), "public": computed})
    return sio


class _TrustedTypesFinder(importlib.abc.MetaPathFinder):
    """Finds ``skops.io._trusted_types`` as usual and runs it with the two functions it computes
    its lists with answering from the cache (or recording what they compute)."""

    def __init__(self, cached: dict[str, Any] | None, computed: dict[str, list[str]]) -> None:
        self.cached, self.computed, self.ran = cached, computed, False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "skops.io._trusted_types":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            import sklearn.utils
            import skops.io._utils as utils

            walk, public = sklearn.utils.all_estimators, utils.get_public_type_names
            if self.cached is not None:
                names = self.cached["estimators"]
                sklearn.utils.all_estimators = lambda *a, **k: [(n.rsplit(".", 1)[1], _named(n)) for n in names]
            utils.get_public_type_names = _public_names(public, self.cached, self.computed)
            try:
                run(module)
                self.ran = True
            finally:
                sklearn.utils.all_estimators, utils.get_public_type_names = walk, public

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def warm_up() -> None:
    """Import what loading and scoring a scikit-learn model needs (seconds: skops, scikit-learn's
    base, scipy.stats, pandas): for a thread started while other work waits on files or the
    database. A second caller waits on Python's import lock; nothing is imported twice."""
    try:
        skops_io()
        import sklearn.metrics  # noqa: F401
    except ImportError:
        return


def warm_up_in_background() -> None:
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()


def _public_names(compute: Callable[..., list[str]], cached: dict[str, Any] | None,
                  computed: dict[str, list[str]]) -> Callable[..., list[str]]:
    def public_names(module: Any, oftype: type) -> list[str]:
        key = f"{module.__name__}:{oftype.__module__}.{oftype.__qualname__}"
        if cached is not None and key in cached["public"]:
            return list(cached["public"][key])
        names = compute(module, oftype)
        computed[key] = list(names)
        return names

    return public_names


def _named(name: str) -> type:
    """A stand-in class whose module and name are ``name``'s: all skops reads of an estimator."""
    module, _, cls = name.rpartition(".")
    return type(cls, (), {"__module__": module})


def _cache_path() -> Path | None:
    import platform

    import numpy
    import platformdirs
    import scipy
    import sklearn
    import skops

    try:
        key = "-".join([skops.__version__, sklearn.__version__, numpy.__version__, scipy.__version__,
                        platform.python_version()])
        return Path(platformdirs.user_cache_dir("modelkeep")) / f"skops-trusted-{key}.json"
    except (AttributeError, OSError):
        return None


def _read(cache: Path | None) -> dict[str, Any] | None:
    """The cached names, or None when missing, unreadable or naming anything outside its package."""
    try:
        found = json.loads(cache.read_text()) if cache is not None else None
    except (OSError, ValueError):
        return None
    return _valid(found)


def _valid(found: Any) -> dict[str, Any] | None:
    if not isinstance(found, dict):
        return None
    estimators, public = found.get("estimators"), found.get("public")
    if not isinstance(estimators, list) or not estimators or not isinstance(public, dict) or \
            not all(isinstance(n, str) and _ESTIMATOR.fullmatch(n) for n in estimators):
        return None
    for key, names in public.items():
        root = str(key).split(".", 1)[0].split(":", 1)[0]
        if not isinstance(names, list) or not all(
                isinstance(n, str) and _PUBLIC.fullmatch(n) and n.split(".", 1)[0] == root for n in names):
            return None
    return found


def _write(cache: Path | None, names: dict[str, Any]) -> None:
    if cache is None or not names["estimators"] or _valid(names) is None:
        return  # names skops computed that this module would refuse to read: never cached
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(names))
        partial.replace(cache)
    except OSError:
        return  # a read-only home: skops computes its lists each time, as it does by itself
