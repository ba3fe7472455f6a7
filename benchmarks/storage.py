"""Storage benchmark: modelkeep beside DVC on the anchors' workloads, in one invocation.

    .venv/bin/python benchmarks/storage.py [--reps 3] [--workloads big,dir,weights] [--before SRC]
                                           [--data DIR] [--work DIR]

DATA holds ``shared/bench/gen_data.py base`` (big.csv, 1 GiB; images/, 5,000 files); it is
generated there if missing, and so is ``model.safetensors`` (the weights workload). DVC comes
from ``$ANCHORS/venv-dvc`` (``shared/bench/setup_anchors.sh``).

Every step runs as a whole process, the way a user runs it (CLI start-up included), after an
untimed ``sync``; each gets its wall seconds, its CPU-seconds (user + system of that process and
its children, from ``wait4``) and its peak RSS. In each repetition the tools take turns, step by
step (A B A B), each in a fresh repository of its own; each repetition starts with the next tool
(going first, right after another tool's writes, costs: the kernel reclaims and writes back what
the other left in the page cache):

* big: the CSV hard-linked in as v1; add v1, push v1 (to a local-folder remote), a no-change
  status; then for each mutation (append, edit, insert) on a private copy: add v2, push v2,
  checkout v2→v1 and v1→v2 (DVC switches its workspace file; modelkeep a checked-out folder).
* dir: the 5,000 files copied in; add, push, status; touch-dir (50 rewritten, 50 new): add, push,
  checkout v2→v1 and v1→v2.
* weights: a float32 checkpoint in safetensors (52 tensors of 1024 x 1024 drawn from N(0, 0.02)
  and their biases: 218 MB), hard-linked in as v1; fine-tune: every weight moved by
  N(0, ``--step``) (1e-4 by default: 0.5 % of the weights' scale), then as for big.

Prints, per step and tool, wall and CPU-seconds as median (min–max) over the repetitions, peak
RSS, the bytes each stored, and the ratio of the medians (modelkeep / DVC: below 1 is better).
On a virtual machine that hands freed memory back to its host (free page reporting: Firecracker and
others; ``page_reporting`` on the kernel's command line), the first process to write into memory an
earlier step freed pays a host-side fault per page as its own CPU time (about 0.9 CPU-s a GiB here),
and two threads writing one file make it twice (ext4 lets one write at a time; the other spins).
The steps after a mutation, the large-file checkouts above all, then measure who wrote first: time
them alone as well (a repository built by the same steps, the builds taking turns) before reading
a ratio.

``--before SRC`` adds modelkeep from another source tree (``PYTHONPATH=SRC``, e.g. a git worktree
of an older commit) as a third tool, so a change is measured against its parent in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"
ANCHORS = Path(os.environ.get("ANCHORS", ROOT / ".anchors"))
DVC = ANCHORS / "venv-dvc" / "bin" / "dvc"
MUTATIONS = {"big": ["append", "edit", "insert"], "dir": ["touch-dir"], "weights": ["fine-tune"]}
SOURCES = {"big": "big.csv", "dir": "images", "weights": "model.safetensors"}
STEP = 1e-4  # how far the fine-tune moves each weight (standard deviation); --step


@dataclass
class Run:
    wall: float
    cpu: float
    rss: int  # bytes


@dataclass
class Results:
    runs: dict[tuple[str, str, str], list[Run]] = field(default_factory=dict)  # (workload, step, tool)
    stored: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    steps: list[tuple[str, str]] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)

    def add(self, workload: str, step: str, tool: str, run: Run) -> None:
        if (workload, step) not in self.steps:
            self.steps.append((workload, step))
        if tool not in self.tools:
            self.tools.append(tool)
        self.runs.setdefault((workload, step, tool), []).append(run)

    def add_stored(self, workload: str, what: str, tool: str, size: int) -> None:
        self.stored.setdefault((workload, what, tool), []).append(size)


RESULTS = Results()


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[Run, str]:
    """One whole process: its own wall time, CPU-seconds and peak RSS (wait4, not the shell's)."""
    os.sync()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{err.read().decode()[-3000:]}")
        return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024), out.read().decode()


