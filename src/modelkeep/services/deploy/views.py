"""A deployment as listings show it, from its stored spec document (``DeploymentSpec.model_dump(mode="json")``,
as ``deployments.spec`` keeps it): plain data in, plain data out, so ``mk deploy list`` on a personal
registry (``services.deploy.fast_reads``) shapes it without pydantic or SQLAlchemy, exactly as the service does."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def deployment_view(name: str, revision: int, status: str, spec: Mapping[str, Any], updated_at: datetime) -> dict[str, Any]:
    """A spec document lacking a field raises KeyError: a fast read then declines."""
    rollout = spec["rollout"]
    return {"name": name, "revision": revision, "status": status, "strategy": spec["strategy"],
            "stable": spec["stable"], "candidate": spec["candidate"],
            "arms": [{"name": a["name"], "model": a["model"], "weight": a["weight"], "preprocess": a["preprocess"]}
                     for a in spec["arms"]],
            "shadows": [{"name": s["name"], "model": s["model"], "fraction": s["fraction"]} for s in spec["shadows"]],
            "rollout": None if rollout is None else dict(rollout),
            "updated_at": updated_at.isoformat() + "Z"}
