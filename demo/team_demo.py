"""The story a second time, through ``mk server``: a team's client with MODELKEEP_URL set and no
repository of its own. Data, the training run, its lineage, the model and loading it back all go
over HTTP; the demo checks at the end that the client folder never got a ``.modelkeep``.

The server runs on PostgreSQL when the machine has it (a private cluster, as the tests start
one), else on SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from background import MK, background

HERE = Path(__file__).resolve().parent


@contextmanager
def database() -> Iterator[tuple[str | None, str]]:
    """(URL, what it is): a private PostgreSQL cluster if one can start here, else SQLite (None)."""
    sys.path.insert(0, str(HERE.parent))
    try:
        from tests.pgserver import PgServer

        server = PgServer()
        server.start()
    except Exception as exc:  # no PostgreSQL on this machine: the embedded default
        yield None, f"SQLite (PostgreSQL not available: {str(exc).splitlines()[0][:80]})"
        return
    try:
        yield server.create_database("modelkeep_team_demo"), f"PostgreSQL on 127.0.0.1:{server.port}"
    finally:
        server.stop()


def team_demo(work: Path, write_more: Callable[[Path], None]) -> None:
    server_root, client = work / "team-server", work / "team-client"
    for folder in (server_root, client / "data"):
        folder.mkdir(parents=True)
    shutil.copyfile(work / "data" / "train.csv", client / "data" / "train.csv")
    admin_env = {**os.environ, "MODELKEEP_USER": "admin"}
    for name in ("MODELKEEP_URL", "MODELKEEP_TOKEN", "MODELKEEP_HOME"):  # the server's own repository, found from its folder
        admin_env.pop(name, None)
    def admin(*args: str) -> str:
        done = subprocess.run([*MK, *args], cwd=server_root, env=admin_env, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            raise SystemExit(f"demo step failed: mk {' '.join(args)} (on the server's repository)")
        return done.stdout

    with database() as (db_url, what):
        admin("init", *(["--db", db_url] if db_url else []))
        print(f"server repository: {server_root} on {what}, store in its folder")
        with background(["server", "--bootstrap-token-file", "admin.token", "--no-access-log"], "/health",
                        cwd=server_root, env=admin_env) as url:
            admin("user", "add", "carol", "--role", "contributor")
            token = json.loads(admin("token", "create", "carol", "--json"))["token"]
            env = {**admin_env, "MODELKEEP_URL": url, "MODELKEEP_TOKEN": token, "MODELKEEP_USER": "nobody-local",
                   "MODELKEEP_CACHE": str(client / ".cache"), "MODELKEEP_CONFIG_DIR": str(client / ".config")}

            def mk(*args: str, token: str | None = None) -> str:
                print("$ mk " + " ".join(args), flush=True)
                done = subprocess.run([*MK, *args], cwd=client, capture_output=True, text=True,
                                      env={**env, "MODELKEEP_TOKEN": token} if token else env)
                if done.returncode:
                    print(done.stderr, file=sys.stderr)
                    raise SystemExit(f"demo step failed: mk {' '.join(args)}")
                print(done.stdout.rstrip() or done.stderr.rstrip())
                return done.stdout

            print(f"client: {client} (no repository), MODELKEEP_URL={url}, carol's token (contributor)")
            mk("whoami")
            mk("data", "add", "data", "--name", "fraud-train", "-m", "the training table, through the server")
            write_more(client / "data" / "train.csv")
            mk("data", "add", "data", "--name", "fraud-train", "-m", "+2k rows: only the new chunks travel")
            mk("data", "log", "fraud-train")
            mk("run", "--name", "nightly", "--project", "fraud", "--", sys.executable, str(HERE / "train.py"))
            mk("runs", "list", "--project", "fraud")
            mk("lineage", "fraud-nightly@latest")
            mk("model", "download", "fraud-nightly@latest", "--to", "downloaded")
            loaded = subprocess.run([sys.executable, "-c", LOAD], cwd=client, env=env, capture_output=True, text=True)
            if loaded.returncode:
                print(loaded.stderr, file=sys.stderr)
                raise SystemExit("demo step failed: mk.load_model through the server")
            print(loaded.stdout.rstrip())
            mk("reproduce", "fraud-nightly@latest", "--to", "repro", "--verify")
            serve_through(admin, mk, client, env)
    if (client / ".modelkeep").exists():
        raise SystemExit("the client folder got a local repository: something bypassed the server")
    print(f"the client folder holds no repository: every step above went through {url}")


def serve_through(admin: Callable[..., str], mk: Callable[..., str], client: Path, env: dict[str, str]) -> None:
    """Promotion and a gateway, through the server: adam approves carol's request; "edge", whose
    role may read models and run deployments and nothing else, deploys the approved version and
    runs `mk serve` with only its token (no database, no store of its own)."""
    import httpx

    admin("role", "define", "gateway", "model.read", "deployment.read", "deployment.write", "deployment.invoke")
    tokens = {}
    for user, role in (("adam", "approver"), ("edge", "gateway")):
        admin("user", "add", user, "--role", role)
        tokens[user] = json.loads(admin("token", "create", user, "--json"))["token"]
    request = json.loads(mk("promote", "fraud-nightly@latest", "--to", "production", "--justification",
                            "nightly retrain, gates checked", "--json"))
    mk("approve", str(request["id"]), "-m", "metrics look right", token=tokens["adam"])
    mk("deploy", "create", "fraud-live", "--model", "fraud-nightly@production", token=tokens["edge"])
    gateway_env = {**env, "MODELKEEP_TOKEN": tokens["edge"]}
    with background(["serve", "fraud-live", "--trust", "sklearn.tree._tree.Tree"], "/v2/health/ready", cwd=client,
                    env=gateway_env) as url:
        rows = [[0.1, -0.2, 0.3, 0.0, 1.2, -0.7]]
        answer = httpx.post(f"{url}/predict", json={"inputs": rows}, timeout=10,
                            headers={"Authorization": f"Bearer {tokens['edge']}"})
        if answer.status_code != 200:
            raise SystemExit(f"demo step failed: the gateway through the server answered {answer.status_code}: {answer.text}")
        print(f"mk serve fraud-live (MODELKEEP_URL, edge's token; no database, no store): {answer.json()['predictions']} "
              f"from {answer.headers['x-modelkeep-version']}")
    mk("deploy", "status", "fraud-live")


LOAD = """
import numpy as np, modelkeep as mk
try:
    mk.load_model("fraud-nightly@latest")
except mk.PermissionDenied as exc:  # skops loads only the types it trusts; a tree's nodes need a word from us
    print(f"mk.load_model refuses by default: {str(exc).split(': ', 1)[1]}")
trusted = ["sklearn.tree._tree.Tree"]
model = mk.load_model("fraud-nightly@latest", trusted=trusted)  # the scikit-learn object, through skops
predictor = mk.load_model("fraud-nightly@latest", trusted=trusted, as_predictor=True)
rows = np.random.default_rng(1).normal(size=(3, 6))
print(f"mk.load_model(..., trusted={trusted}) -> {type(model).__name__}; predict on 3 rows: {predictor.predict(rows)} "
      "(loads after the first read the local cache: no bytes move)")
"""