def quiet(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stderr[-3000:]}")
    return proc.stdout


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def fresh_copy(source: Path, target: Path) -> None:
    """A private copy (a mutation edits files in place: never the anchor data through a link)."""
    if target.exists() or target.is_symlink():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)


def make_weights(path: Path) -> None:
    """The weights workload's v1: 52 float32 matrices of 1024 x 1024 and their biases, seeded."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(17)
    tensors = {}
    for layer in range(52):
        tensors[f"layers.{layer}.weight"] = (rng.standard_normal((1024, 1024), dtype=np.float32) * 0.02)
        tensors[f"layers.{layer}.bias"] = (rng.standard_normal(1024, dtype=np.float32) * 0.02)
    save_file(tensors, str(path))


def fine_tune(path: Path) -> None:
    """Every weight moved a little: N(0, STEP) added to each, seeded."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    rng = np.random.default_rng(18)
    tensors = load_file(str(path))
    save_file({k: (v + rng.standard_normal(v.shape, dtype=np.float32) * np.float32(STEP)) for k, v in tensors.items()},
              str(path))


def mutate(kind: str, path: Path) -> None:
    if kind == "fine-tune":  # in a process of its own: a child forked after it would inherit its peak RSS
        subprocess.run([sys.executable, __file__, "--fine-tune", str(path), "--step", str(STEP)], check=True)
        return
    subprocess.run([sys.executable, str(BENCH / "gen_data.py"), "mutate", kind, str(path)], check=True,
                   capture_output=True)


MK = [sys.executable, "-m", "modelkeep.cli.main"]


def mk_env(src: Path | None) -> dict[str, str]:
    """The environment ``mk`` runs in: this repository's code, or the one under ``src`` (--before)."""
    env = {**os.environ, "MODELKEEP_USER": "bench"}
    env.pop("MODELKEEP_HOME", None)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


class Modelkeep:
    def __init__(self, label: str, work: Path, src: Path | None) -> None:
        self.label = label
        self.work = work / label
        self.env = mk_env(src)
        self.mk = MK
        self.version = 0

    def start(self, workload: str) -> Path:
        shutil.rmtree(self.work, ignore_errors=True)
        self.repo = self.work / "repo"
        self.repo.mkdir(parents=True)
        quiet([*self.mk, "init"], self.repo, self.env)
        quiet([*self.mk, "config", "set", "remote.origin", str(self.work / "remote")], self.repo, self.env)
        self.version = 0
        return self.repo / "data" / SOURCES[workload]

    def add(self) -> tuple[Run, int]:
        run, out = timed([*self.mk, "data", "add", "data", "--name", "bench", "--json"], self.repo, self.env)
        self.version += 1
        return run, int(json.loads(out)["bytes_stored"])

    def push(self) -> Run:
        return timed([*self.mk, "push", "--json"], self.repo, self.env)[0]

    def status(self) -> Run:
        run, out = timed([*self.mk, "data", "status", "bench", "--json"], self.repo, self.env)
        doc = json.loads(out)
        if doc.get("added") or doc.get("removed") or doc.get("modified"):
            raise SystemExit(f"mk data status is not clean: {out[:400]}")
        return run

    def prepare_switch(self) -> None:
        quiet([*self.mk, "data", "checkout", f"bench@{self.version}", "--to", "work", "--prune"], self.repo, self.env)

    def switch(self, to_v1: bool) -> Run:
        ref = "bench@1" if to_v1 else f"bench@{self.version}"
        return timed([*self.mk, "data", "checkout", ref, "--to", "work", "--prune"], self.repo, self.env)[0]

    def stored_bytes(self) -> int:
        return tree_bytes(self.repo / ".modelkeep" / "objects")


