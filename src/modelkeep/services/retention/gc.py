"""``mk gc``: plan, mark the dropped versions as tombstones, purge tombstones past the grace
period, delete the runs in the trash longer than the grace (deleted through MLflow's API, as
``mlflow gc`` does), and sweep the store in two phases a grace period apart (``store/gc.py``).
Everything it does is audited; the run ends with a ``gc.completed`` event."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from modelkeep.config import RepoConfig
from modelkeep.meta.db import Database
from modelkeep.meta.tables import Run
from modelkeep.services.clock import utcnow
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.retention.plan import live_objects, plan, registry_roots
from modelkeep.services.retention.tombstones import mark, purge, undelete
from modelkeep.store import gc as store_gc
from modelkeep.store import leases
from modelkeep.store.repository import Repository

DEFAULT_GRACE_S = 24 * 3600.0


def collect(db: Database, repo: Repository, access: Access, now: datetime, grace_s: float = DEFAULT_GRACE_S,
            progress: store_gc.SweepProgress | None = None) -> dict[str, Any]:
    access.check("admin")
    return _collect(db, repo, access, now, grace_s, progress)


def _collect(db: Database, repo: Repository, access: Access, now: datetime, grace_s: float,
             progress: store_gc.SweepProgress | None = None) -> dict[str, Any]:
    decided = plan(db, repo, access, now, checked=False)
    dropped = [d for d in decided.decisions if not d.keep]
    with db.writer() as session, session.begin():
        for decision in dropped:
            mark(session, decision, access.actor, now)
        purged = [stone.key for stone in purge(session, now - timedelta(seconds=grace_s), access.actor)]
        emptied = _empty_trash(session, now - timedelta(seconds=grace_s))
    sweep = _sweep(db, repo, now, grace_s, progress)  # what the deleted runs alone referenced goes too
    summary = {"marked": [d.key for d in dropped], "purged": purged, "runs_deleted": emptied, "sweep": sweep,
               "grace_s": grace_s}
    with db.writer() as session, session.begin():
        audit.append(session, access.actor, "gc.run", "store", detail=summary | {
            "marked": len(dropped), "purged": len(purged), "runs_deleted": len(emptied)})
    return summary


def _empty_trash(session: Session, before: datetime) -> list[int]:
    """Delete the runs put in the trash before ``before`` (with what they logged); their ids."""
    gone = [run_id for run_id, in session.execute(select(Run.id).where(Run.deleted_at < before).order_by(Run.id))]
    if gone:
        session.execute(delete(Run).where(Run.id.in_(gone)))
    return gone


def _sweep(db: Database, repo: Repository, now: datetime, grace_s: float,
           progress: store_gc.SweepProgress | None = None) -> dict[str, Any]:
    """The store's sweep, keeping what every registry using the store references: this one's
    database, the others' published reference sets, and the journal of recent writes."""
    from modelkeep.services.workspace import registry_id

    mine = registry_id(db)
    unknown = [r for r in leases.registries(repo) if r != mine and leases.reference_set(repo, r) is None]
    if unknown:  # an older modelkeep's mark: what that registry references is not known here
        return store_gc.SweepResult().to_dict() | {
            "skipped": f"the store is shared with {len(unknown)} registr{'y' if len(unknown) == 1 else 'ies'} that "
                       f"published no reference set ({', '.join(unknown)}): run any mk command there with this "
                       "version (it publishes one), then gc again; this gc marked and purged only"}
    listed = leases.journal(repo)  # before the database is read: a listed entry's commit is in what is read
    leases.publish_references(repo, mine, registry_roots(db), leases.epoch(now))
    leases.compact_journal(repo, mine, listed, leases.epoch(now) - grace_s, orphans=True)

    def live() -> set[str]:
        docs = list(leases.journal(repo).values())
        docs += [leases.reference_set(repo, other) or {} for other in leases.registries(repo) if other != mine]
        return live_objects(db, repo, [(str(kind), str(digest)) for doc in docs for kind, digest in doc.get("roots", [])])

    return store_gc.sweep(repo, live, now, grace_s, progress).to_dict()


def restore(db: Database, access: Access, key: str) -> str:
    access.check("admin")
    with db.writer() as session, session.begin():
        return undelete(session, key, access.actor)


class GcSchedule:
    """``gc.every`` (e.g. ``24h``; unset: never) makes ``mk server`` collect on its own, with
    ``gc.grace`` (default 24h), as the user ``modelkeep-server``. The server calls :meth:`tick`
    once a second; the last run is read from the audit log at start (so a restart does not run
    it again early), then kept in memory."""

    def __init__(self, db: Database, repo: Repository, config: RepoConfig) -> None:
        from modelkeep.services.retention.rules import parse_duration

        every, grace = config.get("gc.every"), config.get("gc.grace") or "24h"
        self.db, self.repo = db, repo
        self.every_s = parse_duration(every).total_seconds() if every else None
        self.grace_s = 0.0 if grace.strip() in ("0", "0h") else parse_duration(grace).total_seconds()
        self.last = self.last_run() if self.every_s is not None else None  # read once; kept in memory after

    def last_run(self) -> datetime | None:
        from sqlalchemy import func, select

        from modelkeep.meta.tables import AuditEntry

        with self.db.reader() as session:
            return session.scalar(select(func.max(AuditEntry.at)).where(AuditEntry.action == "gc.run"))

    def tick(self, now: datetime | None = None) -> dict[str, Any] | None:
        if self.every_s is None:
            return None
        now = now or utcnow()
        if self.last is not None and (now - self.last).total_seconds() < self.every_s:
            return None
        self.last = now
        return _collect(self.db, self.repo, Access(self.db, "modelkeep-server"), now, self.grace_s)
