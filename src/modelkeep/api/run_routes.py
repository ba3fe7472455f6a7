"""Runs over HTTP: the routes behind ``client.runs.RemoteRuns`` (each one call of the local
``services.runs.runs.Runs``, which checks the caller's permissions itself)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.errors import InvalidInput
from modelkeep.services.interface import ArtifactRef, RunCreate

RunId = Annotated[int, Path(ge=1, le=2**63 - 1, description="run id")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Attach(_Body):
    project: str = "default"


class End(_Body):
    status: str = "finished"
    exit_code: int | None = None


class Params(_Body):
    params: dict[str, Any]


class Metrics(_Body):
    metrics: dict[str, float]
    step: int = Field(ge=0)


class Point(_Body):
    key: str = Field(min_length=1, max_length=250)
    value: float
    step: int = Field(ge=0)


class Points(_Body):
    points: list[Point] = Field(min_length=1, max_length=10_000)


class TimedPoint(Point):
    timestamp: int = Field(ge=-(2**62), le=2**62, description="when it was measured: milliseconds since 1970 (UTC)")


class History(_Body):
    points: list[TimedPoint] = Field(min_length=1, max_length=10_000)


class Tags(_Body):
    tags: dict[str, str]


class Input(_Body):
    ref: str = Field(max_length=300)


class Seeds(_Body):
    seeds: dict[str, Any]


class Warning_(_Body):
    message: str = Field(max_length=2000)


class Artifact(_Body):
    name: str = Field(min_length=1, max_length=255)
    artifact: ArtifactRef


class Output(_Body):
    version_id: int | None = Field(default=None, ge=1)
    dataset: str | None = Field(default=None, max_length=300)
    inputs: list[str] = Field(default_factory=list, max_length=1000)


def run_routes(Ws: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1/runs", tags=["runs"])

    @router.post("", status_code=201)
    def create_run(ws: Ws, body: RunCreate) -> dict[str, int]:
        return {"id": ws.runs.create(body)}

    @router.get("")
    def list_runs(ws: Ws, project: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 50) -> list[dict[str, Any]]:
        return ws.runs.list(project, limit)

    @router.get("/{run_id}")
    def get_run(ws: Ws, run_id: RunId, outputs: bool = True, history: bool = True) -> dict[str, Any]:
        """The run; ``outputs=false`` leaves out the versions and artifacts it made, ``history=false``
        every metric point but each series' latest."""
        return ws.runs.get(run_id, outputs=outputs, history=history).to_dict()

    @router.delete("/{run_id}", status_code=204)
    def delete_run(ws: Ws, run_id: RunId) -> None:
        ws.runs.delete(run_id)

    @router.post("/{run_id}/attach", status_code=204)
    def attach(ws: Ws, run_id: RunId, body: Attach) -> None:
        ws.runs.attach(run_id, body.project)

    @router.post("/{run_id}/end", status_code=204)
    def end(ws: Ws, run_id: RunId, body: End) -> None:
        ws.runs.end(run_id, body.status, body.exit_code)

    @router.post("/{run_id}/params", status_code=204)
    def log_params(ws: Ws, run_id: RunId, body: Params) -> None:
        ws.runs.log_params(run_id, body.params)

    @router.post("/{run_id}/metrics", status_code=204)
    def log_metrics(ws: Ws, run_id: RunId, body: Metrics) -> None:
        ws.runs.log_metrics(run_id, body.metrics, body.step)

    @router.post("/{run_id}/metrics/batch", status_code=204)
    def log_metric_points(ws: Ws, run_id: RunId, body: Points) -> None:
        """Many points at once, each with its own step (what a client buffers during training)."""
        ws.runs.log_points(run_id, [(p.key, p.value, p.step) for p in body.points])

    @router.post("/{run_id}/metrics/history", status_code=204)
    def log_history(ws: Ws, run_id: RunId, body: History) -> None:
        """Points measured elsewhere (an import), each with its moment: every one kept, several at a step too."""
        from modelkeep.services.clock import moment

        ws.runs.log_history(run_id, [(p.key, p.value, p.step, moment(p.timestamp)) for p in body.points])

    @router.post("/{run_id}/tags", status_code=204)
    def set_tags(ws: Ws, run_id: RunId, body: Tags) -> None:
        ws.runs.set_tags(run_id, body.tags)

    @router.post("/{run_id}/inputs")
    def use_dataset(ws: Ws, run_id: RunId, body: Input) -> dict[str, str]:
        return {"ref": ws.runs.use_dataset(run_id, body.ref)}

    @router.post("/{run_id}/seeds", status_code=204)
    def set_seeds(ws: Ws, run_id: RunId, body: Seeds) -> None:
        ws.runs.set_seeds(run_id, body.seeds)

    @router.post("/{run_id}/warnings", status_code=204)
    def add_warning(ws: Ws, run_id: RunId, body: Warning_) -> None:
        ws.runs.add_warning(run_id, body.message)

    @router.post("/{run_id}/artifacts", status_code=201)
    def log_artifact(ws: Ws, run_id: RunId, body: Artifact) -> dict[str, Any]:
        return ws.runs.log_artifact(run_id, body.name, body.artifact)

    @router.post("/{run_id}/outputs", status_code=204)
    def link_output(ws: Ws, run_id: RunId, body: Output) -> None:
        if (body.version_id is None) == (body.dataset is None):
            raise InvalidInput("give 'version_id' (a model version the run made) or 'dataset' (NAME@N), not both")
        if body.version_id is not None:
            ws.runs.link_output(run_id, body.version_id)
        else:
            assert body.dataset is not None
            ws.runs.link_dataset(run_id, body.dataset, body.inputs)

    return router
