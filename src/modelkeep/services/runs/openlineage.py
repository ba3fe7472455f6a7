"""OpenLineage: the pipeline upstream of a model or dataset version as run events.

Every run in the version's upstream lineage is one step: a START event at the run's start and a
COMPLETE (or FAIL) event at its end, with the dataset and model versions it read as inputs and
the ones it made as outputs. The steps share a parent run (the pipeline that made the version),
which gets its own START and COMPLETE events spanning all of them. A version registered without
a run is a step of its own (``register.NAME``).

Names follow the OpenLineage naming conventions: one namespace for the repository or server
(the ``lineage.namespace`` setting, by default ``modelkeep://HOST/PATH`` of the repository;
through a server the server's), datasets named ``datasets/NAME`` and models ``models/NAME``,
the version in the ``version`` facet (so every version of a dataset is one dataset to a
lineage backend, as it should be), jobs named ``PROJECT.RUN-NAME``, the parent
``pipeline:NAME``.

Facets are the standard ones wherever one fits: ``version``, ``schema`` (a model's signature),
``storage``, ``documentation``; input ``dataQualityMetrics`` and output ``outputStatistics``
(files and bytes); job ``sourceCodeLocation`` (repository, commit, branch, path) and ``jobType``;
run ``parent``, ``processing_engine``, ``nominalTime`` (a step's data window) and
``errorMessage`` (a failed run). One custom dataset facet, ``modelkeep``, carries the content
digest, bump and aliases. :func:`validate` checks events against openlineage-python's own
classes, which are generated from the official JSON schema.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import attr
import httpx

from modelkeep.about import __version__
from modelkeep.errors import InvalidInput, NotFound, Unavailable
from modelkeep.services.interface import Connection

PRODUCER = f"https://github.com/modelkeep/modelkeep/tree/v{__version__}"
CUSTOM_FACET_SCHEMA = "https://github.com/modelkeep/modelkeep/blob/main/docs/lineage.md#the-modelkeep-facet"
PROTOCOL_KEYS = {"_producer", "_schemaURL", "_deleted"}


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z" if moment.tzinfo is None else moment.isoformat()


def _uuid(key: str) -> str:
    # Stable: exporting twice (or emitting as it happens, then exporting) gives the same run ids.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelkeep:{key}"))


class _Builder:
    """Turns lineage nodes into OpenLineage datasets, caching what it looked up."""

    def __init__(self, conn: Connection, namespace: str, nodes: list[dict[str, Any]]) -> None:
        from openlineage.client import facet_v2 as facets

        self.conn, self.namespace, self.facets = conn, namespace, facets
        self._labels = {n["id"]: n["label"] for n in nodes if n["kind"] == "model_version"}  # node -> NAME@VERSION

    def _dataset_facets(self, node: str) -> tuple[str, dict[str, Any], int | None, int | None]:
        f = self.facets
        kind, _, rest = node.partition(":")
        if kind == "dataset":
            view = self.conn.datasets.get(rest)
            suffix = view.source.rsplit(".", 1)[-1].lower() if "." in view.source else None
            dataset_facets: dict[str, Any] = {
                "version": f.dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(view.number)),
                "storage": f.storage_dataset.StorageDatasetFacet(storageLayer="modelkeep", fileFormat=suffix),
                "modelkeep": _custom({"ref": view.ref, "digest": view.digest, "kind": "dataset"}),
            }
            if view.message:
                dataset_facets["documentation"] = f.documentation_dataset.DocumentationDatasetFacet(
                    description=view.message)
            return f"datasets/{view.name}", dataset_facets, view.files, view.bytes
        version = self.conn.registry.get(self._labels.get(node) or rest)
        dataset_facets = {
            "version": f.dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=version.version),
            "storage": f.storage_dataset.StorageDatasetFacet(storageLayer="modelkeep", fileFormat=version.tags.get("flavor")),
            "modelkeep": _custom({"ref": version.ref, "digest": version.digest, "kind": "model_version",
                                  "bump": version.bump, "aliases": list(version.aliases)}),
        }
        columns = (version.signature or {}).get("inputs") or []
        if columns:
            dataset_facets["schema"] = f.schema_dataset.SchemaDatasetFacet(fields=[
                f.schema_dataset.SchemaDatasetFacetFields(name=str(c.get("name", i)), type=c.get("type"), ordinal_position=i + 1)
                for i, c in enumerate(columns)])
        if version.description:
            dataset_facets["documentation"] = f.documentation_dataset.DocumentationDatasetFacet(
                description=version.description)
        return f"models/{version.name}", dataset_facets, None, version.artifact_size

    def input(self, node: str) -> Any:
        from openlineage.client.event_v2 import InputDataset

        name, dataset_facets, files, size = self._dataset_facets(node)
        quality = self.facets.data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
            bytes=size, fileCount=files, columnMetrics={})
        return InputDataset(namespace=self.namespace, name=name, facets=dataset_facets,
                            inputFacets={"dataQualityMetrics": quality})

    def output(self, node: str) -> Any:
        from openlineage.client.event_v2 import OutputDataset

        name, dataset_facets, files, size = self._dataset_facets(node)
        stats = self.facets.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(size=size, fileCount=files)
        return OutputDataset(namespace=self.namespace, name=name, facets=dataset_facets,
                             outputFacets={"outputStatistics": stats})


@functools.cache
def _custom_facet() -> type:
    from openlineage.client.facet_v2 import DatasetFacet

    @attr.define
    class ModelkeepDatasetFacet(DatasetFacet):
        """What modelkeep knows of a version that no standard facet carries."""

        ref: str = attr.field()
        digest: str | None = attr.field(default=None)
        kind: str = attr.field(default="dataset")
        bump: str | None = attr.field(default=None)
        aliases: list[str] = attr.field(factory=list)

        @staticmethod
        def _get_schema() -> str:
            return CUSTOM_FACET_SCHEMA

    return ModelkeepDatasetFacet


def _custom(fields: dict[str, Any]) -> Any:
    return _custom_facet()(**fields)


def _job_facets(builder: _Builder, code: dict[str, Any], job_type: str) -> dict[str, Any]:
    f = builder.facets
    out: dict[str, Any] = {"jobType": f.job_type_job.JobTypeJobFacet(processingType="BATCH", integration="MODELKEEP",
                                                                     jobType=job_type)}
    if code.get("commit"):
        remote = code.get("remote")
        url = remote or f"file://{code.get('root', '')}"
        out["sourceCodeLocation"] = f.source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url=url, repoUrl=remote, path=code.get("cwd") if code.get("cwd") not in (None, ".") else None,
            version=code["commit"], branch=code.get("branch"))
    return out


def _engine(builder: _Builder) -> Any:
    from openlineage.client import __version__ as ol_version

    return builder.facets.processing_engine_run.ProcessingEngineRunFacet(
        version=__version__, name="modelkeep", openlineageAdapterVersion=ol_version)


def _steps(graph: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per run node: the nodes it read and the nodes it made."""
    reads: dict[str, list[str]] = defaultdict(list)
    made: dict[str, list[str]] = defaultdict(list)
    for edge in graph["edges"]:
        if edge["dst"].startswith("run:") and edge["kind"] == "trained_on":
            reads[edge["dst"]].append(edge["src"])
        elif edge["src"].startswith("run:") and edge["kind"] == "produced_by":
            made[edge["src"]].append(edge["dst"])
    return reads, made


