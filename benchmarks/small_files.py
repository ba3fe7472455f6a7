"""Many small files: add, status and a read command, as whole ``mk`` processes.

    .venv/bin/python benchmarks/small_files.py [--files 100000] [--work DIR] [--dvc PATH]

Makes ``files`` files of 50-400 bytes in folders of 1,000 (a fixed seed), then: ``mk data add``
(wall, CPU-seconds and peak RSS from ``/usr/bin/time``), a no-change ``mk data status`` (median
of 5), ``mk data status`` after touching 10 files (median of 3, 10 other files each time, written
more than a second before the status), ``mk data add`` again after touching 10 more files (what
the stat cache answers), the two statuses again with ``mk data watch`` running (the add before
them keeps its token), and ``mk model list`` in that repository (median of 5).
DVC (in ``$ANCHORS``, where ``../shared/bench/setup_anchors.sh`` puts it) does the same on its own copy
of the files in the same invocation, taking turns with modelkeep step by step.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MK = [sys.executable, "-m", "modelkeep.cli.main"]
ROOT = Path(__file__).resolve().parents[1]
ANCHORS = Path(os.environ.get("ANCHORS", ROOT / ".anchors"))  # where ../shared/bench/setup_anchors.sh put them
DVC = ANCHORS / "venv-dvc" / "bin" / "dvc"


def timed(cwd: Path, *command: str) -> tuple[float, float, int]:
    """Wall seconds, CPU-seconds and peak RSS (KB) of one process."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", *command], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: {out.stderr}")
    wall, user, system, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(rss)


def make_files(root: Path, count: int) -> list[Path]:
    rng, made = random.Random(1), []
    root.parent.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        folder = root / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        path = folder / f"f{i % 1000:04d}.txt"
        path.write_text(f"{i}," + "x" * rng.randint(50, 400) + "\n")
        made.append(path)
    old = time.time() - 60
    for path in made:
        os.utime(path, (old, old))
    return made


ANCHOR = {"watched": "clean", "watched-touched": "touched"}  # DVC has no watcher: its own statuses


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--dvc", type=Path, default=DVC, help="the dvc executable (skipped when missing)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(dir=args.work, prefix="mk-small-files-"))
    tools = {"modelkeep": (work / "mk", [*MK]), "dvc": (work / "dvc", [str(args.dvc)])}
    if not args.dvc.exists():
        print(f"(no DVC at {args.dvc}: modelkeep alone)", file=sys.stderr)
        del tools["dvc"]
    found: dict[str, dict[str, list[tuple[float, float, int]]]] = {t: {} for t in tools}
    try:
        files = {tool: make_files(home / "tree", args.files) for tool, (home, _) in tools.items()}
        for home, command in tools.values():
            subprocess.run([*command, "init", *(["--no-scm"] if "dvc" in command[0] else [])], cwd=home, check=True,
                           capture_output=True)

        def step(name: str, tool: str, *more: str) -> None:
            home, command = tools[tool]
            found[tool].setdefault(name, []).append(timed(home, *command, *more))

        adds = {"modelkeep": ("data", "add", "tree", "--name", "small"), "dvc": ("add", "tree")}
        statuses = {"modelkeep": ("data", "status", "small"), "dvc": ("status",)}
        for tool in tools:  # A B: one add each (minutes)
            step("add", tool, *adds[tool])
        for _ in range(5):
            for tool in tools:
                step("clean", tool, *statuses[tool])
        for round_ in range(3):
            for tool in tools:
                for path in files[tool][round_ * 10 + 5000:(round_ + 1) * 10 + 5000]:
                    os.utime(path)
            time.sleep(1.1)  # older than a second: its new stat can be trusted once hashed
            for tool in tools:
                step("touched", tool, *statuses[tool])
        for tool in tools:  # an add after a few edits: what the stat cache answers, and what it costs to read
            for path in files[tool][6000:6010]:
                os.utime(path)
        time.sleep(1.1)
        subprocess.run([*MK, "data", "watch", "tree"], cwd=tools["modelkeep"][0], check=True, capture_output=True)
        for tool in tools:  # (modelkeep's add keeps the watcher's token: the statuses after it are watched)
            step("readd", tool, *adds[tool])
        for _ in range(5):
            step("watched", "modelkeep", *statuses["modelkeep"])
        for round_ in range(3):
            for path in files["modelkeep"][round_ * 10 + 7000:(round_ + 1) * 10 + 7000]:
                os.utime(path)
            time.sleep(1.1)
            step("watched-touched", "modelkeep", *statuses["modelkeep"])
        for _ in range(5):
            step("list", "modelkeep", "model", "list")
    finally:
        subprocess.run([*MK, "data", "watch", "tree", "--stop"], cwd=tools["modelkeep"][0], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    def cell(tool: str, name: str) -> str:
        if tool == "dvc":
            name = ANCHOR.get(name, name)
        runs = found.get(tool, {}).get(name)
        if not runs:
            return "—"
        walls = [r[0] for r in runs]
        if name in ("add", "readd"):
            wall, cpu, rss = runs[0]
            return f"{wall:.1f} s / {cpu:.1f} CPU-s / {rss / 1024:.0f} MB"
        cpus = [r[1] for r in runs]
        return f"{median(walls):.2f} s ({min(walls):.2f}–{max(walls):.2f}) / {median(cpus):.2f} CPU-s"

    def ratio(name: str) -> str:
        ours, theirs = found["modelkeep"].get(name), found.get("dvc", {}).get(ANCHOR.get(name, name))
        return f"{median([r[0] for r in ours]) / median([r[0] for r in theirs]):.2f}x" if ours and theirs else "—"

    print(f"\n| {args.files:,} small files | modelkeep | DVC | modelkeep / DVC (wall) | goal |")
    print("|---|---|---|---|---|")
    rows = (("add", "data add: wall / CPU / peak RSS", "≤ 0.2x; ≤ 300 MB"),
            ("clean", "no-change status, median of 5 (min–max)", "< 0.5 s"),
            ("touched", "status after touching 10 files, median of 3", "< 0.6 s"),
            ("readd", "data add again after touching 10 files: wall / CPU / peak RSS", ""),
            ("watched", "with `mk data watch`: no-change status, median of 5 (DVC: its status)", "< 0.5 s"),
            ("watched-touched", "with `mk data watch`: status after touching 10 files, median of 3", "< 0.6 s"),
            ("list", "mk model list in that repository, median of 5", "< 0.3 s"))
    for name, label, goal in rows:
        print(f"| {label} | {cell('modelkeep', name)} | {cell('dvc', name)} | {ratio(name)} | {goal} |")


if __name__ == "__main__":
    main()
