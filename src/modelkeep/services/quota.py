"""Storage quotas per project: ``quota.project.NAME`` (or ``quota.default``) caps the bytes of
model artifacts registered from a project's runs plus the artifacts those runs logged.

The count is logical (each version's and each run artifact's own size), as object-store bucket
quotas count, not the chunks deduplication saves. A version registered outside any run counts
toward the project ``default``. Checked before a version or a run artifact is recorded, by the
service itself, so the CLI, the SDK and the server are held to it alike; two writers racing at
the edge may both pass (a soft limit by at most one artifact each).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from modelkeep.config import parse_size
from modelkeep.errors import QuotaExceeded
from modelkeep.meta.db import Database
from modelkeep.meta.tables import ModelVersion, Run, RunArtifact, VersionTag


class Quotas:
    def __init__(self, db: Database, values: Mapping[str, str]) -> None:
        self.db = db
        self.values = values  # the repository's settings (a key set later is seen at once)

    @property
    def active(self) -> bool:
        """Whether any quota is set: callers skip even finding the project when none is."""
        return any(key.startswith("quota.") for key in self.values)

    def setting(self, key: str) -> str | None:
        return self.values.get(key)

    def limit(self, project: str) -> int | None:
        for key in (f"quota.project.{project}", "quota.default"):
            value = self.setting(key)
            if value:
                return parse_size(value, key)
        return None

    def usage(self, session: Session, project: str) -> int:
        runs = select(Run.id).where(Run.project == project)
        logged = session.scalar(select(func.coalesce(func.sum(RunArtifact.size), 0))
                                .where(RunArtifact.run_id.in_(runs))) or 0
        run_tags = select(VersionTag.version_id).where(
            VersionTag.key == "run", VersionTag.value.in_(select(cast(Run.id, String)).where(Run.project == project)))
        if project == "default":  # versions made outside any run count here too
            tagged = select(VersionTag.version_id).where(VersionTag.key == "run")
            registered = session.scalar(select(func.coalesce(func.sum(ModelVersion.artifact_size), 0)).where(
                (ModelVersion.id.in_(run_tags)) | (ModelVersion.id.not_in(tagged)))) or 0
        else:
            registered = session.scalar(select(func.coalesce(func.sum(ModelVersion.artifact_size), 0))
                                        .where(ModelVersion.id.in_(run_tags))) or 0
        return int(logged) + int(registered)

    def check(self, project: str, adding: int) -> None:
        """QuotaExceeded if ``adding`` more bytes would take ``project`` past its quota."""
        limit = self.limit(project)
        if limit is None or adding <= 0:
            return
        with self.db.reader() as session:
            used = self.usage(session, project)
        if used + adding > limit:
            key = f"quota.project.{project}" if self.setting(f"quota.project.{project}") else "quota.default"
            raise QuotaExceeded(
                f"project {project!r} holds {used:,} bytes of its {limit:,}-byte quota ({key}); "
                f"{adding:,} more would exceed it",
                hint=f"delete versions or run artifacts of {project}, or raise the quota: mk config set {key} SIZE")
