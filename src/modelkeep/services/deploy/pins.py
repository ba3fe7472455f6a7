"""Which deployments pin which versions (their current revision), so a pinned version is not deleted
from under a live gateway."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelkeep.meta.tables import Deployment


def pinned_by(session: Session, version_ids: Iterable[int]) -> list[str]:
    """``deployment (arm: NAME@VERSION)`` for each arm or shadow of a current revision that pins
    one of ``version_ids`` as its model or its preprocessing."""
    wanted = set(version_ids)
    found = []
    for name, spec in session.execute(select(Deployment.name, Deployment.spec).order_by(Deployment.name)):
        for arm in [*spec.get("arms", []), *spec.get("shadows", [])]:
            if arm.get("version_id") in wanted or arm.get("preprocess_id") in wanted:
                found.append(f"{name} ({arm['name']}: {arm['model']})")
    return found
