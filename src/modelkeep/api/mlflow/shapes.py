"""modelkeep's views as MLflow's entities (``mlflow/protos/service.proto``, ``model_registry.proto``).

MLflow's integer version is the model's number (1, 2, 3 ... in registration order); modelkeep's
5-part version, bump and reasons travel as ``modelkeep.*`` tags. Run ids are modelkeep's run
numbers as strings. Times are milliseconds since the epoch.
"""

from datetime import datetime
from typing import Any

import orjson
from fastapi.responses import Response

from modelkeep.services.clock import ms
from modelkeep.services.models.records import ModelRecord
from modelkeep.services.models.version_rows import VersionRow
from modelkeep.services.models.views import RunView, VersionView
from modelkeep.services.runs.experiments import ExperimentView
from modelkeep.services.runs.logged_models import LoggedModelView

RUN_STATUS = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED", "killed": "KILLED"}
VIRTUAL_ROOT = "modelkeep/models"  # mlflow-artifacts:/modelkeep/models/NAME/N: a version's files


def listing(doc: dict[str, Any]) -> Response:
    """A long answer (searches, histories) as JSON straight from the plain documents built here, by orjson:
    FastAPI's jsonable_encoder walks every value again first (38 ms of a 500-version search), and the
    standard encoder takes 15 ms of the 1,000 versions left."""
    return Response(orjson.dumps(doc), media_type="application/json")


def pairs(values: dict[str, Any], key: str = "key") -> list[dict[str, str]]:
    return [{key: k, "value": str(v)} for k, v in sorted(values.items())]


def experiment(view: ExperimentView) -> dict[str, Any]:
    return {"experiment_id": str(view.id), "name": view.name, "artifact_location": f"mlflow-artifacts:/{view.id}",
            "lifecycle_stage": view.lifecycle_stage, "creation_time": ms(view.created_at),
            "last_update_time": ms(view.updated_at), "tags": pairs(view.tags)}


def run(view: RunView, experiment_id: int) -> dict[str, Any]:
    run_id = str(view.id)
    started = ms(view.started_at) or 0
    measured = view.metric_times
    metrics = [{"key": key, "value": points[-1][1], "timestamp": ms(measured.get(key)) or started, "step": points[-1][0]}
               for key, points in sorted(view.metrics.items()) if points]
    tags = {k: v for k, v in view.tags.items()} | {"mlflow.runName": view.name, "mlflow.user": view.created_by}
    return {
        "info": {"run_id": run_id, "run_uuid": run_id, "experiment_id": str(experiment_id), "run_name": view.name,
                 "user_id": view.created_by, "status": RUN_STATUS.get(view.status, "RUNNING"), "start_time": started,
                 "end_time": ms(view.ended_at), "artifact_uri": f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts",
                 "lifecycle_stage": "active" if view.deleted_at is None else "deleted"},
        "data": {"metrics": metrics, "params": pairs(view.params), "tags": pairs(tags)},
        "inputs": {"dataset_inputs": [{"dataset": {"name": ref.partition("@")[0], "digest": ref, "source_type": "modelkeep",
                                                   "source": f"modelkeep:{ref}"}} for ref in view.inputs]},
        "outputs": {},
    }


def history(key: str, points: list[tuple[int, float, datetime]]) -> list[dict[str, Any]]:
    """A metric's points (``Runs.metric_history``), each with the moment it was measured."""
    return [{"key": key, "value": value, "timestamp": ms(when), "step": step} for step, value, when in points]


def modelkeep_tags(view: VersionView | VersionRow) -> dict[str, str]:
    return {"modelkeep.version": view.version, "modelkeep.bump": view.bump,
            "modelkeep.reasons": orjson.dumps(view.reasons).decode(), "modelkeep.digest": view.digest or ""}


FIELD_TAGS = frozenset({"mlflow.source", "mlflow.run_id", "mlflow.model_id"})  # set by a create through MLflow's API


def model_version(view: VersionView | VersionRow) -> dict[str, Any]:
    """A version as MLflow's ``ModelVersion``: from a full view or a search's row alike (a search
    shapes 1,000 of them, so this stays plain: one tag dict, sorted once). As MLflow's server does,
    empty fields are left out (its client reads them as empty), and the tags that keep MLflow's own
    fields (``FIELD_TAGS``) are the fields, not tags as well: a search of 1,000 is 160 KB shorter."""
    own = view.tags
    tags = {k: v for k, v in own.items() if k not in FIELD_TAGS and not k.startswith("mlflow.internal")}
    tags.update(modelkeep_tags(view))
    created = ms(view.created_at)
    out: dict[str, Any] = {
        "name": view.name, "version": str(view.seq), "creation_timestamp": created,
        "last_updated_timestamp": created, "current_stage": "None",
        "source": own.get("mlflow.source") or f"models:/{view.name}/{view.seq}",
        "status": "READY",  # registration stores the files first
        "tags": [{"key": k, "value": str(tags[k])} for k in sorted(tags)],
    }
    for field, value in (("user_id", view.created_by), ("description", view.description),
                         ("run_id", own.get("mlflow.run_id")), ("model_id", own.get("mlflow.model_id"))):
        if value:
            out[field] = value
    if view.aliases:
        out["aliases"] = list(view.aliases)
    return out


_SHAPED: dict[tuple[Any, ...], dict[str, Any]] = {}
SHAPED_MAX = 20_000  # documents kept (about 1.5 KB each): dropped all at once when full


def listed_version(row: VersionRow) -> dict[str, Any]:
    """``model_version`` of a search's row, from the documents already shaped: 1,000 versions shaped
    again took 6-8 ms of a search, a lookup of each about 1. A version's document changes only with
    its name (a rename), description, tags or aliases, all in the key, with what says which version
    it is (SQLite may give a deleted version's id to the next one). A search's pages, a UI or a
    deployment system asking again shape each version once. Callers do not change the document."""
    key = (row.id, row.seq, row.version, row.digest, row.name, row.description, row.created_at,
           tuple(row.tags.items()), tuple(row.aliases))
    doc = _SHAPED.get(key)
    if doc is None:
        if len(_SHAPED) >= SHAPED_MAX:
            _SHAPED.clear()
        doc = _SHAPED[key] = model_version(row)
    return doc


def registered_model(record: ModelRecord, latest: VersionView | None) -> dict[str, Any]:
    return {
        "name": record.name, "creation_timestamp": ms(record.created_at), "last_updated_timestamp": ms(record.updated_at),
        "user_id": record.created_by, "description": record.description, "tags": pairs(record.tags),
        "aliases": [{"alias": a, "version": str(n)} for a, n in sorted(record.aliases.items())],
        "latest_versions": [model_version(latest)] if latest is not None else [],
    }


def logged_model(view: LoggedModelView) -> dict[str, Any]:
    return {
        "info": {"model_id": view.id, "experiment_id": str(view.experiment_id), "name": view.name,
                 "creation_timestamp_ms": ms(view.created_at), "last_updated_timestamp_ms": ms(view.updated_at),
                 "artifact_uri": f"mlflow-artifacts:/{view.artifact_prefix}", "status": view.status,
                 "model_type": view.model_type, "source_run_id": str(view.run_id) if view.run_id else "",
                 "tags": pairs(view.tags)},
        "data": {"params": pairs(view.params), "metrics": []},
    }
