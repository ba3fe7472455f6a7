"""``mk gc``: plan, mark the dropped versions as tombstones, purge tombstones past the grace
period, and sweep the store in two phases a grace period apart (``store/gc.py``). Everything it
does is audited; the run ends with a ``gc.completed`` event."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from modelkeep.meta.db import Database
from modelkeep.services.governance import audit
from modelkeep.services.governance.access import Access
from modelkeep.services.retention.plan import live_objects, plan
from modelkeep.services.retention.tombstones import mark, purge, undelete
from modelkeep.store import gc as store_gc
from modelkeep.store.repository import Repository

DEFAULT_GRACE_S = 24 * 3600.0


def collect(db: Database, repo: Repository, access: Access, now: datetime, grace_s: float = DEFAULT_GRACE_S) -> dict[str, Any]:
    access.check("admin")
    decided = plan(db, repo, access, now)
    dropped = [d for d in decided.decisions if not d.keep]
    with db.writer() as session, session.begin():
        for decision in dropped:
            mark(session, decision, access.actor, now)
        purged = [stone.key for stone in purge(session, now - timedelta(seconds=grace_s), access.actor)]
    live = live_objects(db, repo)
    swept = store_gc.sweep(repo, live, now, grace_s)
    summary = {"marked": [d.key for d in dropped], "purged": purged, "sweep": swept.to_dict(), "grace_s": grace_s}
    with db.writer() as session, session.begin():
        audit.append(session, access.actor, "gc.run", "store", detail=summary | {"marked": len(dropped),
                                                                                  "purged": len(purged)})
    return summary


def restore(db: Database, access: Access, key: str) -> str:
    access.check("admin")
    with db.writer() as session, session.begin():
        return undelete(session, key, access.actor)
