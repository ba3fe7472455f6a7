"""MLflow's model registry (``/api/2.0/mlflow/registered-models``, ``/model-versions``) on
modelkeep's registry: a version registered through MLflow is a modelkeep version (5-part number,
bump, lineage, gates), its files one tree object in the content-addressed store. Protected
aliases stay protected: setting one through MLflow is PERMISSION_DENIED naming ``mk promote``."""

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.api.fast_reads import FastRead
from modelkeep.api.mlflow import errors, shapes
from modelkeep.api.mlflow.tracking import Tag, page, run_number
from modelkeep.errors import InvalidInput, NotFound
from modelkeep.services.models.version_rows import VersionRow
from modelkeep.services.models.views import RunView, VersionView
from modelkeep.services.workspace import Workspace
from modelkeep.store.artifacts import StoredArtifact

Artifact = dict[str, str] | StoredArtifact  # files named by kind and digest, or as the store answered for them


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateModel(_Body):
    name: str
    tags: list[Tag] = Field(default_factory=list)
    description: str | None = ""


class ModelRef(_Body):
    name: str


class UpdateModel(ModelRef):
    description: str | None = None


class RenameModel(ModelRef):
    new_name: str


class ModelTag(ModelRef):
    key: str
    value: str | None = ""


class ModelTagRef(ModelRef):
    key: str


class LatestVersions(ModelRef):
    stages: list[str] = Field(default_factory=list)


class AliasBody(ModelRef):
    alias: str
    version: str | None = None


class CreateVersion(_Body):
    name: str
    source: str
    run_id: str | None = None
    tags: list[Tag] = Field(default_factory=list)
    description: str | None = ""
    model_id: str | None = None


class VersionRef(ModelRef):
    version: str


class UpdateVersion(VersionRef):
    description: str | None = None


class VersionTag(VersionRef):
    key: str
    value: str | None = ""


class VersionTagRef(VersionRef):
    key: str


class TransitionStage(VersionRef):
    stage: str
    archive_existing_versions: bool = False


