"""Working through ``mk server``: data, runs and models over HTTP beside the same work done locally.

    .venv/bin/python benchmarks/team.py [--reps 3] [--data $ANCHORS/data/big.csv] [--model-mb 200]

A fresh repository (SQLite, local store) and a server process on loopback; the client works in
another folder with MODELKEEP_URL and a contributor's token. Each workload runs as whole
processes the way a user runs them, interleaved (local, server, local, server ...):

* ``mk data add`` of the 1 GiB CSV (``shared/bench/gen_data.py base``, hard-linked in) into a fresh
  dataset, locally and through the server; then a 1 % append added again through the server,
  with the pack bytes the client sent beside the new bytes the server recorded.
* a script doing ``mk.start_run`` + 100 ``log_metric`` + ``log_model`` (a small scikit-learn
  model) through the server.
* ``mk.load_model`` of a MODEL-MB model (a scikit-learn estimator carrying MODEL-MB of weights,
  saved with skops) cold (empty cache) and warm, beside reading as many bytes from a file; the
  warm figure is split into the cache lookup and deserializing.

Prints wall seconds and CPU-seconds, median (min–max); the server's CPU-seconds are read from
/proc for the workloads it serves.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MK = [sys.executable, "-m", "modelkeep.cli.main"]
ANCHORS = Path(os.environ.get("ANCHORS", ROOT / ".anchors"))  # where ../shared/bench/setup_anchors.sh put them
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, work: Path) -> None:
        self.root = work / "server"
        self.root.mkdir(parents=True)
        self.env = {**os.environ, "MODELKEEP_USER": "admin"}
        for name in ("MODELKEEP_URL", "MODELKEEP_TOKEN", "MODELKEEP_HOME"):
            self.env.pop(name, None)
        subprocess.run([*MK, "init"], cwd=self.root, env=self.env, check=True, capture_output=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([*MK, "server", "--port", str(port), "--bootstrap-token-file", "admin.token"],
                                     cwd=self.root, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(150):
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        self.token = (self.root / "admin.token").read_text().strip()  # the workloads measure transport, not roles

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}–{max(values):.2f})"


def bench_data(work: Path, data: Path, reps: int) -> list[tuple[str, list[float], list[float], list[float]]]:
    """Each rep: a fresh local repository and a fresh server (empty stores: nothing deduplicates
    against an earlier rep), local and server interleaved."""
    rows: dict[str, tuple[list[float], list[float], list[float]]] = {"local": ([], [], []), "server": ([], [], [])}
    for rep in range(reps):
        server = Server(work / f"rep-{rep}")
        try:
            for label in ("local", "server"):
                cwd = work / f"rep-{rep}" / label
                (cwd / "in").mkdir(parents=True)
                os.link(data, cwd / "in" / "big.csv")
                env = {**server.env, "MODELKEEP_USER": "bench"}
                if label == "local":
                    subprocess.run([*MK, "init"], cwd=cwd, env=env, check=True, capture_output=True)
                else:
                    env.update(MODELKEEP_URL=server.url, MODELKEEP_TOKEN=server.token,
                               MODELKEEP_CACHE=str(work / f"rep-{rep}" / "cache"))
                before = server.cpu()
                wall, cpu, _ = timed([*MK, "data", "add", "in", "--name", "big"], cwd, env)
                rows[label][0].append(wall)
                rows[label][1].append(cpu)
                rows[label][2].append(server.cpu() - before if label == "server" else 0.0)
            if rep == 0:
                append_through(server, work / "rep-0" / "server", data)
        finally:
            server.stop()
            shutil.rmtree(work / f"rep-{rep}", ignore_errors=True)
    return [(label, *values) for label, values in rows.items()]


def append_through(server: Server, cwd: Path, data: Path) -> None:
    """A 1 % append added again through the server: pack bytes sent vs new bytes recorded."""
    env = {**server.env, "MODELKEEP_URL": server.url, "MODELKEEP_TOKEN": server.token,
           "MODELKEEP_CACHE": str(cwd / "cache")}
    target = cwd / "in" / "big.csv"
    copy = cwd / "in" / "big.copy"
    shutil.copyfile(target, copy)
    copy.replace(target)
    with target.open("ab") as handle, data.open("rb") as source:
        handle.write(source.read(data.stat().st_size // 100))
    auth = {"Authorization": f"Bearer {server.token}"}
    keys_before = set(httpx.get(f"{server.url}/api/v1/store/keys", params={"prefix": "index/"}, headers=auth).json())
    wall, cpu, out = timed([*MK, "data", "add", "in", "--name", "big", "--json"], cwd, env)
    doc = json.loads(out)
    keys_after = set(httpx.get(f"{server.url}/api/v1/store/keys", params={"prefix": "index/"}, headers=auth).json())
    sent = sum(int(httpx.head(f"{server.url}/api/v1/store/objects/packs/{k[6:8]}/{k[6:]}", headers=auth)
                   .headers["X-Modelkeep-Size"]) for k in keys_after - keys_before)
    print(f"1 % append through the server: {wall:.2f} s, {cpu:.2f} CPU-s; new bytes recorded {doc['bytes_new']:,} "
          f"(stored {doc['bytes_stored']:,} compressed); pack bytes sent {sent:,} = {sent / max(1, doc['bytes_stored']):.2f}x "
          "the new chunks as stored")


TRAIN = """
import time, numpy as np, modelkeep as mk, skops.io, modelkeep.capture.environment
from sklearn.linear_model import LogisticRegression
x = np.random.RandomState(0).rand(200, 5); y = (x[:, 0] > 0.5).astype(int)
model = LogisticRegression().fit(x, y)
start = time.perf_counter()
with mk.start_run("bench") as run:
    run.seed(0)
    for step in range(100):
        run.log_metric("loss", 1.0 / (step + 1))
    run.log_model(model, "bench-model", sample_input=x[:5])
