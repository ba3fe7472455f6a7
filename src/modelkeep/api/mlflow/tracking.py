"""MLflow tracking: experiments, runs, params, metrics, tags, logged models (``/api/2.0/mlflow``).

Each route is one or a few calls of modelkeep's services (experiments are projects, runs are runs),
which check the caller's permissions themselves."""

import base64
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.api.mlflow import errors, filters, shapes
from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.clock import moment, ms
from modelkeep.services.interface import RunCreate
from modelkeep.services.models.views import RunView
from modelkeep.services.runs.experiments import ExperimentView
from modelkeep.services.workspace import Workspace


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Tag(_Body):
    key: str
    value: str | None = ""


class Param(_Body):
    key: str
    value: str | None = ""


class Metric(_Body):
    key: str
    value: float
    timestamp: int | None = None
    step: int = 0


class CreateExperiment(_Body):
    name: str
    artifact_location: str | None = None
    tags: list[Tag] = Field(default_factory=list)


class ExperimentRef(_Body):
    experiment_id: str


class UpdateExperiment(ExperimentRef):
    new_name: str | None = None


class ExperimentTag(ExperimentRef):
    key: str
    value: str


class SearchExperiments(_Body):
    max_results: int = 1000
    filter: str | None = None
    view_type: str | None = None
    page_token: str | None = None


class CreateRun(_Body):
    experiment_id: str = "0"
    start_time: int | None = None
    tags: list[Tag] = Field(default_factory=list)
    run_name: str | None = None


class RunRef(_Body):
    run_id: str | None = None
    run_uuid: str | None = None

    @property
    def id(self) -> str:
        return self.run_id or self.run_uuid or ""


class UpdateRun(RunRef):
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class LogParam(RunRef, Param):
    pass


class LogMetric(RunRef, Metric):
    pass


class SetTag(RunRef, Tag):
    pass


class RunTagRef(RunRef):
    key: str


class LogBatch(RunRef):
    metrics: list[Metric] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)


class SearchRuns(_Body):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: str | None = None  # ACTIVE_ONLY (the default), DELETED_ONLY or ALL
    max_results: int = 1000
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class CreateLoggedModel(_Body):
    experiment_id: str
    name: str = "model"
    source_run_id: str | None = None
    model_type: str | None = None
    params: list[Param] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)


class FinalizeLoggedModel(_Body):
    status: str


class LoggedModelTags(_Body):
    tags: list[Tag] = Field(default_factory=list)


class SearchLoggedModels(_Body):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    max_results: int = 100


def run_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 2**62:
        raise NotFound(f"run {text!r} does not exist (modelkeep's run ids are numbers)")
    return int(text)


def experiment_number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 2**31 - 1:
        raise NotFound(f"experiment {text!r} does not exist")
    return int(text)


