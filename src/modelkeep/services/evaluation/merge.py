"""``mk merge fraud~wide-trees [--into main]``: a branch head joins the target line only when an
evaluation says it is better.

On the caller's side (:func:`merge`): both heads are scored on the policy's pinned dataset in one
comparison (``gate``), parameters both lines changed since the branch's fork are listed as
conflicts and resolved by the evaluated winner's values, and a passing verdict is sent to the
registry (:func:`record_merge`), which checks it against the heads and the recorded evaluations
and writes the new version of the target line: the branch head's artifact, its parent the target
head (and in lineage the branch head too: both are parents), the verdict and the evaluation ids
in its tags, the intervals in the audit entry (and so in the ``branch.merged`` event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelkeep.errors import Conflict, InvalidInput
from modelkeep.services.evaluation.compare import ComparePolicy, Comparison
from modelkeep.services.evaluation.gate import gate

if TYPE_CHECKING:
    from modelkeep.services.evaluation.score_process import ScoringProcess


@dataclass
class MergeOutcome:
    branch: str
    into: str
    comparison: Comparison
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    merged: dict[str, Any] | None = None  # the new version, when the verdict passed

    def to_dict(self) -> dict[str, Any]:
        return {"branch": self.branch, "into": self.into, "verdict": self.comparison.verdict,
                "exit_code": self.comparison.exit_code, "comparison": self.comparison.to_dict(),
                "conflicts": self.conflicts, "merged": self.merged}


def conflicts(base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]) -> list[dict[str, Any]]:
    """Parameters both lines changed from the common ancestor, to different values."""
    out = []
    for key in sorted(set(ours) | set(theirs)):
        b, o, t = base.get(key), ours.get(key), theirs.get(key)
        if o != b and t != b and o != t:
            out.append({"param": key, "base": b, "branch": o, "target": t})
    return out


def merge(conn: Any, branch: str, policy: ComparePolicy, *, into: str | None = None, allow_pickle: bool = False,
          trusted: list[str] | None = None, process: ScoringProcess | None = None) -> MergeOutcome:
    from modelkeep.services.models.branches import MergeRequest, split_line

    model, name = split_line(branch)
    if name == "main":
        raise InvalidInput(f"{branch}: name the branch to merge, MODEL~BRANCH")
    target_line = model if into in (None, "", "main") else (into if "~" in str(into) else f"{model}~{into}")
    head = conn.registry.get(f"{branch}@latest")
    target = conn.registry.get(f"{target_line}@latest")
    comparison = gate(conn, head.ref, target.ref, policy, allow_pickle=allow_pickle, trusted=trusted, process=process)
    base_ref = conn.branches.base_of(branch)
    base_params = conn.registry.get(base_ref).params if base_ref else {}
    found = conflicts(base_params, head.params, target.params)
    outcome = MergeOutcome(branch, target_line, comparison, found)
    if comparison.verdict != "pass":
        return outcome
    params = dict(target.params) | dict(head.params)  # the evaluated winner's values win each conflict
    for conflict in found:
        conflict["resolved"] = conflict["branch"]
    outcome.merged = conn.branches.merge(MergeRequest(
        branch=branch, into=target_line, head=head.ref, target_head=target.ref, comparison=comparison.to_dict(),
        params=params, conflicts=found))
    return outcome


def record_merge(branches: Any, req: Any) -> dict[str, Any]:
    """The registry's side: check the merge against the heads and the evaluations, then write it."""
    from sqlalchemy import select

    from modelkeep.meta.collaboration_tables import Branch
    from modelkeep.meta.tables import LineageEdge, version_node
    from modelkeep.services.clock import utcnow
    from modelkeep.services.evaluation.records import Evaluations
    from modelkeep.services.governance import audit
    from modelkeep.services.models.branches import split_line

    model, name = split_line(req.branch)
    into_model, into_name = split_line(req.into)
    if into_model != model or (into_name == name):
        raise InvalidInput(f"merge {req.branch} into a line of {model} other than itself, not {req.into}")
    registry, access = branches.registry, branches.access
    access.check("model.write", model=model)
    head, target = registry.get(f"{req.branch}@latest"), registry.get(f"{req.into}@latest")
    if head.ref != req.head or target.ref != req.target_head:
        raise Conflict(f"{req.branch} or {req.into} moved since the evaluation (heads now {head.ref}, {target.ref})",
                       hint="run mk merge again: it evaluates the current heads")
    comparison = req.comparison
    if comparison.get("verdict") != "pass":
        raise InvalidInput(f"the comparison's verdict is {comparison.get('verdict')!r}: only a pass merges")
    ids = comparison.get("evaluations") or {}
    recorded = Evaluations(branches.db, registry, access)
    digests = set()
    for ref in (head.ref, target.ref):
        match = [e for e in recorded.list(ref) if e.id == ids.get(ref)]
        if not match:
            raise InvalidInput(f"the comparison names no evaluation of {ref} this registry recorded")
        digests.add(match[0].dataset_digest)
    if len(digests) != 1:
        raise InvalidInput("the two heads were evaluated on different data: a merge compares them on one dataset version")
    if head.artifact_kind not in ("file", "tree") or not head.digest:
        raise InvalidInput(f"{head.ref} is a {head.artifact_kind or 'metadata-only'} version: merge takes model files")
    tags = dict(head.tags) | {"merge.from": head.ref, "merge.into": target.ref, "merge.verdict": "pass",
                              "merge.evaluations": ",".join(str(ids[r]) for r in (head.ref, target.ref)),
                              "merge.data": str(comparison.get("data", ""))}
    merged = registry.register(
        req.into, artifact={"kind": head.artifact_kind, "digest": head.digest}, params=req.params, metrics=head.metrics,
        tags=tags, data=head.data, signature=head.signature, metadata=head.metadata, code=head.code,
        environment=head.environment, description=head.description or f"merge of {head.ref}", parent=target.version,
        via_merge=True)
    record = {"into": req.into, "version": merged.ref, "from": head.ref, "verdict": "pass", "at": utcnow().isoformat()}
    with branches.db.writer() as session, session.begin():
        row = session.scalars(select(Branch).where(Branch.model == model, Branch.name == name)).first()
        if row is not None:
            row.merged = record
        session.add(LineageEdge(kind="parent_of", src=version_node(head.id), dst=version_node(merged.id),
                                created_at=utcnow()))  # the second parent: lineage shows both heads
        audit.append(session, access.actor, "branch.merge", f"model:{merged.ref}", source=branches.source,
                     detail={"branch": req.branch, "head": head.ref, "target_head": target.ref, "version": merged.ref,
                             "results": comparison.get("results", []), "evaluations": ids, "conflicts": req.conflicts})
    return dict(merged.to_dict())