def events(conn: Connection, ref: str, *, namespace: str | None = None) -> list[dict[str, Any]]:
    """The OpenLineage events of the pipeline upstream of ``ref`` (a model or dataset version)."""
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.generated.base import set_producer
    from openlineage.client.serde import Serde

    set_producer(PRODUCER)  # the facets' _producer: this exporter, not the client library
    graph = conn.lineage.lineage(ref)
    namespace = namespace or graph.get("namespace") or "modelkeep"
    builder = _Builder(conn, namespace, graph["nodes"])
    f = builder.facets
    root = graph["root"]
    root_label = next(n["label"] for n in graph["nodes"] if n["id"] == root)
    reads, made = _steps(graph)
    produced = {node for outputs in made.values() for node in outputs}
    parent_job = Job(namespace=namespace, name=f"pipeline:{root_label.partition('@')[0]}", facets=_job_facets(builder, {}, "DAG"))
    parent_run = Run(runId=_uuid(f"pipeline:{root}"), facets={"processing_engine": _engine(builder)})
    parent_facet = f.parent_run.ParentRunFacet(
        run=f.parent_run.Run(runId=parent_run.runId), job=f.parent_run.Job(namespace=namespace, name=parent_job.name),
        root=f.parent_run.Root(run=f.parent_run.RootRun(runId=parent_run.runId),
                               job=f.parent_run.RootJob(namespace=namespace, name=parent_job.name)))
    steps: list[tuple[datetime, datetime, list[Any]]] = []
    for node in sorted(set(reads) | set(made), key=lambda n: int(n.split(":")[1])):
        try:
            info = conn.runs.get(int(node.split(":")[1]))
        except NotFound:  # a deleted run: its versions keep their edges, the step has no record
            continue
        start_event, end_event = _run_events(builder, info, reads.get(node, []), made.get(node, []), parent_facet)
        steps.append((info.started_at, info.ended_at or info.started_at, [start_event, end_event]))
    for node in graph["nodes"]:  # versions registered without a run: a step of their own
        if node["kind"] != "model_version" or node["id"] in produced or node["label"].startswith("(deleted"):
            continue
        version = conn.registry.get(node["label"])
        sources = [e["src"] for e in graph["edges"] if e["dst"] == node["id"] and e["kind"] in ("trained_on", "component_of")]
        job = Job(namespace=namespace, name=f"register.{version.name}",
                  facets=_job_facets(builder, version.code or {}, "TASK"))
        run = Run(runId=_uuid(f"register:{version.ref}:{version.digest}"),
                  facets={"parent": parent_facet, "processing_engine": _engine(builder)})
        inputs = [builder.input(n) for n in sources]
        outputs = [builder.output(node["id"])]
        moment = _iso(version.created_at)
        steps.append((version.created_at, version.created_at, [
            RunEvent(eventType=state, eventTime=moment, run=run, job=job, producer=PRODUCER, inputs=inputs, outputs=outputs)
            for state in (RunState.START, RunState.COMPLETE)]))
    if not steps:
        raise InvalidInput(f"{ref} has no recorded pipeline: it was added directly, not made by a run")
    steps.sort(key=lambda step: step[0])
    start, end = steps[0][0], max(step[1] for step in steps)
    out = [RunEvent(eventType=RunState.START, eventTime=_iso(start), run=parent_run, job=parent_job, producer=PRODUCER)]
    for _, _, pair in steps:
        out.extend(pair)
    out.append(RunEvent(eventType=RunState.COMPLETE, eventTime=_iso(end), run=parent_run, job=parent_job,
                        producer=PRODUCER))
    return [json.loads(Serde.to_json(event)) for event in out]


