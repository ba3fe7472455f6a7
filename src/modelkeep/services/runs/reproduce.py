"""``mk reproduce NAME@VERSION --to DIR [--verify]``: rebuild what made a version, and check it.

Materializes, under DIR: ``code/`` — a git worktree of the recorded commit with the recorded
uncommitted diff applied (untracked files are not part of a git diff and are listed instead);
``data/NAME@N/`` — the exact dataset versions; ``requirements.lock`` — every package of the
recorded environment; ``command.json`` and ``reproduce.sh`` — the command, its working folder
and the numerics environment variables. With ``verify`` the command runs again as a new run of
this registry, and the version it produces is compared with the original: artifact digest,
metrics within a tolerance, and the environment diff that may explain any difference.

It works on a :class:`~modelkeep.services.interface.Connection`, so it runs the same against a
local repository and through a server (the data and the recorded diff come through the store,
the re-run registers through the server).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

from modelkeep.capture.environment import diff as env_diff
from modelkeep.errors import Conflict, InvalidInput, NotFound
from modelkeep.services.interface import Connection
from modelkeep.services.models.views import VersionView
from modelkeep.services.runs.run_handle import RUN_ENV


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)


def _materialize_code(ws: Connection, code: dict[str, Any], dest: Path) -> dict[str, Any]:
    if not code.get("commit"):
        return {"status": "not recorded"}
    root = Path(code["root"])
    if not (root / ".git").exists():
        raise NotFound(
            f"the recorded git repository {root} is not on this machine", hint="clone it there, or reproduce where it lives"
        )
    _git(root, "worktree", "prune")
    made = _git(root, "worktree", "add", "--detach", str(dest), code["commit"])
    if made.returncode != 0:
        raise InvalidInput(f"git worktree add failed: {made.stderr.decode(errors='replace').strip()}")
    info: dict[str, Any] = {"status": "checked out", "commit": code["commit"], "path": str(dest)}
    if code.get("diff_object"):
        patch = dest.parent / "uncommitted.diff"
        patch.write_bytes(ws.store.get_bytes(code["diff_object"]))
        applied = _git(dest, "apply", "--binary", "--whitespace=nowarn", str(patch))
        if applied.returncode != 0:
            raise InvalidInput(f"the recorded diff does not apply: {applied.stderr.decode(errors='replace').strip()}")
        info["diff_applied"] = True
    if code.get("untracked"):
        info["untracked_not_restored"] = code["untracked"]
    return info


def plan(ws: Connection, ref: str, dest: Path) -> tuple[VersionView, dict[str, Any]]:
    version = ws.registry.get(ref)
    dest = dest.resolve()  # git runs in the recorded repository: relative paths would land there
    if dest.exists() and any(dest.iterdir()):
        raise Conflict(f"{dest} is not empty; reproduce into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    run = ws.runs.get(int(version.tags["run"])) if version.tags.get("run", "").isdigit() else None
    code = version.code or {}
    result: dict[str, Any] = {"version": version.ref, "to": str(dest), "run": run.id if run else None}
    result["code"] = _materialize_code(ws, code, dest / "code")
    data = {}
    for data_ref in version.data:
        target = dest / "data" / data_ref
        ws.datasets.checkout(data_ref, target)
        data[data_ref] = str(target)
    result["data"] = data
    packages = (version.environment or {}).get("packages", {})
    (dest / "requirements.lock").write_text("".join(f"{name}=={v}\n" for name, v in sorted(packages.items())))
    result["requirements"] = len(packages)
    command = run.command if run else None
    env_vars = (version.environment or {}).get("env_vars", {})
    workdir = dest / "code" / code.get("cwd", ".") if code.get("commit") else dest
    result["command"] = command
    result["cwd"] = str(workdir)
    (dest / "command.json").write_text(json.dumps({"command": command, "cwd": str(workdir), "env": env_vars}, indent=2))
    if command:
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env_vars.items())
        (dest / "reproduce.sh").write_text(f"#!/bin/sh\nset -e\n{exports}cd {shlex.quote(str(workdir))}\n{shlex.join(command)}\n")
        (dest / "reproduce.sh").chmod(0o755)
    return version, result


def _close(a: float, b: float, tolerance: float) -> bool:
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def verify(ws: Connection, version: VersionView, result: dict[str, Any], tolerance: float) -> dict[str, Any]:
    command = result["command"]
    if not command:
        raise InvalidInput(f"{version.ref} has no recorded command to re-run (it was not made inside 'mk run')")
    original_run = ws.runs.get(result["run"])
    rerun = ws.runs.start(f"reproduce {version.ref}", original_run.project, command=list(command))
    env = {
        **os.environ,
        **(version.environment or {}).get("env_vars", {}),
        **ws.child_env,
        RUN_ENV: str(rerun.id),
        "MODELKEEP_REPRODUCES": version.ref,
    }
    Path(result["cwd"]).mkdir(parents=True, exist_ok=True)  # e.g. an ignored work folder the commit lacks
    code = subprocess.run(command, cwd=result["cwd"], env=env).returncode
    rerun.end("finished" if code == 0 else "failed", exit_code=code)
    again = ws.runs.get(rerun.id)
    produced = [ref for ref in again.models if ref.split("@")[0] == version.name]
    report: dict[str, Any] = {"run": rerun.id, "exit_code": code, "produced": produced[-1] if produced else None}
    if code != 0 or not produced:
        report["match"] = False
        report["reason"] = f"the command exited {code}" if code else "the command registered no new version of the model"
        return report
    new = ws.registry.get(produced[-1])
    metrics = []
    for key in sorted(set(version.metrics) | set(new.metrics)):
        a, b = version.metrics.get(key), new.metrics.get(key)
        within = a is not None and b is not None and _close(a, b, tolerance)
        metrics.append({"key": key, "a": a, "b": b, "delta": None if a is None or b is None else b - a, "within": within})
    same_artifact = version.digest == new.digest
    report.update(
        {
            "artifact": {"a": version.digest, "b": new.digest, "same": same_artifact},
            "metrics": metrics,
            "environment": env_diff(original_run.environment, again.environment)[:50],
            "match": same_artifact and all(m["within"] for m in metrics),
        }
    )
    return report


def reproduce(ws: Connection, ref: str, dest: Path, *, check: bool = False, tolerance: float = 1e-6) -> dict[str, Any]:
    version, result = plan(ws, ref, dest)
    if check:
        result["verify"] = verify(ws, version, result, tolerance)
    return result
