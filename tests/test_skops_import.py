"""skops without torch (issue 14's `mk merge` time): importing skops lists scikit-learn's estimators,
which imports torch when it is installed; modelkeep's import of skops leaves torch out and trusts
exactly the types skops trusts when imported plainly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
{prelude}
import skops.io._trusted_types as t
print(json.dumps({{"torch": "torch" in sys.modules, "estimators": sorted(t.SKLEARN_ESTIMATOR_TYPE_NAMES),
                  "internal": sorted(t.SKLEARN_INTERNAL_TYPE_NAMES)}}))
"""


def probe(prelude: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE.format(prelude=prelude)], capture_output=True, text=True,
                          check=True, timeout=120)
    return json.loads(done.stdout)


def test_skops_imports_without_torch_and_trusts_the_same_types(tmp_path) -> None:
    pytest.importorskip("torch")  # the case this is about: torch installed beside scikit-learn
    ours = probe("from modelkeep.flavors.sklearn import skops_io; skops_io()")
    plain = probe("import skops.io")
    assert plain["torch"] and not ours["torch"]
    assert ours["estimators"] == plain["estimators"] and ours["internal"] == plain["internal"]


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
