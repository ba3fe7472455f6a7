"""A registration request after validation: what ``Registry.register`` inserts, and what the
bump proposal compares with the parent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelkeep.services.models import bump as bumps
from modelkeep.services.models.inputs import MetricValue
from modelkeep.services.models.views import VersionView, metric_label
from modelkeep.store.artifacts import StoredArtifact


@dataclass
class Candidate:
    """A checked registration request (everything validated before the transaction)."""

    params: dict[str, str]
    metrics: list[MetricValue]
    tags: dict[str, str]
    data: list[str]
    signature: dict[str, Any] | None
    metadata: dict[str, Any] | None
    code: dict[str, Any] | None
    environment: dict[str, Any] | None
    description: str
    artifact: StoredArtifact | None
    components: list[VersionView]
    composite_config: dict[str, Any] | None
    produced_by: int | None = None  # the run that made it: its lineage edge is written with the version

    @property
    def digest(self) -> str | None:
        return self.artifact.digest if self.artifact else None

    def view(
        self, version_id: int, name: str, values: dict[str, Any], parent: str | None
    ) -> VersionView:
        """The view of the version just inserted from this candidate (no read-back needed)."""
        return VersionView(
            id=version_id,
            name=name,
            version=values["version"],
            status=values["status"],
            description=self.description,
            bump=values["bump"],
            reasons=list(values["reasons"]),
            digest=self.digest,
            artifact_kind=values["artifact_kind"],
            artifact_size=values["artifact_size"],
            signature=self.signature,
            metadata=self.metadata,
            environment=self.environment,
            code=self.code,
            composite_config=self.composite_config,
            parent=parent,
            created_at=values["created_at"],
            created_by=values["created_by"],
            params=dict(self.params),
            metrics={metric_label(m.key, m.dataset, m.split): m.value for m in self.metrics},
            tags=dict(self.tags),
            aliases=[],
            data=list(self.data),
            components=[c.ref for c in self.components],
            seq=values["seq"],
        )

    def snapshot(self) -> bumps.Snapshot:
        return bumps.Snapshot(
            params=self.params,
            tags=self.tags,
            signature=self.signature,
            metadata=self.metadata,
            data=self.data,
            digest=self.digest,
            code=self.code,
            components=[c.ref for c in self.components],
            composite_config=self.composite_config,
        )


def _snapshot(view: VersionView) -> bumps.Snapshot:
    return bumps.Snapshot(
        params=view.params,
        tags=view.tags,
        signature=view.signature,
        metadata=view.metadata,
        data=view.data,
        digest=view.digest,
        code=view.code,
        components=view.components,
        composite_config=view.composite_config,
    )
