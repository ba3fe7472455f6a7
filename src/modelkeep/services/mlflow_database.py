"""The read side of an MLflow tracking database and its artifact root, for ``mk import mlflow
--from DB --artifacts ROOT`` when no MLflow server runs: the same answers as
:class:`~modelkeep.services.mlflow_import.MlflowServer`, read with SQL from MLflow's own tables
(``experiments``, ``runs``, ``params``, ``metrics``, ``tags``, ``registered_models``,
``model_versions``, their tags and ``registered_model_aliases``). Files under ``mlflow-artifacts:``
are read from ``ROOT`` (what ``mlflow server --artifacts-destination`` was given); ``file:`` and
plain paths as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from sqlalchemy import create_engine, text

from modelkeep.errors import InvalidInput, NotFound

STATUS = {"FINISHED": "FINISHED", "FAILED": "FAILED", "KILLED": "KILLED", "RUNNING": "RUNNING", "SCHEDULED": "RUNNING"}


class MlflowDatabase:
    def __init__(self, url: str, artifacts: Path | None = None) -> None:
        if not url.startswith(("sqlite:///", "postgresql", "mysql")):
            raise InvalidInput(f"--from {url!r}: an MLflow server URL (http://...) or its database "
                               "(sqlite:///path/mlflow.db, postgresql://...)")
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
            raise NotFound(f"no MLflow database at {url[len('sqlite:///'):]}")
        self.url = url
        self.artifacts = artifacts
        self.engine = create_engine(url)
        with self.engine.connect() as conn:
            tables = {r[0] for r in conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type='table'" if url.startswith("sqlite") else
                "SELECT table_name FROM information_schema.tables"))}
        if not {"experiments", "runs", "model_versions"} <= tables:
            raise InvalidInput(f"{url} is not an MLflow tracking database (no experiments, runs and model_versions tables)")

    def close(self) -> None:
        self.engine.dispose()

    def _rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def experiments(self) -> list[dict[str, Any]]:
        return [{"experiment_id": str(r["experiment_id"]), "name": r["name"], "lifecycle_stage": r["lifecycle_stage"]}
                for r in self._rows("SELECT experiment_id, name, lifecycle_stage FROM experiments ORDER BY experiment_id")]

    def runs(self, experiment_id: str) -> list[dict[str, Any]]:
        out = []
        for run in self._rows("SELECT run_uuid, name, status, start_time FROM runs WHERE experiment_id = :e "
                              "AND lifecycle_stage = 'active' ORDER BY start_time", e=int(experiment_id)):
            run_id = run["run_uuid"]
            params = self._rows("SELECT key, value FROM params WHERE run_uuid = :r", r=run_id)
            tags = self._rows("SELECT key, value FROM tags WHERE run_uuid = :r", r=run_id)
            keys = self._rows("SELECT DISTINCT key FROM metrics WHERE run_uuid = :r", r=run_id)
            out.append({"info": {"run_id": run_id, "run_name": run["name"], "status": STATUS.get(run["status"], "RUNNING"),
                                 "start_time": run["start_time"]},
                        "data": {"params": params, "tags": tags, "metrics": [{"key": k["key"]} for k in keys]}})
        return out

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        return self._rows("SELECT key, value, step, timestamp FROM metrics WHERE run_uuid = :r AND key = :k "
                          "ORDER BY step, timestamp", r=run_id, k=key)

    def models(self) -> list[dict[str, Any]]:
        out = []
        for model in self._rows("SELECT name, description FROM registered_models ORDER BY name"):
            tags = self._rows("SELECT key, value FROM registered_model_tags WHERE name = :n", n=model["name"])
            aliases = self._rows("SELECT alias, version FROM registered_model_aliases WHERE name = :n", n=model["name"])
            out.append({"name": model["name"], "tags": tags, "aliases": aliases})
        return out

    def versions(self, name: str) -> list[dict[str, Any]]:
        out = []
        for row in self._rows("SELECT version, source, run_id, description, storage_location, current_stage "
                              "FROM model_versions WHERE name = :n AND current_stage != 'Deleted_Internal' "
                              "ORDER BY version", n=name):
            tags = self._rows("SELECT key, value FROM model_version_tags WHERE name = :n AND version = :v",
                              n=name, v=row["version"])
            out.append({"version": str(row["version"]), "source": row["source"], "run_id": row["run_id"] or "",
                        "description": row["description"] or "", "tags": tags,
                        "_location": row["storage_location"] or row["source"]})
        return out

    def download_uri(self, name: str, version: str) -> str:
        found = [v for v in self.versions(name) if v["version"] == str(version)]
        if not found:
            raise NotFound(f"MLflow has no version {version} of {name}")
        return str(found[0]["_location"])

    def download(self, uri: str, dest: Path) -> int:
        if uri.startswith("mlflow-artifacts:"):
            if self.artifacts is None:
                raise InvalidInput(f"{uri} is in the server's artifact root: say where with --artifacts ROOT")
            local = self.artifacts / uri.split(":", 1)[1].lstrip("/")
        else:
            parsed = urlparse(uri)
            if parsed.scheme not in ("", "file"):
                raise InvalidInput(f"artifact location {uri}: modelkeep imports mlflow-artifacts:, file: and local paths")
            local = Path(unquote(parsed.path))
        if not local.exists():
            raise NotFound(f"the files of {uri} are not at {local}")
        from modelkeep.services.mlflow_import import copy_local

        return copy_local(local, dest)
