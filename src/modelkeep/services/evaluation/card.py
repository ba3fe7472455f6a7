"""``mk card``: a model card rendered from what the registry knows — never a hand-edited copy.

Markdown with Hugging Face ``model-index`` YAML front matter (each evaluation a result: task,
dataset with its content digest as ``revision``, metrics per slice), then the sections of a card:
intended use, business context and risk tier (the version's metadata), training data (dataset
versions and digests), evaluations per slice, environment, limitations, decisions, lineage and
approvals (the audit log).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from modelkeep.services.evaluation.views import EvaluationView, NoteView

AUDIT_ENTRIES = 200  # the model's latest entries a card looks through for its approvals


def _model_index(name: str, evaluations: list[EvaluationView]) -> list[dict[str, Any]]:
    results = []
    for ev in evaluations:
        dataset_name = ev.dataset.split("@")[0]
        for slice_name, values in ev.metrics.items():
            metrics = [{"type": k, "value": v, "name": k if slice_name == "all" else f"{k} ({slice_name})"}
                       for k, v in values.items() if k != "n"]
            if not metrics:
                continue
            results.append({
                "task": {"type": "tabular-classification" if ev.task == "classification" else "tabular-regression"},
                "dataset": {"name": ev.dataset, "type": dataset_name, "revision": ev.dataset_digest,
                            **({"split": ev.split} if ev.split else {})},
                "metrics": metrics,
            })
    return [{"name": name, "results": results}] if results else []


@dataclass
class CardParts:
    """What a card is made from: the version (a VersionView), its evaluations and notes, its lineage
    upstream, the audit entries that approved it, and its training data (dataset ref -> content digest)."""

    view: Any
    evaluations: list[EvaluationView]
    notes: list[NoteView]
    lineage: dict[str, Any]
    approvals: list[dict[str, Any]]
    datasets: dict[str, str]

    def render(self) -> str:
        return render(self.view, self.evaluations, self.notes, self.lineage, self.approvals, self.datasets)

    def to_dict(self) -> dict[str, Any]:
        """``mk card --json``: the card's front matter (Hugging Face's model-index) and what it is made from."""
        return {"ref": self.view.ref, "front_matter": front_matter(self.view, self.evaluations, self.datasets),
                "version": self.view.to_dict(), "training_data": dict(sorted(self.datasets.items())),
                "evaluations": [e.to_dict() for e in self.evaluations], "notes": [n.to_dict() for n in self.notes],
                "lineage": self.lineage, "approvals": self.approvals}


def front_matter(view: Any, evaluations: list[EvaluationView], datasets: dict[str, str]) -> dict[str, Any]:
    """The card's YAML front matter: Hugging Face's fields, ``model-index`` an evaluation a result."""
    front: dict[str, Any] = {"library_name": "modelkeep", "tags": ["modelkeep", view.name],
                             "model_name": view.ref, "model-index": _model_index(view.ref, evaluations)}
    if datasets:
        front["datasets"] = sorted(datasets)
    if not front["model-index"]:
        del front["model-index"]
    return front


def render(view: Any, evaluations: list[EvaluationView], notes: list[NoteView], lineage: dict[str, Any],
           approvals: list[dict[str, Any]], datasets: dict[str, str]) -> str:
    """The card of ``view`` (a VersionView); ``datasets``: training dataset ref -> content digest."""
    meta = view.metadata or {}
    front = front_matter(view, evaluations, datasets)
    by_kind: dict[str, list[NoteView]] = {}
    for note in notes:
        by_kind.setdefault(note.kind, []).append(note)
    out = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "", f"# {view.ref}", ""]
    if view.description:
        out += [view.description, ""]
    out += [f"Version {view.version} ({view.bump}): {'; '.join(view.reasons) or 'no reasons recorded'}.",
            f"Aliases: {', '.join(view.aliases) or 'none'}.", ""]
    out += ["## Intended use", ""]
    intended = [n.text for n in by_kind.get("intended-use", [])]
    intended = intended or ([str(meta["intended_use"])] if meta.get("intended_use") else [])
    out += [*(f"- {t}" for t in intended)] if intended else ["Not recorded (`mk note REF --kind intended-use -m ...`)."]
    out += ["", "## Business context and risk", ""]
    context = {k: v for k, v in meta.items() if k in ("business_context", "owner", "risk_tier", "team", "use_case")}
    out += [f"- **{k.replace('_', ' ')}**: {v}" for k, v in context.items()] or ["Not recorded in the version's metadata."]
    out += [f"- **risk**: {n.text}" for n in by_kind.get("risk", [])]
    out += ["", "## Training data", ""]
    out += [f"- `{ref}` (content digest `{digest}`)" for ref, digest in sorted(datasets.items())] or ["None recorded."]
    out += ["", "## Evaluations", ""]
    if evaluations:
        for ev in evaluations:
            names = sorted({k for values in ev.metrics.values() for k in values if k != "n"})
            out += [f"On `{ev.dataset}`{f' ({ev.split})' if ev.split else ''}, digest `{ev.dataset_digest[:16]}`, "
                    f"target `{ev.target}`, evaluation #{ev.id} by {ev.created_by}:", "",
                    "| slice | rows | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
            for slice_name, values in ev.metrics.items():
                cells = " | ".join(f"{values[k]:.4f}" if k in values else "—" for k in names)
                out.append(f"| {slice_name} | {int(values.get('n', 0))} | {cells} |")
            out.append("")
    else:
        out += ["None recorded (`mk eval REF --data DATASET@N`).", ""]
    out += ["## Metrics recorded at registration", ""]
    out += [f"- {k}: {v}" for k, v in sorted(view.metrics.items())] or ["None."]
    env = view.environment or {}
    out += ["", "## Environment", ""]
    out += [f"- {k}: {env[k]}" for k in ("python", "platform", "hash") if env.get(k)] or ["Not captured."]
    out += ["", "## Limitations", ""]
    out += [f"- {n.text}" for n in by_kind.get("limitation", [])] or ["None recorded (`mk note REF --kind limitation -m ...`)."]
    out += ["", "## Decisions", ""]
    out += [f"- {n.created_at[:10]} {n.created_by}: {n.text}" for n in by_kind.get("decision", [])] or ["None recorded."]
    out += [f"- {n.created_at[:10]} {n.created_by} (note): {n.text}" for n in by_kind.get("note", [])]
    out += ["", "## Lineage", ""]
    nodes = [n for n in lineage.get("nodes", []) if n.get("id") != f"model:{view.ref}"]
    out += [f"- {n.get('id')}" for n in nodes[:50]] or ["Nothing upstream recorded."]
    out += ["", "## Approvals", ""]
    out += [f"- {a['at'][:19]} {a['actor']}: {a['action']} {a.get('target', '')}" for a in approvals] or ["None."]
    out += ["", "_Generated by `mk card` from the registry; regenerate it rather than editing it._", ""]
    return "\n".join(out)


def approvals_of(view: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit entries (of the version's model, newest first) that promoted or aliased this version."""
    return [e for e in entries if str(e.get("action", "")).startswith(("promotion.", "alias."))
            and view.version in str(e.get("detail", "")) + str(e.get("target", ""))]


def card(conn: Any, ref: str) -> str:
    return card_parts(conn, ref).render()


def card_parts(conn: Any, ref: str) -> CardParts:
    """What the card of ``ref`` is made from, read through the connection (local or a server's)."""
    view = conn.registry.get(ref)
    evaluations = conn.evaluations.list(view.ref)
    notes = conn.evaluations.notes(view.ref)
    lineage = conn.lineage.lineage(view.ref)
    datasets = {}
    for name in view.data:
        try:
            datasets[name] = conn.datasets.get(name).digest
        except Exception:
            datasets[name] = "(not available)"
    try:
        entries = conn.audit.log(model=view.name, limit=AUDIT_ENTRIES)
    except Exception:
        entries = []
    return CardParts(view, evaluations, notes, lineage, approvals_of(view, entries), datasets)
