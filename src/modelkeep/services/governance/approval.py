"""Which versions count as approved: read by promotions, by the registry's read check and by
deployments (a ``model.read_approved`` principal reads only these)."""

from __future__ import annotations

from sqlalchemy import select

from modelkeep.meta.db import Database
from modelkeep.meta.tables import Model, PromotionRequest, ProtectedAlias
from modelkeep.services.models.views import VersionView


def is_approved(db: Database, view: VersionView) -> bool:
    """Whether a version was promoted (an applied request) or holds a protected alias now: what a
    deployment system (``model.read_approved``) may read."""
    with db.reader() as session:
        model = session.scalars(select(Model).where(Model.name == view.name)).first()
        if model is None:
            return False
        applied = session.scalar(
            select(PromotionRequest.id)
            .where(
                PromotionRequest.model_id == model.id,
                PromotionRequest.version == view.version,
                PromotionRequest.status == "applied",
            )
            .limit(1)
        )
        if applied is not None:
            return True
        protected = {(p.model, p.alias) for p in session.scalars(select(ProtectedAlias))}
    return any((view.name, a) in protected or ("*", a) in protected for a in view.aliases)
