"""Part 16 of the demo: two people's branches of one model, merges decided by evaluation (one
rejected with its intervals, one accepted), the CI gate's Markdown report, and the model card."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
from background import MK


def collaboration_demo(work: Path, mk: Callable[..., str], make_data: Callable[..., tuple[np.ndarray, np.ndarray]],
                       write_csv: Callable[..., None]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    from modelkeep.flavors import save_model

    def as_user(user: str, *args: str, codes: tuple[int, ...] = (0,)) -> str:
        print(f"[{user}] $ mk " + " ".join(args), flush=True)
        done = subprocess.run([*MK, *args], cwd=work, capture_output=True, text=True,
                              env={**os.environ, "MODELKEEP_USER": user})
        if done.returncode not in codes:
            print(done.stderr)
            raise SystemExit(f"demo step failed: mk {' '.join(args)}")
        print((done.stdout or done.stderr).rstrip())
        return done.stdout

    for user in ("ana", "ben"):
        mk("user", "add", user, "--role", "contributor", show=False)
    print("users ana and ben (contributors) each try an idea on a branch of `scorer`; main takes versions only by merge")
    x, y = make_data(6_000, seed=31)
    write_csv(work / "holdout" / "test.csv", *make_data(20_000, seed=32))
    mk("data", "add", "--name", "scorer-holdout", str(work / "holdout"), show=False)
    models = {"base": LogisticRegression(max_iter=500),
              "ana": make_pipeline(PolynomialFeatures(2), LogisticRegression(max_iter=2000)),  # sees f2×f3
              "ben": LogisticRegression(C=0.0005)}  # regularized hard
    for name, model in models.items():
        save_model(model.fit(x, y), work / "scorer" / name, "sklearn")
    mk("model", "register", "scorer", str(work / "scorer" / "base"), "--param", "model=logistic")
    mk("branch", "protect", "scorer")
    as_user("ana", "branch", "create", "scorer~ana-interactions")
    as_user("ana", "model", "register", "scorer", str(work / "scorer" / "ana"), "--branch", "ana-interactions",
            "--param", "model=logistic", "--param", "degree=2")
    as_user("ben", "branch", "create", "scorer~ben-regularized")
    as_user("ben", "model", "register", "scorer", str(work / "scorer" / "ben"), "--branch", "ben-regularized",
            "--param", "model=logistic", "--param", "C=0.0005")
    as_user("ben", "model", "register", "scorer", str(work / "scorer" / "ana"), codes=(4,))  # refused: main is protected
    mk("branch", "list", "scorer")
    (work / "merge.yaml").write_text("data: scorer-holdout@1\nsplit: test\nresamples: 1000\nrules:\n"
                                     "  - metric: auc\n    margin: 0.005\n    min_samples: 1000\n"
                                     "  - metric: accuracy\n    margin: -0.01\n")
    print("merge.yaml: AUC must gain at least 0.005 and accuracy lose at most 0.01 (95 % paired bootstrap intervals)")
    as_user("ben", "merge", "scorer~ben-regularized", "--policy", "merge.yaml", codes=(1,))
    as_user("ana", "merge", "scorer~ana-interactions", "--policy", "merge.yaml")
    mk("model", "show", "scorer@latest")
    as_user("ana", "note", "scorer@latest", "--kind", "decision", "-m",
            "degree-2 features over the linear baseline: they see the f2×f3 interaction; ben's regularized one lost")
    as_user("ana", "note", "scorer@latest", "--kind", "limitation", "-m", "trained on simulated data only")
    print("\nthe CI gate a pull request would run, with its Markdown report:")
    as_user("ana", "gate", "scorer@latest", "--against", "scorer@1.0.0.0.0", "--policy", "merge.yaml", "--report", "md")
    as_user("ana", "eval", "scorer@latest", "--data", "scorer-holdout@1", "--split", "test")
    mk("card", "scorer@latest", "-o", "scorer-card.md", show=False)
    card = (work / "scorer-card.md").read_text().splitlines()
    print(f"the model card (scorer-card.md, {len(card)} lines, Hugging Face model-index front matter) begins:")
    print("\n".join(card[:24]))