def _run_events(builder: _Builder, info: Any, reads: list[str], made: list[str], parent: Any | None) -> list[Any]:
    """A run's START event and its end (COMPLETE, FAIL, ABORT; RUNNING while it runs)."""
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    f = builder.facets
    run_facets: dict[str, Any] = {"processing_engine": _engine(builder)} | ({"parent": parent} if parent else {})
    if info.tags.get("window_start"):
        run_facets["nominalTime"] = f.nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=_window(info.tags["window_start"]),
            nominalEndTime=_window(info.tags["window_end"]) if info.tags.get("window_end") else None)
    state = {"finished": RunState.COMPLETE, "failed": RunState.FAIL, "killed": RunState.ABORT}.get(
        info.status, RunState.RUNNING)
    if state == RunState.FAIL:
        run_facets["errorMessage"] = f.error_message_run.ErrorMessageRunFacet(
            message=f"run {info.id} ended {info.status} (exit code {info.exit_code})", programmingLanguage="python")
    job = Job(namespace=builder.namespace, name=f"{info.project}.{info.name}", facets=_job_facets(builder, info.code, "TASK"))
    run = Run(runId=_uuid(f"run:{info.id}:{info.started_at.isoformat()}"), facets=run_facets)
    inputs = [builder.input(n) for n in reads]
    outputs = [builder.output(n) for n in made]
    return [RunEvent(eventType=RunState.START, eventTime=_iso(info.started_at), run=run, job=job, producer=PRODUCER,
                     inputs=inputs, outputs=outputs),
            RunEvent(eventType=state, eventTime=_iso(info.ended_at or info.started_at), run=run, job=job,
                     producer=PRODUCER, inputs=inputs, outputs=outputs)]


