"""Git state of the working tree a run starts from: commit, branch, remote, uncommitted diff."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def _git(cwd: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.decode("utf-8", "replace").strip()


def capture_git(cwd: Path | None = None) -> tuple[dict[str, Any] | None, bytes]:
    """(git facts, uncommitted diff bytes) — (None, b"") outside a git work tree."""
    where = Path(cwd or Path.cwd())
    top = _git(where, "rev-parse", "--show-toplevel")
    if not top:
        return None, b""
    root = Path(top)
    commit = _git(root, "rev-parse", "HEAD")
    info: dict[str, Any] = {
        "root": str(root),
        "commit": commit,
        "branch": _git(root, "rev-parse", "--abbrev-ref", "HEAD"),
        "remote": _git(root, "config", "--get", "remote.origin.url"),
    }
    diff = b""
    if commit:
        result = subprocess.run(["git", "diff", "--binary", "HEAD"], cwd=root, capture_output=True, timeout=30)
        diff = result.stdout if result.returncode == 0 else b""
    untracked = _git(root, "ls-files", "--others", "--exclude-standard")
    info["dirty"] = bool(diff) or bool(untracked)
    info["untracked"] = untracked.splitlines()[:1000] if untracked else []
    return info, diff
