"""The main job, end to end, on the embedded default (SQLite + a local object folder).

Versions generated training data, trains a small scikit-learn model on it and walks the
registry: automatic PATCH, EXPERIMENT and DATA bumps with their reasons, new data that stores
only its changed bytes, a composite (ensemble) version, a diff, an alias, a search and a full
verify; then runs, reproduction, the server with promotions, and a deployment gateway with a
canary that is rolled back automatically; and finally the story again through ``mk server``, from
a client folder with no repository (data, run, lineage, model download and ``mk.load_model``).
Everything lands in demo/output/ (recreated on each run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from background import MK, background
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier

HERE = Path(__file__).resolve().parent
WORK = HERE / "output"


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def mk(*args: str, show: bool = True) -> str:
    print("$ mk " + " ".join(args), flush=True)
    result = subprocess.run([*MK, *args], cwd=WORK, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        raise SystemExit(f"demo step failed: mk {' '.join(args)}")
    if show:
        print(result.stdout.rstrip() or result.stderr.rstrip())
    return result.stdout


def make_data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    logits = 1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.7 * x[:, 2] * x[:, 3] + rng.normal(scale=0.5, size=rows)
    return x, (logits > 0).astype(int)


def write_csv(path: Path, x: np.ndarray, y: np.ndarray, append: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a" if append else "w") as handle:
        if not append:
            handle.write(",".join(f"f{i}" for i in range(x.shape[1])) + ",label\n")
        for row, label in zip(x, y, strict=True):
            handle.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    return table[:, :-1], table[:, -1].astype(int)


def save_model(model: object, name: str) -> Path:
    import skops.io as sio

    path = WORK / "artifacts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)
    return path


def server_demo() -> None:
    from modelkeep.client.connect import RemoteConnection

    with background(["server", "--bootstrap-token-file", "admin.token"], "/health", cwd=WORK) as url:
        admin_env = {**os.environ, "MODELKEEP_USER": "admin"}
        tokens = {}
        for user, role in (("carol", "contributor"), ("adam", "approver")):
            subprocess.run([*MK, "user", "add", user, "--role", role], cwd=WORK, env=admin_env, check=True,
                           capture_output=True)
            tokens[user] = json.loads(subprocess.run([*MK, "token", "create", user, "--json"], cwd=WORK, env=admin_env,
                                                     check=True, capture_output=True, text=True).stdout)["token"]
        (WORK / "gates.json").write_text(json.dumps({
            "min_metrics": {"auc[test]": 0.9},
            "compare_with_current": {"metric": "auc[test]", "max_drop": 0.02},
        }))
        subprocess.run([*MK, "protect", "*", "production", "--approvals", "1", "--gates", "gates.json"], cwd=WORK,
                       env=admin_env, check=True, capture_output=True)
        print("users: carol (contributor), adam (approver); production is protected for every model, with gates "
              "auc[test] >= 0.9 and no drop over 0.02 against the current holder")
        carol, adam = RemoteConnection(url, tokens["carol"]), RemoteConnection(url, tokens["adam"])
        request = carol.governance.request("fraud@1.0.1.0.1", "production", "experiment beats the current tree", ticket="CHG-42")
        print(f"carol: promotion {request['id']} of fraud@1.0.1.0.1 → production: {request['status']}")
        for gate in request["gates"]:
            print(f"  gate {'passed' if gate['passed'] else 'FAILED'}: {gate['gate']} ({gate['detail']})")
        try:
            carol.governance.review(request["id"], "approve")
        except Exception as exc:  # the four-eyes rule
            print(f"carol approves her own request: refused ({exc})")
        applied = adam.governance.review(request["id"], "approve", "metrics and gates look right")
        print(f"adam approves: {applied['status']}; fraud@production = {adam.registry.get('fraud@production').version}")
        back = adam.governance.rollback("fraud", "production")
        print(f"adam rolls back: fraud@production {back['from']} → {back['to']}")
        carol.close()
        adam.close()
        os.environ["MODELKEEP_USER"] = "admin"  # the registry has users now: the local CLI is checked like them
        print("the registry has users now: local commands act as user.name (here admin) under the same checks")
        mk("audit", "log", "--model", "fraud", "--limit", "6")
        mk("audit", "verify")


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    os.environ.setdefault("MODELKEEP_USER", "demo-scientist")
    train_csv = WORK / "data" / "train.csv"
    write_csv(train_csv, *make_data(20_000, seed=7))
    x_test, y_test = make_data(5_000, seed=99)
    x_train, y_train = read_csv(train_csv)
    signature = WORK / "signature.json"
    signature.write_text(json.dumps({
        "inputs": [{"name": f"f{i}", "type": "double"} for i in range(6)],
        "outputs": [{"name": "fraud_probability", "type": "double"}],
    }))

    say("1. Create the repository (SQLite in WAL mode + a chunked, content-addressed store)")
    mk("init")
    mk("data", "add", "data", "--name", "fraud-train", "-m", "20k labelled transactions")

    say("2. Train and register a first model (decision tree, depth 3)")
    tree3 = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x_train, y_train)
    auc3 = roc_auc_score(y_test, tree3.predict_proba(x_test)[:, 1])
    mk("model", "register", "fraud", str(save_model(tree3, "tree-d3.skops")), "--param", "max_depth=3",
       "--metric", f"auc[test]={auc3:.4f}", "--tag", "team=risk", "--tag", "architecture=tree",
       "--signature", "signature.json", "--data", "fraud-train@1", "-d", "first tree")

    say("3. Change a hyperparameter: modelkeep proposes a PATCH bump and says why")
    tree6 = DecisionTreeClassifier(max_depth=6, random_state=0).fit(x_train, y_train)
    auc6 = roc_auc_score(y_test, tree6.predict_proba(x_test)[:, 1])
    mk("model", "register", "fraud", str(save_model(tree6, "tree-d6.skops")), "--param", "max_depth=6",
       "--metric", f"auc[test]={auc6:.4f}", "--tag", "team=risk", "--tag", "architecture=tree",
       "--signature", "signature.json", "--data", "fraud-train@1")

    say("4. Try a variation as an experiment: EXPERIMENT bump")
    tree8 = DecisionTreeClassifier(max_depth=8, min_samples_leaf=20, random_state=0).fit(x_train, y_train)
    auc8 = roc_auc_score(y_test, tree8.predict_proba(x_test)[:, 1])
    mk("model", "register", "fraud", str(save_model(tree8, "tree-d8.skops")), "--param", "max_depth=8",
       "--param", "min_samples_leaf=20", "--metric", f"auc[test]={auc8:.4f}", "--tag", "team=risk",
       "--tag", "architecture=tree", "--signature", "signature.json", "--data", "fraud-train@1", "--experiment")

    say("5. New labelled data arrives: only the appended bytes are stored; retraining gives a DATA bump")
    write_csv(train_csv, *make_data(2_000, seed=8), append=True)
    mk("data", "status", "fraud-train")
    mk("data", "add", "data", "--name", "fraud-train", "-m", "+2k transactions from November")
    mk("data", "diff", "fraud-train@1", "fraud-train@2")
    x_train2, y_train2 = read_csv(train_csv)
    tree6b = DecisionTreeClassifier(max_depth=6, random_state=0).fit(x_train2, y_train2)
    auc6b = roc_auc_score(y_test, tree6b.predict_proba(x_test)[:, 1])
    mk("model", "register", "fraud", str(save_model(tree6b, "tree-d6-nov.skops")), "--param", "max_depth=6",
       "--metric", f"auc[test]={auc6b:.4f}", "--tag", "team=risk", "--tag", "architecture=tree",
       "--signature", "signature.json", "--data", "fraud-train@2", "--parent", "1.0.1")

    say("6. A second model, and an ensemble (composite version) pinning both")
    logreg = LogisticRegression(C=1.0).fit(x_train2, y_train2)
    auc_lr = roc_auc_score(y_test, logreg.predict_proba(x_test)[:, 1])
    mk("model", "register", "fraud-linear", str(save_model(logreg, "logreg.skops")), "--param", "C=1.0",
       "--metric", f"auc[test]={auc_lr:.4f}", "--tag", "team=risk", "--signature", "signature.json",
       "--data", "fraud-train@2")
    blend = 0.6 * tree6b.predict_proba(x_test)[:, 1] + 0.4 * logreg.predict_proba(x_test)[:, 1]
    auc_blend = roc_auc_score(y_test, blend)
    (WORK / "ensemble.json").write_text(json.dumps({"strategy": "weighted", "weights": [0.6, 0.4]}))
    mk("model", "register", "fraud-ensemble", "--composite", "fraud@1.0.1.1", "--composite",
       "fraud-linear@1.0.0", "--config", "ensemble.json", "--metric", f"auc[test]={auc_blend:.4f}")
    mk("model", "show", "fraud-ensemble@latest")

    say("7. Compare the tree before and after the new data, side by side")
    mk("model", "diff", "fraud@1.0.1", "fraud@1.0.1.1")

    say("8. Pin the retrained tree as production and resolve it by alias")
    mk("model", "alias", "fraud@1.0.1.1", "production")
    shown = json.loads(mk("model", "show", "fraud@production", "--json", show=False))
    print(f"fraud@production → {shown['version']} (digest {shown['digest'][:16]}…)")

    say("9. Search across every model, then check every stored byte")
    mk("model", "search", "metrics.auc > 0.8 and tags.team = 'risk' and version >= 1.0.1")
    mk("model", "list")
    mk("verify")

    say("10. Train through mk.start_run inside `mk run`: environment, git state, data, model, all linked")
    subprocess.run(["git", "worktree", "prune"], cwd=HERE, capture_output=True)
    mk("run", "--name", "nightly", "--project", "fraud", "--", sys.executable, "../train.py")
    env = json.loads(mk("env", "show", "run:1", "--json", show=False))
    print(f"captured: {env['os']['platform']}, Python {env['python']['version']}, {env['cpu'].get('model', '?')}, "
          f"{env['cpu']['logical_cores']} cores, {len(env['packages'])} packages, GPU: {env.get('gpu', 'none')}, "
          f"numerics env: {env['env_vars'] or 'none set'} (in {env['capture_ms']} ms)")
    mk("lineage", "fraud-nightly@latest")
    mk("lineage", "fraud-train@1", "--downstream")

    say("11. Reproduce the nightly model from its record, and verify the result matches")
    mk("reproduce", "fraud-nightly@latest", "--to", "repro", "--verify")

    say("12. A shared registry: mk server, a contributor requests promotion, an approver approves, rollback, audit")
    server_demo()

    say("13. Deploy: a canary behind mk serve, a fault in it and the automatic rollback; then upstream drift")
    from gateway_demo import gateway_demo

    gateway_demo(WORK, mk, x_train2, y_train2, x_test, y_test)

    say("14. The same story through mk server: a team's client with MODELKEEP_URL and no repository of its own")
    from team_demo import team_demo

    team_demo(WORK, lambda path: write_csv(path, *make_data(2_000, seed=9), append=True))

    say("15. Retention: keep the last 2 versions of every model (aliases, deployments and lineage stay whatever the"
        " policy), plan a gc, collect, and undo one drop")
    mk("retention", "set", "--all-models", "--keep-last", "2")
    mk("gc", "--dry-run")
    collected = json.loads(mk("gc", "--json", show=False))
    print(f"gc marked {len(collected['marked'])} versions; the sweep condemned "
          f"{collected['sweep']['condemned_now']} unreferenced objects for the next gc after the grace period")
    if collected["marked"]:
        mk("undelete", collected["marked"][0])

    say("16. Collaboration: two people's branches, merges decided by evaluation, the CI gate, a model card")
    from collaboration_demo import collaboration_demo

    collaboration_demo(WORK, mk, make_data, write_csv)

    say("17. The web UI: mk server's pages over everything above")
    from ui_demo import ui_demo

    ui_demo(WORK, mk, keep_open=False)

    say("Where everything went")
    print(f"repository:  {WORK / '.modelkeep'}")
    print(f"database:    {WORK / '.modelkeep' / 'registry.db'} (SQLite, WAL)")
    print(f"objects:     {WORK / '.modelkeep' / 'objects'} (packs of BLAKE3-addressed chunks; see docs/format.md)")
    print(f"gateway log: {WORK / 'gateway.log'}")
    print(f"team:        {WORK / 'team-server'} (the server's repository), {WORK / 'team-client'} (a client, no repository)")
    print("try:         cd demo/output && ../../.venv/bin/mk model list && ../../.venv/bin/mk deploy history fraud-scorer")
    if "--open" in sys.argv[1:]:
        say("The web UI, served until Ctrl-C")
        from ui_demo import ui_demo

        ui_demo(WORK, mk, keep_open=True)


if __name__ == "__main__":
    main()
