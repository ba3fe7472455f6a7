"""``mk watch``: a subscription to one model's or dataset's events, said in plain words.

Each message is built from ``mk model diff`` between the version an event names and the one
before it (the parent for a new version; the alias's previous holder for a promotion), so a data
engineer reads "input features: added f4; data: fraud-train@3 → fraud-train@4" and a business
owner "auc 0.910 → 0.930 (+0.020)", in a Slack-compatible ``{"text": ...}`` body.
"""

from __future__ import annotations

from typing import Any

from modelkeep.errors import ModelKeepError


def _changes(diff: dict[str, Any]) -> list[str]:
    out = []
    sig = diff.get("signature", {})
    for side, label in (("inputs", "input features"), ("outputs", "outputs")):
        rows = sig.get(side) or []
        if rows:
            parts = [f"{r['status']} {r['key']}" for r in rows]
            out.append(f"{label}: {', '.join(parts)}")
    data = [r for r in diff.get("data", []) if r["status"] != "same"]
    if data:
        out.append("data: " + "; ".join(f"{r['key']}@{r['a'] or '∅'} → {r['key']}@{r['b'] or '∅'}" for r in data))
    metrics = [r for r in diff.get("metrics", []) if r["status"] != "same" and r.get("delta") is not None]
    if metrics:
        out.append("metrics: " + ", ".join(f"{r['key']} {r['a']:.3f} → {r['b']:.3f} ({r['delta']:+.3f})" for r in metrics[:8]))
    params = [r for r in diff.get("params", []) if r["status"] != "same"]
    if params:
        out.append("parameters: " + ", ".join(f"{r['key']} {r['a']} → {r['b']}" for r in params[:8]))
    return out


def words(conn: Any, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The message for one outbox event (None: nothing to say, e.g. the version is gone)."""
    event, target, actor = payload.get("event", ""), str(payload.get("target", "")), payload.get("actor", "")
    detail = payload.get("detail") or {}
    ref = target.split(":", 1)[-1]
    try:
        if event == "version.created" and "@" in ref:
            view = conn.registry.get(ref)
            head = f"{view.ref} registered by {actor} ({view.bump} bump: {'; '.join(view.reasons)})"
            if not view.parent:
                return {"text": head}
            changes = _changes(conn.registry.diff(view.parent_ref, view.ref))
            return {"text": head + (". " + ". ".join(changes) if changes else "")}
        if event in ("alias.moved", "promotion.applied", "rollback"):
            name = ref.split("@", 1)[0]
            alias, version, previous = detail.get("alias"), detail.get("version"), detail.get("previous")
            head = f"{name}@{alias} now {version}" + (f" (was {previous})" if previous else "") + f", by {actor}"
            if not (version and previous):
                return {"text": head}
            changes = [c for c in _changes(conn.registry.diff(f"{name}@{previous}", f"{name}@{version}"))
                       if c.startswith(("metrics", "input", "data"))]
            return {"text": head + (". " + ". ".join(changes) if changes else "")}
        if event == "dataset_version.created":
            return {"text": f"{ref} added by {actor}" + (f": {detail['message']}" if detail.get("message") else "")}
    except ModelKeepError:
        return None
    return {"text": f"{event} {ref} by {actor}"}
