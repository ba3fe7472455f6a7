"""Moving an MLflow server into modelkeep: experiments, runs (params, metrics with their history,
tags), registered models, their versions with their files, and aliases — through MLflow's REST
API, into any :class:`~modelkeep.services.interface.Connection` (a local repository or a server).

Idempotent: every run and version brought over carries ``mlflow.imported_from`` (the source and
its MLflow id), and a second import skips what carries it already, so re-running copies only
what is new. Versions are brought over in MLflow's order, so a new model keeps MLflow's numbers;
the version a run registered is linked to its run, so ``mk lineage`` shows where it came from.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import httpx

from modelkeep.errors import InvalidInput, ModelKeepError, NotFound, PermissionDenied, Unavailable
from modelkeep.services.clock import moment
from modelkeep.services.interface import Connection, RunCreate
from modelkeep.services.models.inputs import KEY_PATTERN

IMPORTED = "mlflow.imported_from"
RUN_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}


@dataclass
class ImportSummary:
    source: str
    experiments: int = 0
    runs_new: int = 0
    runs_skipped: int = 0
    models: int = 0
    versions_new: int = 0
    versions_skipped: int = 0
    aliases_set: int = 0
    bytes: int = 0
    refused: list[str] = field(default_factory=list)  # what could not come over, and why

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MlflowSource(Protocol):
    """What an import reads: a running server (:class:`MlflowServer`) or a database and its artifact
    root (:class:`~modelkeep.services.mlflow_database.MlflowDatabase`)."""

    url: str

    def experiments(self) -> list[dict[str, Any]]: ...

    def runs(self, experiment_id: str) -> list[dict[str, Any]]: ...

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]: ...

    def models(self) -> list[dict[str, Any]]: ...

    def versions(self, name: str) -> list[dict[str, Any]]: ...

    def download_uri(self, name: str, version: str) -> str: ...

    def download(self, uri: str, dest: Path) -> int: ...

    def close(self) -> None: ...


class MlflowServer:
    """The read side of MLflow's REST API (what ``mk import mlflow --from URL`` reads)."""

    def __init__(self, url: str, token: str | None = None, *, client: httpx.Client | None = None) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInput(f"--from {url!r}: the URL of an MLflow tracking server (http://host:5000)")
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = client or httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(f"cannot reach the MLflow server at {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise Unavailable(f"the MLflow server at {self.url} answered {response.status_code} to {method} {path}: "
                              f"{response.text[:300]}")
        return dict(response.json())

    def _pages(self, method: str, path: str, key: str, **body: Any) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            args = {**body, **({"page_token": token} if token else {})}
            doc = self._call(method, path, **({"json": args} if method == "POST" else {"params": args}))
            yield from doc.get(key, [])
            token = doc.get("next_page_token")
            if not token:
                return

    def experiments(self) -> list[dict[str, Any]]:
        return list(self._pages("POST", "/api/2.0/mlflow/experiments/search", "experiments", max_results=1000))

    def runs(self, experiment_id: str) -> list[dict[str, Any]]:
        return list(self._pages("POST", "/api/2.0/mlflow/runs/search", "runs", experiment_ids=[experiment_id],
                                max_results=1000))

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        doc = self._call("GET", "/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": key})
        return list(doc.get("metrics", []))

    def models(self) -> list[dict[str, Any]]:
        return list(self._pages("GET", "/api/2.0/mlflow/registered-models/search", "registered_models", max_results=1000))

    def versions(self, name: str) -> list[dict[str, Any]]:
        quoted = name.replace("'", "''")
        found = list(self._pages("GET", "/api/2.0/mlflow/model-versions/search", "model_versions",
                                 filter=f"name='{quoted}'", max_results=1000))
        return sorted(found, key=lambda v: int(v["version"]))

    def download_uri(self, name: str, version: str) -> str:
        doc = self._call("GET", "/api/2.0/mlflow/model-versions/get-download-uri", params={"name": name, "version": version})
        return str(doc["artifact_uri"])

    def download(self, uri: str, dest: Path) -> int:
        """The files under ``uri`` into ``dest``; the bytes copied. ``mlflow-artifacts:`` through the
        server; a ``file:`` URI or path only when this machine can read it (the server's own disk)."""
        if uri.startswith("mlflow-artifacts:"):
            root = uri.split(":", 1)[1].lstrip("/")
            if root.startswith("/"):
                root = root.split("/", 2)[-1]
            return self._download_tree(root.strip("/"), dest)
        parsed = urlparse(uri)
        if parsed.scheme in ("", "file"):
            local = Path(unquote(parsed.path))
            if not local.exists():
                raise NotFound(f"artifact location {uri} is not readable from here (import on the MLflow server's machine)")
            return copy_local(local, dest)
        raise InvalidInput(f"artifact location {uri}: modelkeep imports mlflow-artifacts: and file: locations "
                           "(serve artifacts through the MLflow server, or copy them first)")

    def _download_tree(self, path: str, dest: Path) -> int:
        doc = self._call("GET", "/api/2.0/mlflow-artifacts/artifacts", params={"path": path})
        total = 0
        for item in doc.get("files", []):
            name = item["path"].rsplit("/", 1)[-1]
            if name in ("", ".", "..") or "\\" in name:
                raise InvalidInput(f"the MLflow server listed a file named {item['path']!r} under {path}")
            child = f"{path}/{name}"
            if item.get("is_dir"):
                total += self._download_tree(child, dest / name)
                continue
            dest.mkdir(parents=True, exist_ok=True)
            with self.http.stream("GET", f"/api/2.0/mlflow-artifacts/artifacts/{child}") as response:
                if response.status_code != 200:
                    raise Unavailable(f"the MLflow server answered {response.status_code} for the file {child}")
                with open(dest / name, "wb") as out:
                    for piece in response.iter_bytes():
                        out.write(piece)
                        total += len(piece)
        return total


