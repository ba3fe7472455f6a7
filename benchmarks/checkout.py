"""Switching a checked-out folder between two versions of a 1 GiB CSV: modelkeep beside DVC.

    .venv/bin/python benchmarks/checkout.py [--reps 3] [--before SRC] [--data DIR] [--work DIR]

Workload of ``shared/bench`` (``gen_data.py base``: big.csv; v2 = the ``edit`` mutation, 0.1 %
of rows rewritten in place). Each tool gets one repository holding v1 and v2 (set up untimed);
then, interleaved A B [C] A B [C] ..., each times ``checkout v2→v1`` and ``checkout v1→v2`` of its
folder in place, as whole processes the way a user runs them (CLI start-up included), after an
untimed ``sync``. ``--before SRC`` adds modelkeep from another source tree (e.g. a worktree of an
older commit, run with ``PYTHONPATH=SRC``), so a change is measured against its parent in the
same run. Prints wall seconds and CPU-seconds (user+sys of the process), median (min–max).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import storage  # benchmarks/storage.py, beside this file

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"
ANCHORS = Path(os.environ.get("ANCHORS", ROOT / ".anchors"))  # where ../shared/bench/setup_anchors.sh put them
DVC = ANCHORS / "venv-dvc" / "bin" / "dvc"


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process, measured as storage.py measures it (wait4)."""
    run, _ = storage.timed(cmd, cwd, env)
    return run.wall, run.cpu


class Modelkeep:
    def __init__(self, label: str, work: Path, src: Path | None) -> None:
        self.label = label
        self.repo = work / label
        self.env = storage.mk_env(src)
        self.mk = storage.MK

    def setup(self, v1: Path, v2: Path) -> None:
        shutil.rmtree(self.repo, ignore_errors=True)
        (self.repo / "data").mkdir(parents=True)
        storage.quiet([*self.mk, "init"], self.repo, self.env)
        for source in (v1, v2):
            os.link(source, self.repo / "data" / "big.csv")
            storage.quiet([*self.mk, "data", "add", "data", "--name", "big"], self.repo, self.env)
            (self.repo / "data" / "big.csv").unlink()
        storage.quiet([*self.mk, "data", "checkout", "big@2", "--to", "work"], self.repo, self.env)

    def switch(self, to: int) -> tuple[float, float]:
        return timed([*self.mk, "data", "checkout", f"big@{to}", "--to", "work"], self.repo, self.env)


class Dvc:
    label = "DVC"

    def __init__(self, work: Path) -> None:
        self.repo = work / "dvc"

    def setup(self, v1: Path, v2: Path) -> None:
        shutil.rmtree(self.repo, ignore_errors=True)
        self.repo.mkdir(parents=True)
        for cmd in (["git", "init", "-q", "-b", "main"], [str(DVC), "init", "-q"],
                    [str(DVC), "config", "core.site_cache_dir", str(self.repo / ".site_cache")]):
            storage.quiet(cmd, self.repo)
        for n, source in ((1, v1), (2, v2)):
            shutil.copyfile(source, self.repo / "big.csv")
            storage.quiet([str(DVC), "add", "-q", "big.csv"], self.repo)
            storage.quiet(["git", "add", "-A"], self.repo)
            storage.quiet(["git", "commit", "-q", "-m", f"v{n}"], self.repo)
            storage.quiet(["git", "tag", f"v{n}"], self.repo)

    def switch(self, to: int) -> tuple[float, float]:
        storage.quiet(["git", "checkout", "-q", f"v{to}", "--", "big.csv.dvc"], self.repo)
        return timed([str(DVC), "checkout", "-q", "big.csv.dvc"], self.repo)


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--before", type=Path, help="source folder of the modelkeep to compare with (its src/)")
    parser.add_argument("--data", type=Path, default=ANCHORS / "data")
    parser.add_argument("--work", type=Path, default=ANCHORS / "checkout-bench")
    args = parser.parse_args()
    big = args.data / "big.csv"
    if not big.exists():
        subprocess.run([sys.executable, str(BENCH / "gen_data.py"), "base", "--out", str(args.data)], check=True)
    args.work.mkdir(parents=True, exist_ok=True)
    v2 = args.work / "big-v2.csv"
    if not v2.exists():
        shutil.copyfile(big, v2)
        subprocess.run([sys.executable, str(BENCH / "gen_data.py"), "mutate", "edit", str(v2)], check=True)
    tools: list[Modelkeep | Dvc] = [Modelkeep("modelkeep", args.work, None)]
    if args.before is not None:
        tools.append(Modelkeep("modelkeep-before", args.work, args.before))
    if DVC.exists():
        tools.append(Dvc(args.work))
    else:
        print(f"(no DVC at {DVC}: run shared/bench/setup_anchors.sh for the anchor)", file=sys.stderr)
    for tool in tools:
        print(f"setting up {tool.label} ...", file=sys.stderr)
        tool.setup(big, v2)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for rep in range(args.reps):
        for tool in tools:  # interleaved: A B C, A B C, ...
            switch: Callable[[int], tuple[float, float]] = tool.switch
            results.setdefault((tool.label, "v2→v1"), []).append(switch(1))
            results.setdefault((tool.label, "v1→v2"), []).append(switch(2))
        print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr)
    print(f"checkout of the 1 GiB CSV in place, {args.reps} interleaved reps: median (min–max)")
    print(f"{'tool':<18} {'switch':<7} {'wall s':<20} {'CPU s':<20}")
    for (label, step), values in results.items():
        print(f"{label:<18} {step:<7} {summary([w for w, _ in values]):<20} {summary([c for _, c in values]):<20}")


if __name__ == "__main__":
    main()
