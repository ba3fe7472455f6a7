"""Human-readable views of registry objects (Rich tables); JSON output does not pass here."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from modelkeep.services.models.views import VersionView


def _kv(data: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in data.items()) or "-"


def version_table(view: VersionView) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("model", view.name),
        ("version", f"{view.version}  (number {view.seq}: MLflow's version)" if view.seq else view.version),
        ("bump", view.bump),
        ("reasons", "\n".join(view.reasons) or "-"),
        ("parent", view.parent or "-"),
        ("aliases", ", ".join(view.aliases) or "-"),
        ("params", _kv(view.params)),
        ("metrics", _kv(view.metrics)),
        ("tags", _kv(view.tags)),
        ("data", ", ".join(view.data) or "-"),
        ("components", ", ".join(view.components) or "-"),
        ("artifact", f"{view.artifact_kind or '-'} {view.digest or ''} ({view.artifact_size:,} B)"),
        ("created", f"{view.created_at:%Y-%m-%d %H:%M:%S} UTC by {view.created_by}"),
    ]
    if view.composite_config:
        rows.append(("combination", _kv(view.composite_config)))
    if view.metadata:
        metadata = dict(view.metadata)
        baseline = metadata.pop("baseline", None)
        if metadata:
            rows.append(("metadata", _kv(metadata)))
        if isinstance(baseline, dict):
            rows.append(("baseline", baseline_summary(baseline)))
    if view.description:
        rows.append(("description", view.description))
    for key, value in rows:
        table.add_row(key, Text(str(value)))
    return table


def baseline_summary(baseline: dict[str, Any]) -> str:
    """One line for the monitoring baseline (the whole profile is in ``--json``)."""
    features = baseline.get("features") or {}
    parts = [f"{baseline.get('rows', '?'):,} rows" if isinstance(baseline.get("rows"), int) else "profile",
             f"{len(features)} features" + (f" ({', '.join(list(features)[:6])}{', ...' if len(features) > 6 else ''})"
                                            if features else "")]
    if baseline.get("predictions"):
        parts.append("predictions profiled")
    if baseline.get("sample"):
        parts.append(f"{len(baseline['sample'])} sample rows")
    return "; ".join(parts) + " (mk model show --json for the whole profile)"


def versions_table(views: list[VersionView], title: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("model", "version", "bump", "aliases", "metrics", "created"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.name,
            v.version,
            v.bump,
            ", ".join(v.aliases),
            Text(_kv(v.metrics)),
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    return table


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def diff_tables(doc: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    a, b = doc["a"], doc["b"]
    bump = Table(title=Text(f"{a} → {b}"), show_header=False, box=None)
    bump.add_row("bump", f"{doc['bump']['b']}")
    bump.add_row("reasons", Text("\n".join(doc["reasons"]["b"]) or "-"))
    out.append(bump)
    for section in ("params", "metrics", "tags", "data", "components", "environment"):
        rows = [r for r in doc[section] if r["status"] != "same"]
        if not rows:
            continue
        table = Table(title=section)
        table.add_column("key")
        table.add_column(a)
        table.add_column(b)
        if section == "metrics":
            table.add_column("delta")
        for r in rows:
            cells = [r["key"], _fmt(r["a"]), _fmt(r["b"])]
            if section == "metrics":
                delta = r.get("delta")
                cells.append("-" if delta is None else f"{delta:+.6g}")
            table.add_row(*map(Text, cells))  # Text: a key like auc[holdout] is not Rich markup
        out.append(table)
    code = doc.get("code") or {}
    if code and not code.get("same", True):
        table = Table(title="code")
        table.add_column("key")
        table.add_column(a)
        table.add_column(b)
        left, right = code.get("a") or {}, code.get("b") or {}
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                table.add_row(Text(key), Text(_fmt(left.get(key))), Text(_fmt(right.get(key))))
        out.append(table)
    sig = doc["signature"]
    if not sig["same"]:
        table = Table(title="signature")
        table.add_column("side")
        table.add_column("column")
        table.add_column("change")
        for side in ("inputs", "outputs"):
            for r in sig[side]:
                table.add_row(side, Text(str(r["key"])), r["status"])
        out.append(table)
    art = doc["artifacts"]
    if not art["same"]:
        table = Table(title="artifacts")
        table.add_column("file")
        table.add_column("change")
        table.add_column("size")
        for r in art["added"]:
            table.add_row(Text(r["path"]), "added", f"{r['size']:,}")
        for r in art["removed"]:
            table.add_row(Text(r["path"]), "removed", f"{r['size']:,}")
        for r in art["changed"]:
            table.add_row(Text(r["path"]), "changed", f"{r['size_a']:,} → {r['size_b']:,}")
        out.append(table)
    return out