def from_event(conn: Connection, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The OpenLineage event for one ``run.started`` or ``run.ended`` outbox event (``None`` for
    any other event, or a run deleted since): what the server emits as it happens. The run ids
    are those of :func:`events`, so an export later joins what was emitted live."""
    from openlineage.client.generated.base import set_producer
    from openlineage.client.serde import Serde

    target = str(payload.get("target", ""))
    if payload.get("event") not in ("run.started", "run.ended") or not target.startswith("run:"):
        return None
    set_producer(PRODUCER)
    try:
        info = conn.runs.get(int(target.split(":", 1)[1]))
    except NotFound:
        return None
    upstream = conn.lineage.lineage(target, depth=1)
    downstream = conn.lineage.lineage(target, downstream=True, depth=1)
    builder = _Builder(conn, upstream.get("namespace") or "modelkeep", upstream["nodes"] + downstream["nodes"])
    reads, _ = _steps(upstream)
    _, made = _steps(downstream)
    start, end = _run_events(builder, info, reads.get(target, []), made.get(target, []), None)
    event = start if payload["event"] == "run.started" else end
    return dict(json.loads(Serde.to_json(event)))


def _window(value: str) -> str:
    moment = datetime.fromisoformat(value)
    return _iso(moment)


# -- validation against openlineage-python's generated (official-schema) classes ------------------------------


def _facet_classes() -> dict[str, type]:
    import importlib
    import pkgutil

    import openlineage.client.generated as generated

    out: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{module_info.name}")
        for value in vars(module).values():
            getter = getattr(value, "_get_schema", None)
            if isinstance(value, type) and getter is not None and value.__module__ == module.__name__:
                try:
                    out[getter()] = value
                except TypeError:
                    continue
    return out


def _check_object(cls: type, doc: Any, where: str, classes: dict[str, type], problems: list[str]) -> None:
    import attr

    if not isinstance(doc, dict):
        problems.append(f"{where}: expected an object, got {type(doc).__name__}")
        return
    fields = {a.name: a for a in attr.fields(cls)}
    for name, field in fields.items():
        if field.default is attr.NOTHING and name not in doc and not name.startswith("_"):
            problems.append(f"{where}: missing required {name!r}")
    for key, value in doc.items():
        if key not in fields and key not in PROTOCOL_KEYS:
            problems.append(f"{where}: {key!r} is not a field of {cls.__name__}")
        elif key in ("facets", "inputFacets", "outputFacets") and isinstance(value, dict):
            for facet_name, facet in value.items():
                _check_facet(facet, f"{where}.{key}.{facet_name}", classes, problems)
        elif key in ("inputs", "outputs") and isinstance(value, list):
            from openlineage.client.event_v2 import InputDataset, OutputDataset

            for i, item in enumerate(value):
                _check_object(InputDataset if key == "inputs" else OutputDataset, item, f"{where}.{key}[{i}]", classes,
                              problems)
        elif key in ("run", "job", "root") and isinstance(value, dict) and isinstance(field_type := _nested(cls, key), type):
            _check_object(field_type, value, f"{where}.{key}", classes, problems)


def _nested(cls: type, key: str) -> type | None:
    import typing

    hint = typing.get_type_hints(cls).get(key)
    for arg in (*typing.get_args(hint), hint):
        if isinstance(arg, type) and hasattr(arg, "__attrs_attrs__"):
            return arg
    return None


def _check_facet(facet: Any, where: str, classes: dict[str, type], problems: list[str]) -> None:
    if not isinstance(facet, dict) or not facet.get("_producer") or not facet.get("_schemaURL"):
        problems.append(f"{where}: a facet needs _producer and _schemaURL")
        return
    cls = classes.get(facet["_schemaURL"])
    if cls is None:  # a custom facet: its schema is its own, only the protocol keys are checked
        if not facet["_schemaURL"].startswith(("https://", "http://")):
            problems.append(f"{where}: _schemaURL is not a URL")
        return
    _check_object(cls, facet, where, classes, problems)


def validate(events_: list[dict[str, Any]]) -> None:
    """InvalidInput naming every field that the official classes do not accept."""
    from openlineage.client.event_v2 import RunEvent, RunState

    classes = _facet_classes()
    problems: list[str] = []
    states = {s.value for s in RunState}
    for i, event in enumerate(events_):
        where = f"event {i}"
        _check_object(RunEvent, event, where, classes, problems)
        if event.get("eventType") not in states:
            problems.append(f"{where}: eventType {event.get('eventType')!r} is not one of {sorted(states)}")
        try:
            uuid.UUID(str(event.get("run", {}).get("runId")))
            datetime.fromisoformat(str(event.get("eventTime")).replace("Z", "+00:00"))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise InvalidInput("the OpenLineage events do not validate: " + "; ".join(problems[:10]))


# -- transport ---------------------------------------------------------------------------------------------------


def endpoint(url: str) -> str:
    """A bare base URL gets the Marquez API's path (``/api/v1/lineage``); a full path is used as it is."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(f"--to {url!r}: an http(s) URL of an OpenLineage endpoint, e.g. http://marquez:5000")
    return str(parsed.copy_with(path="/api/v1/lineage")) if parsed.path in ("", "/") else url


def post(events_: list[dict[str, Any]], url: str, *, api_key: str | None = None,
         client: httpx.Client | None = None) -> int:
    """POST each event, in order, to an OpenLineage HTTP endpoint; the number posted."""
    target = endpoint(url)
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {api_key}"} if api_key else {})
    own = client is None
    http = client or httpx.Client(timeout=30)
    try:
        for i, event in enumerate(events_):
            try:
                response = http.post(target, content=json.dumps(event), headers=headers)
            except httpx.HTTPError as exc:
                raise Unavailable(f"could not post OpenLineage event {i + 1} of {len(events_)} to {target}: {exc}") from exc
            if not 200 <= response.status_code < 300:
                raise Unavailable(f"{target} refused OpenLineage event {i + 1} of {len(events_)}: "
                                  f"HTTP {response.status_code} {response.text[:200]}")
    finally:
        if own:
            http.close()
    return len(events_)