def number(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 2**31 - 1:
        raise InvalidInput(f"version {text!r}: MLflow versions are numbers (1, 2, 3 ...)")
    return int(text)


def _resolve_source(ws: Workspace, body: CreateVersion,
                    loaded: dict[int, RunView]) -> tuple[Artifact, int | None, dict[str, str], str | None]:
    """What to register: the artifact (files under an artifact files prefix, or an existing
    version's), the run that made it, its params, and the logged model it came from (a run read
    on the way is left in ``loaded``)."""
    source = body.source.strip()
    model_id = body.model_id
    run_id = run_number(body.run_id) if body.run_id else None
    params: dict[str, str] = {}
    prefix: str | None = None
    existing: VersionView | None = None
    if source.startswith("models:/m-") or (model_id and source == f"models:/{model_id}"):
        logged = ws.logged_models.get(model_id or source[len("models:/"):])
        model_id, run_id = logged.id, run_id or logged.run_id
        prefix, params = logged.artifact_prefix, dict(logged.params)
    elif source.startswith("models:/"):  # another registered version: the same files
        name, sep, spec = source[len("models:/"):].partition("/")
        if "@" in name and not sep:
            name, _, alias = name.partition("@")
            existing = ws.registry.get(f"{name}@{alias}")
        elif spec.isascii() and spec.isdigit():
            existing = ws.model_records.version(name, number(spec))
        else:
            existing = ws.registry.get(f"{name}@{spec or 'latest'}")
    elif source.startswith("runs:/"):
        run_text, _, path = source[len("runs:/"):].partition("/")
        run_id = run_number(run_text)
        loaded[run_id] = ws.runs.get(run_id, outputs=False, history=False)
        experiment = ws.experiments.by_project(loaded[run_id].project)
        prefix = f"{experiment.id}/{run_id}/artifacts/{path}".rstrip("/")
        try:  # the run's files under the path, as one tree
            return _tree(ws, prefix, experiment.project), run_id, params, model_id
        except NotFound:  # MLflow 3: a logged model of the run
            found = [m for m in ws.logged_models.search([experiment.id], name=path or "model") if m.run_id == run_id]
            if found:
                model_id, prefix, params = found[0].id, found[0].artifact_prefix, dict(found[0].params)
    elif source.startswith("mlflow-artifacts:"):
        prefix = re.sub(r"^mlflow-artifacts:(//[^/]*)?/?", "", source)
        parts = prefix.split("/")
        if prefix.startswith(shapes.VIRTUAL_ROOT + "/") and len(parts) == 4:
            existing, prefix = ws.model_records.version(parts[2], number(parts[3])), None
    else:
        raise InvalidInput(f"source {source!r}: modelkeep registers files it stores; use models:/m-ID, runs:/RUN/PATH, "
                           "models:/NAME/N or mlflow-artifacts:/PATH (log the model to this server first)")
    if existing is not None:
        if not existing.digest or existing.artifact_kind not in ("file", "tree"):
            raise InvalidInput(f"source {source!r}: {existing.ref} has no stored files to register again")
        return {"kind": existing.artifact_kind, "digest": existing.digest}, run_id, dict(existing.params), model_id
    assert prefix is not None
    return _tree(ws, prefix), run_id, params, model_id


def _tree(ws: Workspace, prefix: str, project: str | None = None) -> StoredArtifact:
    return ws.artifact_files.tree(prefix, project=project)  # stored, checked and leased: register takes it as it is


def rm_doc(ws: Workspace, name: str) -> dict[str, Any]:
    record = ws.model_records.get(name)
    latest = ws.model_records.listed(name, number=record.latest) if record.latest else None
    return shapes.registered_model(record, latest)


def model_get(ws: Workspace, name: str) -> dict[str, Any]:
    return {"registered_model": rm_doc(ws, name)}


def alias_get(ws: Workspace, name: str, alias: str) -> dict[str, Any]:
    return {"model_version": shapes.model_version(ws.model_records.listed(name, alias=alias.lower()))}


def version_get(ws: Workspace, name: str, version: str) -> dict[str, Any]:
    return {"model_version": shapes.model_version(ws.model_records.listed(name, number=number(version)))}


def version_search(ws: Workspace, filter: str | None, max_results: int, order_by: list[str] | None,
                   page_token: str | None) -> dict[str, Any]:
    name, rest = _split_name(filter or "")
    rows: list[VersionRow] = ws.model_records.every_row() if not name else []
    if name:
        try:
            rows = ws.model_records.rows(name)
        except NotFound:
            pass
    if rest:
        rows = [v for v in rows if _version_matches(v, rest)]
    rows.sort(key=lambda v: (v.name, -v.seq))
    if order_by and any("version_number" in o and "ASC" in o.upper() for o in order_by):
        rows.sort(key=lambda v: (v.name, v.seq))
    items, token = page(rows, page_token, max_results)
    return {"model_versions": [shapes.listed_version(v) for v in items]} | ({"next_page_token": token} if token else {})


def search_read(ws: Workspace, filter: str | None = None, max_results: str = "10000", order_by: str | None = None,
                page_token: str | None = None) -> dict[str, Any]:
    """The search as the fast way takes it: each parameter once, as text. A number the route's parsing
    might read otherwise (a sign, a space, "1_000") is left to the route."""
    if not (max_results.isascii() and max_results.isdigit()):
        raise InvalidInput(f"max_results {max_results!r}")
    return version_search(ws, filter, int(max_results), None if order_by is None else [order_by], page_token)


# the reads MLflow's clients make most, answered before FastAPI's routing where they succeed (api/fast_reads.py)
FAST_READS = {
    "/registered-models/get": FastRead(("name",), model_get),
    "/registered-models/alias": FastRead(("name", "alias"), alias_get),
    "/model-versions/get": FastRead(("name", "version"), version_get),
    "/model-versions/search": FastRead((), search_read, optional=("filter", "max_results", "order_by", "page_token"),
                                       light=False),
}


def registry_routes(Ws: Any) -> APIRouter:
    router = errors.router()

    @router.post("/registered-models/create")
    def rm_create(ws: Ws, body: CreateModel) -> dict[str, Any]:
        ws.model_records.create(body.name, description=body.description or "", tags={t.key: t.value or "" for t in body.tags})
        return {"registered_model": rm_doc(ws, body.name)}

    @router.get("/registered-models/get")
    def rm_get(ws: Ws, name: str) -> dict[str, Any]:
        return model_get(ws, name)

    @router.patch("/registered-models/update")
    def rm_update(ws: Ws, body: UpdateModel) -> dict[str, Any]:
        ws.model_records.update(body.name, description=body.description)
        return {"registered_model": rm_doc(ws, body.name)}

    @router.post("/registered-models/rename")
    def rm_rename(ws: Ws, body: RenameModel) -> dict[str, Any]:
        ws.registry.rename_model(body.name, body.new_name)
        return {"registered_model": rm_doc(ws, body.new_name)}

    @router.delete("/registered-models/delete")
    def rm_delete(ws: Ws, body: ModelRef) -> dict[str, Any]:
        ws.registry.delete_model(body.name)
        return {}

    @router.get("/registered-models/search")
    def rm_search(ws: Ws, filter: str | None = None, max_results: int = 100,
                  page_token: str | None = None) -> Response:
        records = ws.model_records.every()
        if filter:
            records = [r for r in records if _model_matches(r.name, r.tags, filter)]
        items, token = page(records, page_token, min(max_results, 1000))
        latest = ws.model_records.listed_many([(r.name, r.latest) for r in items if r.latest])
        docs = [shapes.registered_model(r, latest.get((r.name, r.latest)) if r.latest else None) for r in items]
        return shapes.listing({"registered_models": docs} | ({"next_page_token": token} if token else {}))

    def latest_versions(ws: Workspace, body: LatestVersions) -> dict[str, Any]:
        record = ws.model_records.get(body.name)
        wanted = {s.lower() for s in body.stages}
        if record.latest is None or (wanted and "none" not in wanted):
            return {"model_versions": []}
        return {"model_versions": [shapes.model_version(ws.model_records.listed(body.name, number=record.latest))]}

    @router.post("/registered-models/get-latest-versions")
    def rm_latest(ws: Ws, body: LatestVersions) -> dict[str, Any]:
        return latest_versions(ws, body)

    @router.get("/registered-models/get-latest-versions")
    def rm_latest_get(ws: Ws, name: str, stages: list[str] | None = None) -> dict[str, Any]:
        return latest_versions(ws, LatestVersions(name=name, stages=stages or []))

    @router.post("/registered-models/set-tag")
    def rm_tag(ws: Ws, body: ModelTag) -> dict[str, Any]:
        ws.model_records.update(body.name, tags={body.key: body.value or ""})
        return {}

    @router.delete("/registered-models/delete-tag")
    def rm_tag_delete(ws: Ws, body: ModelTagRef) -> dict[str, Any]:
        ws.model_records.update(body.name, tags={body.key: None})
        return {}

    @router.post("/registered-models/alias")
    def alias_set(ws: Ws, body: AliasBody) -> dict[str, Any]:
        view = ws.model_records.version(body.name, number(body.version or ""))
        ws.registry.set_alias(view.ref, body.alias)
        return {}

    @router.delete("/registered-models/alias")
    def alias_delete(ws: Ws, body: AliasBody) -> dict[str, Any]:
        ws.registry.delete_alias(body.name, body.alias)
        return {}

    @router.get("/registered-models/alias")
    def alias_read(ws: Ws, name: str, alias: str) -> dict[str, Any]:
        return alias_get(ws, name, alias)

    # --- model versions -------------------------------------------------------------------------------------

    @router.post("/model-versions/create")
    def mv_create(ws: Ws, body: CreateVersion) -> dict[str, Any]:
        loaded: dict[int, RunView] = {}
        artifact, run_id, params, model_id = _resolve_source(ws, body, loaded)
        metrics: dict[str, float] = {}
        if run_id is not None:
            run = loaded.get(run_id) or ws.runs.get(run_id, outputs=False, history=False)
            params = {**run.params, **params}
            metrics = {k: points[-1][1] for k, points in run.metrics.items() if points}
            ws.access.check("model.write", project=run.project)  # the run's lineage gains the version
        tags = {t.key: t.value or "" for t in body.tags} | {"mlflow.source": body.source}
        if run_id is not None:
            tags["mlflow.run_id"] = str(run_id)
        if model_id:
            tags["mlflow.model_id"] = model_id
        view = ws.registry.register(body.name, params=params, metrics=metrics, tags=tags, description=body.description or "",
                                    artifact=artifact, produced_by=run_id)
        return {"model_version": shapes.model_version(view)}  # new: no alias holds it yet

    @router.get("/model-versions/get")
    def mv_get(ws: Ws, name: str, version: str) -> dict[str, Any]:
        return version_get(ws, name, version)

    @router.patch("/model-versions/update")
    def mv_update(ws: Ws, body: UpdateVersion) -> dict[str, Any]:
        view = ws.model_records.update_version(body.name, number(body.version), description=body.description)
        return {"model_version": shapes.model_version(view)}

    @router.delete("/model-versions/delete")
    def mv_delete(ws: Ws, body: VersionRef) -> dict[str, Any]:
        ws.registry.delete_version(ws.model_records.version(body.name, number(body.version)).ref)
        return {}

    @router.get("/model-versions/search")
    def mv_search(ws: Ws, filter: str | None = None, max_results: int = 10_000,
                  order_by: list[str] | None = None, page_token: str | None = None) -> Response:
        return shapes.listing(version_search(ws, filter, max_results, order_by, page_token))

    @router.get("/model-versions/get-download-uri")
    def mv_download_uri(ws: Ws, name: str, version: str) -> dict[str, Any]:
        view = ws.model_records.version(name, number(version))
        return {"artifact_uri": f"mlflow-artifacts:/{shapes.VIRTUAL_ROOT}/{view.name}/{view.seq}"}

    @router.post("/model-versions/set-tag")
    def mv_tag(ws: Ws, body: VersionTag) -> dict[str, Any]:
        ws.model_records.update_version(body.name, number(body.version), tags={body.key: body.value or ""})
        return {}

    @router.delete("/model-versions/delete-tag")
    def mv_tag_delete(ws: Ws, body: VersionTagRef) -> dict[str, Any]:
        ws.model_records.update_version(body.name, number(body.version), tags={body.key: None})
        return {}

    @router.post("/model-versions/transition-stage")
    def mv_stage(ws: Ws, body: TransitionStage) -> dict[str, Any]:
        """Stages are aliases here (``Staging`` → ``staging``): protected ones refuse as aliases do."""
        view = ws.model_records.version(body.name, number(body.version))
        stage = body.stage.lower()
        if stage not in ("staging", "production", "archived", "none"):
            raise InvalidInput(f"stage {body.stage!r}: one of None, Staging, Production, Archived")
        if stage in ("staging", "production"):
            ws.registry.set_alias(view.ref, stage)
        doc = shapes.model_version(ws.registry.get(view.ref))
        return {"model_version": doc | {"current_stage": body.stage.capitalize()}}

    return router


PROMPT = re.compile(r"\s*(AND\s+)?tags?\.`?mlflow\.prompt\.is_prompt`?\s*!=\s*'true'\s*", re.IGNORECASE)


def _model_matches(name: str, tags: dict[str, str], text: str) -> bool:
    """``name = | LIKE | ILIKE '...'`` and tag clauses joined by AND (a missing tag is not equal)."""
    import fnmatch

    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        match = re.fullmatch(r"(name|tags?\.`?([^`=!\s]+)`?)\s*(=|!=|LIKE|ILIKE)\s*'((?:[^']|'')*)'", clause.strip(),
                             re.IGNORECASE)
        if match is None:
            raise InvalidInput(f"filter clause {clause!r}: name or tag.KEY with =, !=, LIKE or ILIKE and a quoted value")
        field, tag, op, value = match.group(1), match.group(2), match.group(3).upper(), match.group(4).replace("''", "'")
        found = name if field.lower() == "name" else tags.get(tag or "")
        if op == "!=":
            if found == value:
                return False
            continue
        if found is None:
            return False
        if op == "=" and found != value:
            return False
        if op in ("LIKE", "ILIKE"):
            pattern = value.replace("%", "*").replace("_", "?")
            subject = found.lower() if op == "ILIKE" else found
            if not fnmatch.fnmatchcase(subject, pattern.lower() if op == "ILIKE" else pattern):
                return False
    return True


def _split_name(text: str) -> tuple[str | None, str]:
    """``name='x'`` taken out of a version filter (the common case: one model's versions)."""
    match = re.search(r"(?:^|\s)name\s*=\s*'((?:[^']|'')*)'", text)
    if match is None:
        return None, text.strip()
    rest = (text[:match.start()] + text[match.end():]).strip()
    rest = re.sub(r"^\s*AND\s+|\s+AND\s*$", "", rest, flags=re.IGNORECASE).strip()
    return match.group(1).replace("''", "'"), rest


def _version_matches(view: VersionRow, text: str) -> bool:
    tags = view.tags | shapes.modelkeep_tags(view)
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        match = re.fullmatch(r"(run_id|version_number|tags?\.`?([^`=!<>\s]+)`?)\s*(=|!=|>=|<=|>|<)\s*'?([^']*)'?",
                             clause.strip())
        if match is None:
            raise InvalidInput(f"filter clause {clause!r}: name, run_id, version_number or tag.KEY with a comparison")
        field, tag, op, value = match.groups()
        if field == "version_number":
            found: Any = view.seq
            value_cmp: Any = int(value)
        elif field == "run_id":
            found, value_cmp = view.tags.get("mlflow.run_id", ""), value
        else:
            found, value_cmp = tags.get(tag or ""), value
            if found is None:
                return op == "!="
        ok = {"=": found == value_cmp, "!=": found != value_cmp, ">": found > value_cmp, "<": found < value_cmp,
              ">=": found >= value_cmp, "<=": found <= value_cmp}[op]
        if not ok:
            return False
    return True