class Dvc:
    label = "DVC"

    def __init__(self, work: Path) -> None:
        self.work = work / "dvc"
        self.env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "bench",
                    "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "bench",
                    "GIT_COMMITTER_EMAIL": "bench@example.com"}
        self.version = 0

    def start(self, workload: str) -> Path:
        shutil.rmtree(self.work, ignore_errors=True)
        self.repo = self.work / "repo"
        self.repo.mkdir(parents=True)
        for cmd in (["git", "init", "-q", "-b", "main"], [str(DVC), "init", "-q"],
                    [str(DVC), "config", "core.site_cache_dir", str(self.work / "site_cache")],
                    [str(DVC), "remote", "add", "-d", "local", str(self.work / "remote")]):
            quiet(cmd, self.repo, self.env)
        self.target = f"data/{SOURCES[workload]}"
        self.version = 0
        return self.repo / self.target

    def add(self) -> tuple[Run, int]:
        before = self.stored_bytes()
        run, _ = timed([str(DVC), "add", "-q", self.target], self.repo, self.env)
        self.version += 1
        quiet(["git", "add", "-A"], self.repo, self.env)
        quiet(["git", "commit", "-q", "-m", f"v{self.version}"], self.repo, self.env)
        quiet(["git", "tag", f"v{self.version}"], self.repo, self.env)
        return run, self.stored_bytes() - before

    def push(self) -> Run:
        return timed([str(DVC), "push", "-q"], self.repo, self.env)[0]

    def status(self) -> Run:
        run, out = timed([str(DVC), "status"], self.repo, self.env)
        if "up to date" not in out:
            raise SystemExit(f"dvc status is not clean: {out[:400]}")
        return run

    def prepare_switch(self) -> None:
        pass  # DVC switches its workspace copy in place

    def switch(self, to_v1: bool) -> Run:
        quiet(["git", "checkout", "-q", "v1" if to_v1 else f"v{self.version}", "--", f"{self.target}.dvc"],
              self.repo, self.env)
        return timed([str(DVC), "checkout", "-q", f"{self.target}.dvc"], self.repo, self.env)[0]

    def stored_bytes(self) -> int:
        cache = self.repo / ".dvc" / "cache"
        return tree_bytes(cache) if cache.exists() else 0


Tool = Modelkeep | Dvc


def each(tools: list[Tool], workload: str, step: str, action: Callable[[Tool], Run]) -> None:
    for tool in tools:  # the tools take turns, step by step
        RESULTS.add(workload, step, tool.label, action(tool))


def add_step(tools: list[Tool], workload: str, step: str) -> None:
    for tool in tools:
        run, stored = tool.add()
        RESULTS.add(workload, step, tool.label, run)
        RESULTS.add_stored(workload, step, tool.label, stored)


def one_rep(tools: list[Tool], workload: str, data: Path) -> None:
    source = data / SOURCES[workload]
    targets = {}
    for tool in tools:
        target = tool.start(workload)
        target.parent.mkdir(parents=True, exist_ok=True)
        if workload in ("big", "weights"):
            os.link(source, target)  # v1 is the anchor file itself, hard-linked in
        else:
            shutil.copytree(source, target)
        targets[tool.label] = target
    add_step(tools, workload, "add v1")
    each(tools, workload, "push v1", lambda t: t.push())
    for _ in range(3):
        each(tools, workload, "no-change status", lambda t: t.status())
    for kind in MUTATIONS[workload]:
        for tool in tools:  # untimed: a private copy of v1, then the mutation
            fresh_copy(source, targets[tool.label])
            mutate(kind, targets[tool.label])
        add_step(tools, kind, "add v2")
        each(tools, kind, "push v2", lambda t: t.push())
        for tool in tools:
            tool.prepare_switch()
        each(tools, kind, "checkout v2→v1", lambda t: t.switch(True))
        each(tools, kind, "checkout v1→v2", lambda t: t.switch(False))
    for tool in tools:
        RESULTS.add_stored(workload, "store at the end", tool.label, tool.stored_bytes())