def page(items: list[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    """Offset pagination with an opaque token (base64 JSON, as MLflow's own)."""
    try:
        offset = int(json.loads(base64.b64decode(token))["offset"]) if token else 0
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"page_token {token!r} is not one this server gave") from None
    size = max(1, min(size, 50_000))
    rest = items[offset:offset + size]
    more = offset + size < len(items)
    return rest, base64.b64encode(json.dumps({"offset": offset + size}).encode()).decode() if more else None


def experiment_of(ws: Workspace, view: RunView) -> ExperimentView:
    return ws.experiments.by_project(view.project)


def tracking_routes(Ws: Any) -> APIRouter:
    router = errors.router()

    # --- experiments ----------------------------------------------------------------------------------------

    @router.get("/experiments/get-by-name")
    def experiment_by_name(ws: Ws, experiment_name: str) -> dict[str, Any]:
        return {"experiment": shapes.experiment(ws.experiments.by_name(experiment_name))}

    @router.get("/experiments/get")
    def experiment_get(ws: Ws, experiment_id: str) -> dict[str, Any]:
        return {"experiment": shapes.experiment(ws.experiments.get(experiment_number(experiment_id)))}

    @router.post("/experiments/create")
    def experiment_create(ws: Ws, body: CreateExperiment) -> dict[str, Any]:
        view = ws.experiments.create(body.name, {t.key: t.value or "" for t in body.tags})
        return {"experiment_id": str(view.id)}

    @router.post("/experiments/update")
    def experiment_update(ws: Ws, body: UpdateExperiment) -> dict[str, Any]:
        ws.experiments.update(experiment_number(body.experiment_id), name=body.new_name)
        return {}

    @router.post("/experiments/delete")
    def experiment_delete(ws: Ws, body: ExperimentRef) -> dict[str, Any]:
        ws.experiments.update(experiment_number(body.experiment_id), stage="deleted")
        return {}

    @router.post("/experiments/restore")
    def experiment_restore(ws: Ws, body: ExperimentRef) -> dict[str, Any]:
        ws.experiments.update(experiment_number(body.experiment_id), stage="active")
        return {}

    @router.post("/experiments/set-experiment-tag")
    def experiment_tag(ws: Ws, body: ExperimentTag) -> dict[str, Any]:
        ws.experiments.update(experiment_number(body.experiment_id), tags={body.key: body.value})
        return {}

    def search_experiments(ws: Workspace, body: SearchExperiments) -> dict[str, Any]:
        stage = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"}.get(body.view_type or "", "active")
        views = ws.experiments.list(stage=stage)
        if body.filter:
            wanted = filters.experiment_filter(body.filter)
            views = [v for v in views if wanted(shapes.experiment(v))]
        items, token = page(views, body.page_token, body.max_results)
        return {"experiments": [shapes.experiment(v) for v in items]} | ({"next_page_token": token} if token else {})

    @router.post("/experiments/search")
    def experiments_search(ws: Ws, body: SearchExperiments) -> dict[str, Any]:
        return search_experiments(ws, body)

    @router.get("/experiments/search")
    def experiments_search_get(ws: Ws, max_results: int = 1000, filter: str | None = None,
                               view_type: str | None = None, page_token: str | None = None) -> dict[str, Any]:
        return search_experiments(ws, SearchExperiments(max_results=max_results, filter=filter, view_type=view_type,
                                                        page_token=page_token))

    # --- runs -----------------------------------------------------------------------------------------------

    def run_doc(ws: Workspace, run_id: int) -> dict[str, Any]:
        view = ws.runs.get(run_id, outputs=False, history=False)
        return shapes.run(view, experiment_of(ws, view).id)

    @router.post("/runs/create")
    def run_create(ws: Ws, body: CreateRun) -> dict[str, Any]:
        experiment = ws.experiments.get(experiment_number(body.experiment_id))
        tags = {t.key: t.value or "" for t in body.tags}
        name = body.run_name or tags.get("mlflow.runName")
        run_id = ws.runs.create(RunCreate(name=name[:200] if name else None, project=experiment.project,
                                          started_at=moment(body.start_time) if body.start_time else None,
                                          code={k: v for k, v in {"source": tags.get("mlflow.source.name"),
                                                                  "commit": tags.get("mlflow.source.git.commit")}.items()
                                                if v}))
        user_tags = {k: v for k, v in tags.items() if k not in ("mlflow.runName", "mlflow.user")}
        if user_tags:
            ws.runs.set_tags(run_id, user_tags)
        return {"run": run_doc(ws, run_id)}

    @router.get("/runs/get")
    def run_get(ws: Ws, run_id: str | None = None, run_uuid: str | None = None) -> dict[str, Any]:
        return {"run": run_doc(ws, run_number(run_id or run_uuid or ""))}

    @router.post("/runs/update")
    def run_update(ws: Ws, body: UpdateRun) -> dict[str, Any]:
        run_id = run_number(body.id)
        status = (body.status or "").lower()
        if status and status != "running":
            ws.runs.end(run_id, status)
        return {"run_info": run_doc(ws, run_id)["info"]}

    @router.post("/runs/delete")
    def run_delete(ws: Ws, body: RunRef) -> dict[str, Any]:
        ws.runs.trash(run_number(body.id))  # as MLflow's: to the trash, restorable
        return {}

    @router.post("/runs/restore")
    def run_restore(ws: Ws, body: RunRef) -> dict[str, Any]:
        ws.runs.trash(run_number(body.id), restore=True)
        return {}

    @router.post("/runs/delete-tag")
    def run_delete_tag(ws: Ws, body: RunTagRef) -> dict[str, Any]:
        ws.runs.delete_tag(run_number(body.id), body.key)
        return {}

    @router.post("/runs/log-parameter")
    def log_parameter(ws: Ws, body: LogParam) -> dict[str, Any]:
        ws.runs.log_params(run_number(body.id), {body.key: body.value or ""})
        return {}

    @router.post("/runs/log-metric")
    def log_metric(ws: Ws, body: LogMetric) -> dict[str, Any]:
        ws.runs.log_points(run_number(body.id), [(body.key, body.value, body.step, moment(body.timestamp))],
                           replace_step=False)  # MLflow keeps each point of a step
        return {}

    @router.post("/runs/set-tag")
    def set_tag(ws: Ws, body: SetTag) -> dict[str, Any]:
        ws.runs.set_tags(run_number(body.id), {body.key: body.value or ""})
        return {}

    @router.post("/runs/log-batch")
    def log_batch(ws: Ws, body: LogBatch) -> dict[str, Any]:
        points = [(m.key, m.value, m.step, moment(m.timestamp)) for m in body.metrics]  # each with its moment
        ws.runs.log_batch(run_number(body.id), params={p.key: p.value or "" for p in body.params}, points=points,
                          tags={t.key: t.value or "" for t in body.tags}, replace_step=False)  # all of it, or none
        return {}

    @router.post("/runs/log-inputs")
    def log_inputs(ws: Ws, body: RunRef) -> dict[str, Any]:
        ws.runs.get(run_number(body.id), outputs=False, history=False)  # the run exists; MLflow's dataset inputs are not kept
        return {}

    @router.post("/runs/outputs")
    def log_outputs(ws: Ws, body: RunRef) -> dict[str, Any]:
        ws.runs.get(run_number(body.id), outputs=False, history=False)  # a logged model names its run itself (source_run_id)
        return {}

    @router.post("/runs/search")
    def runs_search(ws: Ws, body: SearchRuns) -> Response:
        wanted = {"ACTIVE_ONLY": {False}, "DELETED_ONLY": {True}, "ALL": {False, True}}.get(body.run_view_type or "ACTIVE_ONLY")
        if wanted is None:
            raise InvalidInput(f"run_view_type {body.run_view_type!r}: ACTIVE_ONLY, DELETED_ONLY or ALL")
        experiments = [ws.experiments.get(experiment_number(e)) for e in body.experiment_ids or ["0"]]
        if not body.filter and not body.order_by and len(experiments) == 1:
            return shapes.listing(runs_page(ws, experiments[0], wanted, body))
        # every run with only what the filter and the order read, then the page's runs whole
        columns = filters.run_columns(body.filter or "", body.order_by)
        docs: list[dict[str, Any]] = []
        for experiment in experiments:
            docs.extend(shapes.run(view, experiment.id) for view in ws.runs.latest(experiment.project, columns=columns)
                        if (view.deleted_at is not None) in wanted)
        if body.filter:
            wanted_run = filters.run_filter(body.filter)
            docs = [d for d in docs if wanted_run(d)]
        docs = filters.run_order(docs, body.order_by)
        items, token = page(docs, body.page_token, body.max_results)
        return shapes.listing({"runs": whole_runs(ws, experiments, items)} | ({"next_page_token": token} if token else {}))

    def whole_runs(ws: Workspace, experiments: list[ExperimentView], docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The runs of ``docs`` (a page of a search's partial documents) as documents of everything a search
        shows, in the same order; a run deleted since is left out."""
        read: dict[str, dict[str, Any]] = {}
        for experiment in experiments:
            ids = [int(d["info"]["run_id"]) for d in docs if d["info"]["experiment_id"] == str(experiment.id)]
            if ids:
                read.update((str(v.id), shapes.run(v, experiment.id)) for v in ws.runs.summaries(experiment.project, ids))
        return [read[d["info"]["run_id"]] for d in docs if d["info"]["run_id"] in read]

    def runs_page(ws: Workspace, experiment: ExperimentView, wanted: set[bool], body: SearchRuns) -> dict[str, Any]:
        """A search with neither filter nor order (the MLflow UI's experiment page): the runs ordered and
        paged by their start times alone, then only the page's runs read, not every run's parts."""
        found = [(filters.newest_first(ms(started), str(run_id)), run_id)
                 for run_id, started, trashed in ws.runs.starts(experiment.project) if (trashed is not None) in wanted]
        chosen, token = page([run_id for _, run_id in sorted(found)], body.page_token, body.max_results)
        views = ws.runs.summaries(experiment.project, chosen)
        return {"runs": [shapes.run(view, experiment.id) for view in views]} | ({"next_page_token": token} if token else {})

    @router.get("/metrics/get-history")
    def metric_history(ws: Ws, metric_key: str, run_id: str | None = None, run_uuid: str | None = None,
                       max_results: Annotated[int, Query(ge=1)] = 25_000) -> Response:
        points = ws.runs.metric_history(run_number(run_id or run_uuid or ""), metric_key)
        return shapes.listing({"metrics": shapes.history(metric_key, points[:max_results])})

    # --- logged models (MLflow 3) ---------------------------------------------------------------------------

    @router.post("/logged-models")
    def logged_model_create(ws: Ws, body: CreateLoggedModel) -> dict[str, Any]:
        view = ws.logged_models.create(
            experiment_number(body.experiment_id), body.name,
            run_id=run_number(body.source_run_id) if body.source_run_id else None, model_type=body.model_type or "",
            params={p.key: p.value or "" for p in body.params}, tags={t.key: t.value or "" for t in body.tags})
        return {"model": shapes.logged_model(view)}

    @router.get("/logged-models/{model_id}")
    def logged_model_get(ws: Ws, model_id: str) -> dict[str, Any]:
        return {"model": shapes.logged_model(ws.logged_models.get(model_id))}

    @router.patch("/logged-models/{model_id}")
    def logged_model_finalize(ws: Ws, model_id: str, body: FinalizeLoggedModel) -> dict[str, Any]:
        return {"model": shapes.logged_model(ws.logged_models.update(model_id, status=body.status))}

    @router.patch("/logged-models/{model_id}/tags")
    def logged_model_tags(ws: Ws, model_id: str, body: LoggedModelTags) -> dict[str, Any]:
        ws.logged_models.update(model_id, tags={t.key: t.value or "" for t in body.tags})
        return {}

    @router.delete("/logged-models/{model_id}/tags/{key}")
    def logged_model_tag_delete(ws: Ws, model_id: str, key: str) -> dict[str, Any]:
        ws.logged_models.update(model_id, tags={key: None})
        return {}

    @router.post("/logged-models/search")
    def logged_models_search(ws: Ws, body: SearchLoggedModels) -> dict[str, Any]:
        name = None
        if body.filter:
            name = _equals(body.filter, "name")
        views = ws.logged_models.search([experiment_number(e) for e in body.experiment_ids], name=name,
                                        limit=max(1, min(body.max_results, 1000)))
        return {"models": [shapes.logged_model(v) for v in views]}

    return router


def _equals(text: str, field: str) -> str:
    """The value of the one clause ``FIELD = 'VALUE'`` (the filters the client itself sends)."""
    import re

    match = re.fullmatch(rf"\s*{re.escape(field)}\s*=\s*'((?:[^']|'')*)'\s*", text)
    if match is None:
        raise InvalidInput(f"filter {text!r}: this server understands {field} = 'VALUE' here")
    return match.group(1).replace("''", "'")
