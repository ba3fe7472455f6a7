"""The plan of a garbage collection: every version kept or dropped, with what decided it, and the
bytes each pack would free. Nothing is changed here (``mk gc --dry-run``).

A version is kept, in this order of reasons: it is a **root** (an alias holds it; a deployment's
revision pins it — every revision, since a rollback can restore any; an open promotion request
names it; a legal hold is on it), a **policy rule** keeps it, or it is **upstream** of something
kept (the datasets, preprocessing steps and components a kept version was made from, however far
back). A model or dataset with no policy (its own, or ``*``) keeps everything. Bytes: the objects
reachable only from dropped versions, plus those reachable from nothing at all (left by earlier
deletions, or uploads not yet committed — a sweep waits out a grace period before touching those).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from modelkeep.meta.db import Database
from modelkeep.meta.tables import (
    Alias,
    ArtifactFile,
    Dataset,
    DatasetVersion,
    DeploymentRevision,
    LegalHold,
    LineageEdge,
    Model,
    ModelVersion,
    PromotionRequest,
    RetentionPolicy,
    Run,
    RunArtifact,
    VersionMetric,
    VersionTag,
)
from modelkeep.services.governance.access import Access
from modelkeep.services.retention.rules import Item, RetentionRules, decide
from modelkeep.store.format import ObjectId
from modelkeep.store.repository import Repository

UPSTREAM_KINDS = ("trained_on", "derived_from", "component_of", "produced_by")


@dataclass
class Decision:
    key: str  # model:NAME@VERSION or dataset:NAME@N
    node: str  # the lineage node
    keep: bool
    why: str
    objects: tuple[str, str] | None = None  # (kind, digest) of its files in the store


@dataclass
class GcPlan:
    decisions: list[Decision] = field(default_factory=list)
    packs: list[dict[str, Any]] = field(default_factory=list)
    bytes: dict[str, int] = field(default_factory=dict)
    trash: list[tuple[int, datetime]] = field(default_factory=list)  # runs in the trash, and since when

    def to_dict(self) -> dict[str, Any]:
        return {
            "keep": [{"ref": d.key, "why": d.why} for d in self.decisions if d.keep],
            "drop": [{"ref": d.key, "why": d.why} for d in self.decisions if not d.keep],
            "packs": self.packs,
            "bytes": self.bytes,
            "trash": [{"run": run_id, "since": since.isoformat() + "Z"} for run_id, since in self.trash],
        }


def _policies(db: Database) -> dict[tuple[str, str], RetentionRules]:
    with db.reader() as session:
        return {(p.kind, p.scope): RetentionRules.model_validate(p.rules) for p in session.scalars(select(RetentionPolicy))}


def _items(db: Database) -> tuple[dict[str, list[tuple[Item, Decision]]], dict[str, list[tuple[Item, Decision]]]]:
    """Model and dataset versions, grouped by name, as the rules see them."""
    models: dict[str, list[tuple[Item, Decision]]] = defaultdict(list)
    datasets: dict[str, list[tuple[Item, Decision]]] = defaultdict(list)
    with db.reader() as session:
        tags: dict[int, dict[str, str]] = defaultdict(dict)
        for version_id, key, value in session.execute(select(VersionTag.version_id, VersionTag.key, VersionTag.value)):
            tags[version_id][key] = value
        metrics: dict[int, dict[str, float]] = defaultdict(dict)
        for version_id, metric, score in session.execute(
                select(VersionMetric.version_id, VersionMetric.key, VersionMetric.value)
                .where(VersionMetric.dataset == "", VersionMetric.split == "")):
            metrics[version_id][metric] = score
        for row, name in session.execute(select(ModelVersion, Model.name).join(Model, Model.id == ModelVersion.model_id)):
            key = f"model:{name}@{row.version}"
            kind = row.artifact_kind if row.artifact_kind in ("file", "tree") and row.digest else None
            decision = Decision(key, f"model_version:{row.id}", True, "", (kind, row.digest) if kind and row.digest else None)
            models[name].append((Item(key, row.created_at, tags[row.id], metrics[row.id]), decision))
        for data_row, name in session.execute(select(DatasetVersion, Dataset.name)
                                              .join(Dataset, Dataset.id == DatasetVersion.dataset_id)):
            key = f"dataset:{name}@{data_row.number}"
            decision = Decision(key, key, True, "", (data_row.root_kind, data_row.digest))
            datasets[name].append((Item(key, data_row.created_at), decision))
    return models, datasets


def _roots(db: Database) -> dict[str, str]:
    """node or key -> why nothing may expire it."""
    out: dict[str, str] = {}
    with db.reader() as session:
        for version_id, alias in session.execute(select(Alias.version_id, Alias.name)):
            out.setdefault(f"model_version:{version_id}", f"alias {alias}")
        names = dict(session.execute(select(Model.id, Model.name)).all())  # type: ignore[arg-type]
        for request_id, model_id, version in session.execute(
                select(PromotionRequest.id, PromotionRequest.model_id, PromotionRequest.version)
                .where(PromotionRequest.status == "pending")):
            out.setdefault(f"model:{names.get(model_id)}@{version}", f"open promotion request #{request_id}")
        for spec, revision in session.execute(select(DeploymentRevision.spec, DeploymentRevision.revision)):
            for arm in [*(spec or {}).get("arms", []), *(spec or {}).get("shadows", [])]:
                model = arm.get("model") if isinstance(arm, dict) else None
                if model:
                    out.setdefault(f"model:{model}", f"deployment revision {revision} pins it")
        for target, reason in session.execute(select(LegalHold.target, LegalHold.reason)):
            out.setdefault(target, f"legal hold: {reason}")
    return out


def _upstream(db: Database) -> dict[str, list[str]]:
    edges: dict[str, list[str]] = defaultdict(list)
    with db.reader() as session:
        for src, dst in session.execute(select(LineageEdge.src, LineageEdge.dst).where(LineageEdge.kind.in_(UPSTREAM_KINDS))):
            edges[dst].append(src)
    return edges


def plan(db: Database, repo: Repository, access: Access, now: datetime, *, checked: bool = True) -> GcPlan:
    if checked:  # the server's own schedule (gc.every) plans as itself
        access.check("admin")
    policies = _policies(db)
    models, datasets = _items(db)
    roots = _roots(db)
    decisions: list[Decision] = []
    for kind, groups in (("model", models), ("dataset", datasets)):
        for name, pairs in groups.items():
            rules = policies.get((kind, name)) or policies.get((kind, "*"))
            kept = decide([item for item, _ in pairs], rules, now) if rules else {}
            for item, decision in pairs:
                root = roots.get(decision.node) or roots.get(decision.key)
                if root:
                    decision.why = root
                elif rules is None:
                    decision.why = "no retention policy"
                elif item.key in kept:
                    decision.why = kept[item.key]
                else:
                    scope = name if (kind, name) in policies else "*"
                    decision.keep, decision.why = False, f"no rule of the {kind} {scope} policy keeps it"
                decisions.append(decision)
    by_node = {d.node: d for d in decisions}
    upstream = _upstream(db)
    frontier = deque((d.node, d.key) for d in decisions if d.keep)
    seen: set[str] = set()
    while frontier:  # everything a kept version was made from (through its runs) is kept too
        node, because = frontier.popleft()
        for src in upstream.get(node, []):
            if src in seen:
                continue
            seen.add(src)
            found = by_node.get(src)
            if found is not None and not found.keep:
                found.keep, found.why = True, f"upstream of {because}"
            frontier.append((src, because))
    decisions.sort(key=lambda d: (d.keep, d.key))
    result = GcPlan(decisions)
    _bytes(db, repo, decisions, result)
    with db.reader() as session:  # a gc deletes those in the trash longer than its grace
        result.trash = [(run_id, since) for run_id, since in session.execute(
            select(Run.id, Run.deleted_at).where(Run.deleted_at.is_not(None)).order_by(Run.deleted_at)) if since]
    return result


def _reach(repo: Repository, roots: list[tuple[str, str]], seen: set[str]) -> set[str]:
    """Every object reachable from ``(kind, digest)`` roots; a root not stored is skipped (mk verify
    reports it), a condemned copy counts (it is referenced)."""
    for kind, digest in roots:
        oid = ObjectId(digest)
        if oid in repo.index or repo.writer.pending(oid):
            repo.reachable(repo.kind_of(oid) if kind == "file" else kind, oid, seen)
    return seen


def _other_roots(db: Database) -> list[tuple[str, str]]:
    """What references objects besides model and dataset versions: run artifacts, artifact files,
    and tombstones not yet purged (they may be undeleted)."""
    from modelkeep.meta.tables import Tombstone

    with db.reader() as session:
        roots = [(k, d) for k, d in session.execute(select(RunArtifact.kind, RunArtifact.digest))]
        roots += [(k, d) for k, d in session.execute(select(ArtifactFile.kind, ArtifactFile.digest))]
        roots += [(k, d) for k, d in session.execute(select(Tombstone.kind, Tombstone.digest)
                                                     .where(Tombstone.digest.is_not(None))) if k and d]
    return roots


def _bytes(db: Database, repo: Repository, decisions: list[Decision], result: GcPlan) -> None:
    live = _reach(repo, [d.objects for d in decisions if d.keep and d.objects] + _other_roots(db), set())
    dropped = _reach(repo, [d.objects for d in decisions if not d.keep and d.objects], set()) - live
    index = repo.index
    total: dict[str, int] = defaultdict(int)
    dead: dict[str, int] = defaultdict(int)
    unreferenced = 0
    for oid, entry in index.items():
        total[entry.pack] += entry.stored_length
        if oid in dropped:
            dead[entry.pack] += entry.stored_length
        elif oid not in live:
            dead[entry.pack] += entry.stored_length
            unreferenced += entry.stored_length
    result.packs = sorted(({"pack": p, "bytes": total[p], "would_free": dead[p], "dead": round(dead[p] / total[p], 4)}
                           for p in dead if total[p]), key=lambda r: -r["would_free"])
    result.bytes = {"stored": sum(total.values()), "dropped_versions": sum(dead.values()) - unreferenced,
                    "unreferenced": unreferenced, "would_free": sum(dead.values())}


def registry_roots(db: Database) -> list[tuple[str, str]]:
    """Every root this registry references: model and dataset versions, and :func:`_other_roots`."""
    with db.reader() as session:
        roots = [(k, d) for k, d in session.execute(select(ModelVersion.artifact_kind, ModelVersion.digest)
                                                    .where(ModelVersion.digest.is_not(None))) if k in ("file", "tree") and d]
        roots += [(k, d) for k, d in session.execute(select(DatasetVersion.root_kind, DatasetVersion.digest))]
    return roots + _other_roots(db)


def live_objects(db: Database, repo: Repository, also: Sequence[tuple[str, str]] = ()) -> set[str]:
    """Every object something that must stay references: :func:`registry_roots`, and ``also``
    (what other registries sharing the store, and writers not yet committed, reference)."""
    return _reach(repo, registry_roots(db) + list(also), set())
