"""Nightly training job for the demo: everything it does is recorded by mk.start_run.

Run it through `mk run -- python ../train.py` (from demo/output): the run captures the environment
and git state, reads the exact dataset version through the registry, and registers the model.
`mk reproduce ... --verify` re-runs it from the recorded commit and compares the result.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier

import modelkeep as mk

with mk.start_run(name="nightly-train", project="fraud") as run:
    run.seed(7)
    folder = run.dataset_path("fraud-train@2")
    table = np.loadtxt(folder / "train.csv", delimiter=",", skiprows=1)
    x, y = table[:, :-1], table[:, -1].astype(int)
    split = int(len(x) * 0.8)
    params = {"max_depth": 6, "min_samples_leaf": 5}
    run.log_params(params)
    model = DecisionTreeClassifier(random_state=7, **params).fit(x[:split], y[:split])
    for depth in range(1, 4):  # a small metric series, as a training loop would log it
        run.log_metric("train_auc", float(roc_auc_score(y[:split], model.predict_proba(x[:split])[:, 1])), step=depth)
    auc = float(roc_auc_score(y[split:], model.predict_proba(x[split:])[:, 1]))
    version = run.log_model(model, "fraud-nightly", sample_input=x[:5], metrics={"auc[holdout]": auc},
                            tags={"team": "risk", "architecture": "tree"})
    print(f"registered {version.ref} (auc {auc:.4f})")