def copy_local(local: Path, dest: Path) -> int:
    """A file or folder of model files copied into ``dest``; the bytes copied."""
    if local.is_dir():
        shutil.copytree(local, dest, dirs_exist_ok=True)
    else:
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(local, dest / local.name)
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())


def _pairs(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(i["key"]): str(i.get("value", "")) for i in items or []}


def _project(experiment: dict[str, Any]) -> str:
    name = str(experiment["name"]).strip()
    return name if KEY_PATTERN.match(name) and len(name) <= 128 else f"mlflow-experiment-{experiment['experiment_id']}"


def import_mlflow(conn: Connection, source: MlflowSource, *, experiments: list[str] | None = None,
                  models: list[str] | None = None, step: Callable[[str], None] | None = None) -> ImportSummary:
    """Bring ``source`` over into ``conn``; ``experiments``/``models`` limit it to those names."""
    say = step or (lambda _text: None)
    summary = ImportSummary(source.url)
    run_map: dict[str, int] = {}  # MLflow run id -> modelkeep run id
    for experiment in source.experiments():
        if experiments is not None and experiment["name"] not in experiments:
            continue
        if experiment.get("lifecycle_stage") == "deleted":
            continue
        summary.experiments += 1
        project = _project(experiment)
        done = _imported_runs(conn, project, source.url)
        for run in source.runs(str(experiment["experiment_id"])):
            info = run["info"]
            mark = f"{source.url}#run:{info['run_id']}"
            if mark in done:
                run_map[info["run_id"]] = done[mark]
                summary.runs_skipped += 1
                continue
            say(f"run {info.get('run_name') or info['run_id']} of {experiment['name']}")
            run_map[info["run_id"]] = _copy_run(conn, source, run, project, mark)
            summary.runs_new += 1
    for model in source.models():
        name = str(model["name"])
        if models is not None and name not in models:
            continue
        if _pairs(model.get("tags")).get("mlflow.prompt.is_prompt") == "true":
            continue
        summary.models += 1
        _copy_model(conn, source, model, run_map, summary, say)
    return summary