class CountedS3:
    """moto's S3 server on loopback, its request log kept to count requests per step."""

    def __init__(self, work: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log = work / "moto.log"
        self.log_file = open(self.log, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=self.log_file)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        for _ in range(150):
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/bench", method="PUT"), timeout=10)

    def requests(self) -> dict[str, int]:
        """Requests logged so far, by method."""
        counts: dict[str, int] = {}
        for line in self.log.read_text(errors="replace").splitlines():
            for method in ("GET", "PUT", "POST", "HEAD", "DELETE"):
                if f'"{method} /' in line:
                    counts[method] = counts.get(method, 0) + 1
        return counts

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log_file.close()


def bench_s3(data: Path, work: Path, workloads: list[str]) -> list[tuple[str, str, int, dict[str, int], Run]]:
    """modelkeep against an S3 store: requests and time of push, add, verify and checkout."""
    s3 = CountedS3(work)
    tool = Modelkeep("modelkeep-s3", work, None)
    rows = []

    def step(workload: str, label: str, cmd: list[str], cwd: Path) -> None:
        before = s3.requests()
        run, out = timed(cmd, cwd, tool.env)
        after = s3.requests()
        doc = json.loads(out) if out.strip().startswith("{") else {}
        objects = doc.get("objects") or doc.get("checked") or doc.get("files") or 0
        rows.append((workload, label, int(objects),
                     {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}, run))

    try:
        for workload in workloads:
            target = tool.start(workload)
            target.parent.mkdir(parents=True, exist_ok=True)
            if (data / SOURCES[workload]).is_file():
                os.link(data / SOURCES[workload], target)
            else:
                shutil.copytree(data / SOURCES[workload], target)
            quiet([*tool.mk, "data", "add", "data", "--name", "bench"], tool.repo, tool.env)
            remote = f"s3://bench/{workload}-remote?endpoint={s3.endpoint}"
            quiet([*tool.mk, "config", "set", "remote.origin", remote], tool.repo, tool.env)
            step(workload, "push to S3", [*tool.mk, "push", "--json"], tool.repo)
            # a repository whose own store is that bucket: add, verify, check out
            other = tool.work / "on-s3"
            other.mkdir()
            quiet([*tool.mk, "init"], other, tool.env)
            quiet([*tool.mk, "config", "set", "store.url", f"s3://bench/{workload}-store?endpoint={s3.endpoint}"], other,
                  tool.env)
            (other / "data").mkdir()
            if (data / SOURCES[workload]).is_file():
                os.link(data / SOURCES[workload], other / "data" / SOURCES[workload])
            else:
                shutil.copytree(data / SOURCES[workload], other / "data" / SOURCES[workload])
            step(workload, "add into an S3 store", [*tool.mk, "data", "add", "data", "--name", "bench", "--json"], other)
            step(workload, "verify an S3 store", [*tool.mk, "verify", "--json"], other)
            step(workload, "checkout from an S3 store", [*tool.mk, "data", "checkout", "bench@1", "--to", "out", "--json"], other)
    finally:
        s3.stop()
        shutil.rmtree(tool.work, ignore_errors=True)
    return rows


def report_s3(rows: list[tuple[str, str, int, dict[str, int], Run]]) -> None:
    print("\nagainst an S3 server (moto on loopback), one run each: requests by method, and time")
    print(f"{'workload':<10}{'step':<28}{'objects':>9}  {'requests':<34}{'wall s':>8}{'CPU-s':>8}")
    for workload, label, objects, counts, run in rows:
        text = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none"
        print(f"{workload:<10}{label:<28}{objects:>9,}  {text:<34}{run.wall:>8.2f}{run.cpu:>8.2f}")


def median_range(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def report(reps: int) -> None:
    tools = RESULTS.tools
    print(f"\nwhole processes, {reps} repetitions, tools taking turns step by step: median (min–max)\n")
    header = f"{'workload':<10}{'step':<18}" + "".join(f"{t + ' wall s':>22}{t + ' CPU-s':>22}" for t in tools)
    ratio = "DVC" in tools and tools[0] != "DVC"
    print(header + (f"{'wall / DVC':>12}{'CPU / DVC':>11}" if ratio else ""))
    print("-" * (len(header) + (23 if ratio else 0)))
    for workload, step in RESULTS.steps:
        line = f"{workload:<10}{step:<18}"
        medians = {}
        for tool in tools:
            runs = RESULTS.runs.get((workload, step, tool), [])
            if not runs:
                line += f"{'':>44}"
                continue
            walls, cpus = [r.wall for r in runs], [r.cpu for r in runs]
            medians[tool] = (statistics.median(walls), statistics.median(cpus))
            line += f"{median_range(walls, '.2f'):>22}{median_range(cpus, '.2f'):>22}"
        if ratio and "DVC" in medians and tools[0] in medians:
            ours, theirs = medians[tools[0]], medians["DVC"]
            line += f"{ours[0] / theirs[0]:>11.2f}x{ours[1] / theirs[1]:>10.2f}x"
        print(line)
    print("\npeak RSS (largest of the repetitions) and bytes stored (median)\n")
    for workload, step in RESULTS.steps:
        if not step.startswith("add"):
            continue
        cells = []
        for tool in tools:
            runs = RESULTS.runs.get((workload, step, tool), [])
            stored = RESULTS.stored.get((workload, step, tool), [])
            if runs:
                size = f", stored {statistics.median(stored) / 1e6:,.1f} MB" if stored else ""
                cells.append(f"{tool}: {max(r.rss for r in runs) / 1e6:,.0f} MB RSS{size}")
        print(f"{workload:<10}{step:<10}" + "; ".join(cells))
    for (workload, what, tool), sizes in RESULTS.stored.items():
        if what == "store at the end":
            print(f"{workload:<10}whole store after all versions, {tool}: {statistics.median(sizes) / 1e6:,.1f} MB")


def main() -> None:
    global STEP
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workloads", default="big,dir,weights", help="comma-separated: big, dir, weights")
    parser.add_argument("--step", type=float, default=STEP, help="weights: how far the fine-tune moves each weight")
    parser.add_argument("--make-weights", type=Path, help=argparse.SUPPRESS)  # the steps below, in a process of their own
    parser.add_argument("--fine-tune", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--before", type=Path, help="source folder of the modelkeep to compare with (its src/)")
    parser.add_argument("--no-dvc", action="store_true", help="modelkeep only")
    parser.add_argument("--s3", action="store_true", help="also count requests against an S3 server (moto), once")
    parser.add_argument("--data", type=Path, default=ANCHORS / "data")
    parser.add_argument("--work", type=Path, default=ANCHORS / "storage-bench")
    args = parser.parse_args()
    STEP = args.step
    if args.fine_tune is not None:
        fine_tune(args.fine_tune)
        return
    if args.make_weights is not None:
        make_weights(args.make_weights)
        return
    if not (args.data / "big.csv").exists():
        print(f"generating the anchor data in {args.data} ...", file=sys.stderr)
        subprocess.run([sys.executable, str(BENCH / "gen_data.py"), "base", "--out", str(args.data)], check=True)
    if "weights" in args.workloads and not (args.data / SOURCES["weights"]).exists():
        subprocess.run([sys.executable, __file__, "--make-weights", str(args.data / SOURCES["weights"])], check=True)
    tools: list[Tool] = [Modelkeep("modelkeep", args.work, None)]
    if args.before is not None:
        tools.append(Modelkeep("before", args.work, args.before))
    if not args.no_dvc:
        if not DVC.exists():
            raise SystemExit(f"no DVC at {DVC}: run shared/bench/setup_anchors.sh (ANCHORS={ANCHORS}), or pass --no-dvc")
        tools.append(Dvc(args.work))
    for rep in range(args.reps):
        # Whoever goes first after another tool's writes pays for the page cache they left (reclaim,
        # writeback): each repetition starts with the next tool (A B C, B C A, C A B).
        turn = tools[rep % len(tools):] + tools[:rep % len(tools)]
        for workload in args.workloads.split(","):
            one_rep(turn, workload.strip(), args.data)
            print(f"rep {rep + 1}/{args.reps}: {workload} done", file=sys.stderr)
    for tool in tools:
        shutil.rmtree(tool.work, ignore_errors=True)
    report(args.reps)
    if args.s3:
        sys.stdout.flush()
        report_s3(bench_s3(args.data, args.work, args.workloads.split(",")))


if __name__ == "__main__":
    main()
