"""Storage benchmark on the anchors' workloads, beside DVC's figures from the same machine.

    .venv/bin/python benchmarks/storage.py [--data DIR] [--work DIR] [--skip-big] [--skip-dir]

DATA holds the output of ``shared/bench/gen_data.py base`` (big.csv, 1 GiB; images/, 5,000
files); it is generated there if missing (~35 s). Every step runs ``mk`` as a whole process
(CLI start-up included, like the DVC figures), timed wall-clock, with its peak RSS from
``/usr/bin/time``. For each workload: add v1, push v1 (to a local-folder remote), then each
mutation of ``gen_data.py mutate`` on a copy: add v2 (time, MB/s, new and stored bytes), push,
checkout v2→v1 and v1→v2 in place (as ``dvc checkout`` switches), and a no-change status.
DVC's figures and the ratio stand beside ours.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"
MK = str(Path(sys.executable).with_name("mk"))

# DVC 3.67.1 on this machine (shared/bench/README.md): seconds, bytes.
DVC = {
    ("big", "add v1"): 4.65,
    ("big", "push v1"): 1.15,
    ("big", "status"): 0.46,
    ("big", "stored v1"): 1_073_741_803,
    ("append", "add"): 4.68,
    ("append", "push"): 3.84,
    ("append", "new"): 1_084_589_749,
    ("edit", "add"): 6.43,
    ("edit", "push"): 3.85,
    ("edit", "new"): 1_073_741_803,
    ("insert", "add"): 5.81,
    ("insert", "push"): 3.88,
    ("insert", "new"): 1_074_790_368,
    ("append", "checkout"): 1.00,
    ("edit", "checkout"): 0.99,
    ("insert", "checkout"): 1.05,
    ("dir", "add v1"): 2.7,
    ("dir", "push v1"): 2.39,
    ("dir", "status"): 0.70,
    ("dir", "stored v1"): 158_694_827,
    ("touch-dir", "add"): 1.22,
    ("touch-dir", "push"): 1.34,
    ("touch-dir", "new"): 3_801_770,
    ("touch-dir", "checkout"): 1.03,
}
rows: list[tuple[str, str, str, str, str]] = []


def run(cwd: Path, *args: str) -> tuple[float, int, str]:
    """(seconds, peak RSS bytes, stdout) of one ``mk`` process."""
    subprocess.run(["sync"], check=False)
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", MK, *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"mk {' '.join(args)} failed:\n{proc.stderr}")
    rss = int(proc.stderr.strip().splitlines()[-1]) * 1024
    return elapsed, rss, proc.stdout


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def record(workload: str, step: str, ours: str, dvc_key: tuple[str, str] | None, ours_value: float | None = None) -> None:
    dvc = DVC.get(dvc_key) if dvc_key else None
    if dvc is None:
        rows.append((workload, step, ours, "", ""))
        return
    dvc_text = mb(dvc) if dvc > 1000 else f"{dvc:.2f} s"
    ratio = f"{ours_value / dvc:.3f}x" if ours_value is not None else ""
    rows.append((workload, step, ours, dvc_text, ratio))


def fresh_repo(work: Path, name: str) -> Path:
    repo = work / name
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    run(repo, "init")
    run(repo, "config", "set", "remote.origin", str(repo / "remote"))
    return repo


def add(repo: Path, what: str, workload: str, step: str, dvc_key: tuple[str, str] | None, size: int) -> dict:
    seconds, rss, out = run(repo, "data", "add", what, "--name", "bench", "--json")
    info = json.loads(out)
    record(workload, f"{step} time", f"{seconds:.2f} s ({size / seconds / 1e6:,.0f} MB/s)", dvc_key, seconds)
    record(workload, f"{step} peak RSS", mb(rss), None)
    return info


def push(repo: Path, workload: str, step: str, dvc_key: tuple[str, str]) -> None:
    seconds, _rss, out = run(repo, "push", "--json")
    record(workload, f"{step} ({json.loads(out)['objects']:,} objects)", f"{seconds:.2f} s", dvc_key, seconds)


def checkout(repo: Path, ref: str, workload: str, step: str, dvc_key: tuple[str, str] | None, dest: Path) -> None:
    """Switch the working folder to ``ref`` in place, as ``dvc checkout`` does."""
    seconds, rss, _ = run(repo, "data", "checkout", ref, "--to", str(dest), "--prune")
    record(workload, f"{step} (peak {mb(rss)})", f"{seconds:.2f} s", dvc_key, seconds)


def status(repo: Path, workload: str, dvc_key: tuple[str, str], n: int = 5) -> None:
    times = sorted(run(repo, "data", "status", "bench")[0] for _ in range(n))
    record(workload, f"no-change status (median of {n})", f"{times[n // 2]:.3f} s", dvc_key, times[n // 2])


def bench_big(data: Path, work: Path, compression: str | None) -> None:
    label = "big" if compression is None else f"big ({compression})"
    for index, mutation in enumerate(("append", "edit", "insert")):
        repo = fresh_repo(work, f"big-{mutation}")
        if compression:
            run(repo, "config", "set", "store.compression", compression)
        src = repo / "data"
        src.mkdir()
        shutil.copyfile(data / "big.csv", src / "big.csv")
        size = (src / "big.csv").stat().st_size
        v1 = add(repo, "data", label, "add v1", ("big", "add v1") if index == 0 else None, size)
        if index == 0:
            record(label, "stored v1", mb(v1["bytes_stored"]), ("big", "stored v1"), v1["bytes_stored"])
            push(repo, label, "push v1", ("big", "push v1"))
            status(repo, label, ("big", "status"))
        else:
            run(repo, "push")
        if compression and index > 0:
            continue
        subprocess.run(
            [sys.executable, str(BENCH / "gen_data.py"), "mutate", mutation, str(src / "big.csv")],
            check=True,
            capture_output=True,
        )
        new_size = (src / "big.csv").stat().st_size
        v2 = add(repo, "data", mutation, "add v2", (mutation, "add"), new_size)
        record(
            mutation,
            "new bytes (raw / stored)",
            f"{mb(v2['bytes_new'])} / {mb(v2['bytes_stored'])}",
            (mutation, "new"),
            v2["bytes_new"],
        )
        push(repo, mutation, "push v2", (mutation, "push"))
        checkout(repo, "bench@1", mutation, "checkout v2→v1", (mutation, "checkout"), src)
        checkout(repo, "bench@2", mutation, "checkout v1→v2", (mutation, "checkout"), src)
        shutil.rmtree(repo, ignore_errors=True)
        if compression:
            break


def bench_dir(data: Path, work: Path) -> None:
    repo = fresh_repo(work, "dir")
    shutil.copytree(data / "images", repo / "images")
    size = sum(f.stat().st_size for f in (repo / "images").rglob("*") if f.is_file())
    v1 = add(repo, "images", "dir", "add v1", ("dir", "add v1"), size)
    record("dir", "stored v1", mb(v1["bytes_stored"]), ("dir", "stored v1"), v1["bytes_stored"])
    push(repo, "dir", "push v1", ("dir", "push v1"))
    status(repo, "dir", ("dir", "status"))
    subprocess.run(
        [sys.executable, str(BENCH / "gen_data.py"), "mutate", "touch-dir", str(repo / "images")], check=True, capture_output=True
    )
    v2 = add(repo, "images", "touch-dir", "add v2", ("touch-dir", "add"), size)
    record(
        "touch-dir",
        "new bytes (raw / stored)",
        f"{mb(v2['bytes_new'])} / {mb(v2['bytes_stored'])}",
        ("touch-dir", "new"),
        v2["bytes_new"],
    )
    push(repo, "touch-dir", "push v2", ("touch-dir", "push"))
    checkout(repo, "bench@1", "touch-dir", "checkout v2→v1", ("touch-dir", "checkout"), repo / "images")
    checkout(repo, "bench@2", "touch-dir", "checkout v1→v2", ("touch-dir", "checkout"), repo / "images")
    fresh = repo / "fresh"
    seconds, _, _ = run(repo, "data", "checkout", "bench@1", "--to", str(fresh))
    record("dir", "checkout v1 into an empty folder", f"{seconds:.2f} s", None)
    seconds, _, _ = run(repo, "push", "--json")
    record("dir", "no-change push", f"{seconds:.2f} s", None)
    shutil.rmtree(repo, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("ANCHORS", ROOT / ".tmp" / "anchors")) / "data")
    parser.add_argument("--work", type=Path, default=ROOT / ".tmp" / "bench-storage")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-dir", action="store_true")
    args = parser.parse_args()
    if not (args.data / "big.csv").exists():
        print(f"generating the anchor data in {args.data} ...", file=sys.stderr)
        subprocess.run([sys.executable, str(BENCH / "gen_data.py"), "base", "--out", str(args.data)], check=True)
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.skip_dir:
        bench_dir(args.data, args.work)
    if not args.skip_big:
        bench_big(args.data, args.work, None)
        bench_big(args.data, args.work, "off")
    print(f"\n{'workload':<14}{'measurement':<40}{'modelkeep':>24}{'DVC 3.67':>14}{'ratio':>10}")
    print("-" * 102)
    for workload, step, ours, dvc, ratio in rows:
        print(f"{workload:<14}{step:<40}{ours:>24}{dvc:>14}{ratio:>10}")
    print("\nratio = modelkeep / DVC (below 1 is better). DVC: shared/bench/README.md, same machine kind.")


if __name__ == "__main__":
    main()