def _imported_runs(conn: Connection, project: str, origin: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        rows = conn.runs.list(project, limit=1_000_000)
    except NotFound:
        return out
    for row in rows:
        mark = conn.runs.get(int(row["id"]), outputs=False, history=False).tags.get(IMPORTED, "")
        if mark.startswith(origin + "#"):
            out[mark] = int(row["id"])
    return out


def _copy_run(conn: Connection, source: MlflowSource, run: dict[str, Any], project: str, mark: str) -> int:
    info, data = run["info"], run.get("data", {})
    tags = _pairs(data.get("tags"))
    name = (info.get("run_name") or tags.get("mlflow.runName") or f"mlflow-{info['run_id']}")[:200]
    started = moment(int(info["start_time"])) if info.get("start_time") else None  # when it ran in MLflow
    run_id = conn.runs.create(RunCreate(name=name, project=project, started_at=started, code={k: v for k, v in {
        "source": tags.get("mlflow.source.name"), "commit": tags.get("mlflow.source.git.commit")}.items() if v}))
    params = _pairs(data.get("params"))
    if params:
        conn.runs.log_params(run_id, params)
    points: list[tuple[str, float, int, datetime]] = []
    for key in sorted({m["key"] for m in data.get("metrics", [])}):
        for point in source.history(info["run_id"], key):  # every point, with the moment MLflow has for it
            points.append((key, float(point["value"]), int(point.get("step") or 0), moment(int(point.get("timestamp") or 0))))
    if points:
        conn.runs.log_history(run_id, points)
    kept = {k: v for k, v in tags.items() if not k.startswith("mlflow.log-model")}
    conn.runs.set_tags(run_id, {**kept, IMPORTED: mark, "mlflow.start_time": str(info.get("start_time", ""))})
    status = RUN_STATUS.get(str(info.get("status")))
    if status:
        conn.runs.end(run_id, status)
    return run_id


def _copy_model(conn: Connection, source: MlflowSource, model: dict[str, Any], run_map: dict[str, int],
                summary: ImportSummary, say: Callable[[str], None]) -> None:
    name = str(model["name"])
    done: dict[str, str] = {}  # mark -> modelkeep ref
    try:
        for view in conn.registry.list_versions(name):
            if view.tags.get(IMPORTED, "").startswith(source.url + "#"):
                done[view.tags[IMPORTED]] = view.ref
    except NotFound:
        pass
    refs: dict[str, str] = {}  # MLflow version -> modelkeep ref
    for version in source.versions(name):
        number = str(version["version"])
        mark = f"{source.url}#model:{name}/{number}"
        if mark in done:
            refs[number] = done[mark]
            summary.versions_skipped += 1
            continue
        say(f"{name} version {number}")
        with tempfile.TemporaryDirectory(prefix="mk-mlflow-import-") as scratch:
            files = Path(scratch) / "model"
            try:
                summary.bytes += source.download(source.download_uri(name, number), files)
            except ModelKeepError as exc:
                summary.refused.append(f"{name} version {number}: {exc}")
                continue
            run_id = run_map.get(str(version.get("run_id") or ""))
            params: dict[str, str] = {}
            metrics: dict[str, float] = {}
            if run_id is not None:
                run = conn.runs.get(run_id, outputs=False, history=False)
                params = dict(run.params)
                metrics = {k: points[-1][1] for k, points in run.metrics.items() if points}
            tags = {**_pairs(version.get("tags")), IMPORTED: mark, "mlflow.source": str(version.get("source", "")),
                    "mlflow.version": number}
            if version.get("run_id"):
                tags["mlflow.run_id"] = str(version["run_id"])
            view = conn.registry.register(name, files if any(files.iterdir()) else None, params=params, metrics=metrics,
                                          tags=tags, description=str(version.get("description") or ""))
        if run_id is not None:
            conn.runs.link_output(run_id, view.id)
        refs[number] = view.ref
        summary.versions_new += 1
    for alias in model.get("aliases", []) or []:
        ref = refs.get(str(alias["version"]))
        if ref is None:
            continue
        try:
            current = conn.registry.get(f"{name}@{alias['alias']}")
            if current.ref == ref:
                continue
        except NotFound:
            pass
        try:
            conn.registry.set_alias(ref, str(alias["alias"]))
            summary.aliases_set += 1
        except PermissionDenied as exc:
            summary.refused.append(f"alias {alias['alias']} of {name}: {exc}")
