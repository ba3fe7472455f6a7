"""skops imported fast (issue 14's `mk merge` time): importing skops lists scikit-learn's estimators,
which imports every sklearn module and torch when it is installed, and scans every loaded module
for numpy's and scipy's ufuncs; modelkeep's import leaves torch out, keeps the names in the user's
cache, and trusts exactly the types skops trusts when imported plainly — cache or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
{prelude}
import skops.io._trusted_types as t
print(json.dumps({{"torch": "torch" in sys.modules, "walked": "sklearn.semi_supervised" in sys.modules,
                  "trusted": {{k: sorted(getattr(t, k)) for k in TRUSTED}}}}))
"""
TRUSTED = ("SKLEARN_ESTIMATOR_TYPE_NAMES", "SKLEARN_INTERNAL_TYPE_NAMES", "SCIPY_UFUNC_TYPE_NAMES",
           "NUMPY_UFUNC_TYPE_NAMES", "NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES", "NUMPY_DTYPE_TYPE_NAMES")
OURS = "from modelkeep.flavors.skops_import import skops_io; skops_io()"


def probe(prelude: str, cache: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE.format(prelude=prelude).replace("TRUSTED", repr(TRUSTED))],
                          capture_output=True, text=True, check=True, timeout=120,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    return json.loads(done.stdout)


def cached_names(cache: Path) -> Path:
    [found] = (cache / "modelkeep").glob("skops-trusted-*.json")
    return found


def test_skops_imports_without_torch_or_the_walk_and_trusts_the_same_types(tmp_path) -> None:
    pytest.importorskip("torch")  # the case this is about: torch installed beside scikit-learn
    plain = probe("import skops.io", tmp_path)
    first = probe(OURS, tmp_path)  # no cache yet: skops walks (without torch) and the names are kept
    again = probe(OURS, tmp_path)  # from the cache: no walk
    assert plain["torch"] and not first["torch"] and not again["torch"]
    assert first["walked"] and not again["walked"]
    assert first["trusted"] == plain["trusted"] and again["trusted"] == plain["trusted"]
    kept = json.loads(cached_names(tmp_path).read_text())
    assert sorted(kept["estimators"]) == plain["trusted"]["SKLEARN_ESTIMATOR_TYPE_NAMES"]
    assert set(kept["public"]) == {"scipy.special:numpy.ufunc", "numpy:numpy.ufunc"}


def test_a_tampered_cache_is_not_believed(tmp_path) -> None:
    plain = probe(OURS, tmp_path)
    path = cached_names(tmp_path)
    kept = json.loads(path.read_text())
    for key, bad in (("estimators", "os.system"), ("public", "builtins.eval")):
        tampered = json.loads(json.dumps(kept))
        if key == "estimators":
            tampered["estimators"].append(bad)
        else:
            tampered["public"]["numpy:numpy.ufunc"].append(bad)
        path.write_text(json.dumps(tampered))
        seen = probe(OURS, tmp_path)
        assert seen["walked"] and seen["trusted"] == plain["trusted"]  # computed again, as skops does
        assert bad not in path.read_text()  # and the cache written again from what was computed


def test_a_model_round_trips_and_the_torch_shim_still_imports_afterwards(tmp_path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from modelkeep.flavors.sklearn import load, save

    x = np.random.default_rng(0).normal(size=(200, 3))
    model = LogisticRegression().fit(x, x[:, 0] > 0)
    descriptor = save(model, tmp_path)
    again = load(tmp_path, descriptor)
    assert (again.predict(x) == model.predict(x)).all()
    assert "sklearn.externals.array_api_compat.torch" not in sys.modules or \
        sys.modules["sklearn.externals.array_api_compat.torch"] is not None
