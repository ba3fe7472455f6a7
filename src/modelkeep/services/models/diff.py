"""Comparing two model versions side by side.

Every section holds both sides; numeric metrics carry ``delta`` (b - a) and ``relative``
(delta / |a|, None when a is 0). Artifacts are compared file by file through the store's
manifests, so a folder artifact shows which files were added, removed or changed.
"""

from __future__ import annotations

from typing import Any

from modelkeep.services.data.data_status import compare_files
from modelkeep.services.models.bump import by_name
from modelkeep.services.models.views import VersionView
from modelkeep.store.artifacts import ArtifactStore


def _keyed(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        status = "added" if key not in a else "removed" if key not in b else (
            "same" if left == right else "changed"
        )
        rows.append({"key": key, "a": left, "b": right, "status": status})
    return rows


def _metrics(a: dict[str, float], b: dict[str, float]) -> list[dict[str, Any]]:
    rows = _keyed(a, b)
    for row in rows:
        if row["a"] is not None and row["b"] is not None:
            row["delta"] = row["b"] - row["a"]
            row["relative"] = row["delta"] / abs(row["a"]) if row["a"] else None
        else:
            row["delta"] = row["relative"] = None
    return rows


def _signature(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"a": a, "b": b, "same": a == b}
    for side in ("inputs", "outputs"):
        left = {c.get("name", str(i)): c for i, c in enumerate((a or {}).get(side, []))}
        right = {c.get("name", str(i)): c for i, c in enumerate((b or {}).get(side, []))}
        out[side] = [row for row in _keyed(left, right) if row["status"] != "same"]
    return out


def _artifacts(store: ArtifactStore, a: VersionView, b: VersionView) -> dict[str, Any]:
    files_a = {f.path: f for f in store.files_of(a.artifact_kind, a.digest, "artifact")}
    files_b = {f.path: f for f in store.files_of(b.artifact_kind, b.digest, "artifact")}
    files = compare_files(files_a, files_b, id_of=lambda entry: entry.object_id)
    return {
        "a": {"digest": a.digest, "kind": a.artifact_kind, "size": a.artifact_size},
        "b": {"digest": b.digest, "kind": b.artifact_kind, "size": b.artifact_size},
        "same": a.digest == b.digest,
        "added": files["added"],
        "removed": files["removed"],
        "changed": files["modified"],
    }


def diff_versions(store: ArtifactStore, a: VersionView, b: VersionView) -> dict[str, Any]:
    """The JSON document of ``mk model diff A B``."""
    return {
        "a": a.ref,
        "b": b.ref,
        "bump": {"a": a.bump, "b": b.bump},
        "reasons": {"a": a.reasons, "b": b.reasons},
        "params": _keyed(a.params, b.params),
        "metrics": _metrics(a.metrics, b.metrics),
        "tags": _keyed(a.tags, b.tags),
        "data": _keyed(by_name(a.data), by_name(b.data)),
        "signature": _signature(a.signature, b.signature),
        "code": {"a": a.code or {}, "b": b.code or {}, "same": (a.code or {}) == (b.code or {})},
        "environment": _keyed(a.environment or {}, b.environment or {}),
        "components": _keyed(by_name(a.components), by_name(b.components)),
        "artifacts": _artifacts(store, a, b),
    }