print(time.perf_counter() - start)
"""

SAVE_BIG = """
import sys, numpy as np, modelkeep as mk
from sklearn.linear_model import LinearRegression
size = int(sys.argv[1]) << 20
model = LinearRegression().fit(np.random.rand(20, 2), np.random.rand(20))
model.big_ = np.random.RandomState(1).rand(size // 8)  # an estimator with MODEL-MB of weights
with mk.start_run("big") as run:
    run.seed(0)
    v = run.log_model(model, "bench-big")
print(v.ref)
"""

LOAD = """
import sys, time, modelkeep as mk, skops.io, sklearn.linear_model  # imports outside the timing
from modelkeep.services.model_files import load_version
mk.connection().registry  # the client is set up outside the timing too
start = time.perf_counter()
model = mk.load_model(sys.argv[1])
total = time.perf_counter() - start
conn = mk.connection()
folder = conn.model_cache / conn.registry.get(sys.argv[1]).digest
start = time.perf_counter()
load_version(folder)
print(total, time.perf_counter() - start)
"""

READ = """
import sys, time
start = time.perf_counter()
data = open(sys.argv[1], "rb").read()
print(time.perf_counter() - start, len(data))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data", type=Path, default=ANCHORS / "data" / "big.csv")
    parser.add_argument("--model-mb", type=int, default=200)
    parser.add_argument("--skip-data", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mk-team-bench-", dir=args.data.parent if args.data.exists() else None))
    try:
        print(f"{os.cpu_count()} cores; reps {args.reps}")
        if not args.skip_data and args.data.exists():
            print(f"\nmk data add of {args.data} ({args.data.stat().st_size:,} bytes) into empty stores, whole processes,"
                  " interleaved")
            print(f"{'where':8} {'wall s, median (min–max)':>28} {'client CPU-s':>24} {'server CPU-s':>24}")
            for label, walls, cpus, server_cpus in bench_data(work, args.data, args.reps):
                print(f"{label:8} {summary(walls):>28} {summary(cpus):>24} {summary(server_cpus):>24}")
        server = Server(work / "runs-server")
        local = work / "runs-local"
        local.mkdir()
        client = work / "runs"
        client.mkdir()
        local_env = {**server.env, "MODELKEEP_USER": "bench"}
        subprocess.run([*MK, "init"], cwd=local, env=local_env, check=True, capture_output=True)
        env = {**server.env, "MODELKEEP_URL": server.url, "MODELKEEP_TOKEN": server.token,
               "MODELKEEP_CACHE": str(work / "client-cache")}
        results: dict[str, tuple[list[float], list[float], list[float]]] = {"local": ([], [], []), "server": ([], [], [])}
        for _ in range(args.reps):
            for label, cwd, run_env in (("local", local, local_env), ("server", client, env)):
                wall, cpu, out = timed([sys.executable, "-c", TRAIN], cwd, run_env)
                results[label][0].append(wall)
                results[label][1].append(cpu)
                results[label][2].append(float(out.split()[-1]))
        print("\nscript: start_run + 100 log_metric + log_model (imports done before the timer), interleaved")
        print(f"{'where':8} {'the calls, s':>24} {'whole process, s':>24} {'process CPU-s':>24}")
        for label, (walls, cpus, calls) in results.items():
            print(f"{label:8} {summary(calls):>24} {summary(walls):>24} {summary(cpus):>24}")

        _, _, out = timed([sys.executable, "-c", SAVE_BIG, str(args.model_mb)], client, env)
        ref = out.strip().splitlines()[-1]
        view = httpx.get(f"{server.url}/api/v1/models/{ref.replace('@', '/versions/')}",
                         headers={"Authorization": f"Bearer {server.token}"}).json()
        cold, warm, read, deserialize = [], [], [], []
        file_on_disk = work / "model.bin"
        file_on_disk.write_bytes(os.urandom(view["artifact"]["size"]))
        for _ in range(args.reps):
            shutil.rmtree(work / "client-cache", ignore_errors=True)
            _, _, out = timed([sys.executable, "-c", READ, str(file_on_disk)], client, env)
            read.append(float(out.split()[0]))
            _, _, out = timed([sys.executable, "-c", LOAD, ref], client, env)
            cold.append(float(out.split()[0]))
            _, _, out = timed([sys.executable, "-c", LOAD, ref], client, env)
            warm.append(float(out.split()[0]))
            deserialize.append(float(out.split()[1]))
        print(f"\nmk.load_model of {ref} ({view['artifact']['size']:,} bytes) through the server, seconds in the call")
        print(f"  read as many bytes from a file:  {summary(read)}")
        print(f"  cold (empty cache):              {summary(cold)}")
        print(f"  warm (cached by digest):         {summary(warm)}")
        print(f"  of which deserializing (skops):  {summary(deserialize)}")
        server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
