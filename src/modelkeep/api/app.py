"""The REST API (FastAPI): everything the CLI and SDK do to the registry, behind tokens.

Every endpoint but ``/health`` needs ``Authorization: Bearer <token>``; each request acts as
the token's user, so the services' permission checks and the audit log (with the client
address as source) apply unchanged. Domain errors answer with the status their class carries
(``modelkeep.errors``: the one table) and a body naming the class, which the client rebuilds.
The server keeps no state of its own (everything is in the database and the store), so
several processes can serve one registry behind a load balancer.

(No ``from __future__ import annotations`` here: FastAPI reads the annotations at runtime.)
"""


import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelkeep.about import __version__
from modelkeep.api.admin_routes import admin_routes
from modelkeep.api.artifact_download import stream_artifact
from modelkeep.api.data_routes import data_routes
from modelkeep.api.deploy_routes import deploy_routes
from modelkeep.api.error_docs import document_errors
from modelkeep.api.evaluation_routes import evaluation_routes
from modelkeep.api.fast_reads import FastReads
from modelkeep.api.middleware import LeasedWrites, LimitBody, PathAlias
from modelkeep.api.mlflow.artifacts import artifact_project, artifact_routes
from modelkeep.api.mlflow.errors import ROOT as MLFLOW_ROOT
from modelkeep.api.mlflow.errors import is_mlflow, mlflow_error, mlflow_status_error
from modelkeep.api.mlflow.multipart import multipart_routes
from modelkeep.api.mlflow.registry import FAST_READS, registry_routes
from modelkeep.api.mlflow.tracking import tracking_routes
from modelkeep.api.mlflow.webhooks import webhook_routes
from modelkeep.api.observe import metrics_response, observe
from modelkeep.api.retention_routes import retention_routes
from modelkeep.api.run_routes import run_routes
from modelkeep.api.store_routes import KEY, MAX_OBJECT, WRITABLE, store_routes
from modelkeep.api.web import web_error, web_routes
from modelkeep.api.web.session import SignInRequired
from modelkeep.errors import (
    KINDS,
    InvalidInput,
    ModelKeepError,
    PermissionDenied,
    ServerError,
    Unauthenticated,
    error_body,
)
from modelkeep.services.connection import LocalAudit
from modelkeep.services.governance.audit_checkpoint import Checkpoint
from modelkeep.services.interface import RegisterRequest
from modelkeep.services.workspace import Workspace

DEFAULT_MAX_UPLOAD = 10 << 30  # one artifact upload; a server sets server.max_upload_bytes
MAX_BODY = 8 << 20  # JSON requests; artifacts travel through the store, not through this API


MODEL_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
Name = Annotated[str, Path(pattern=rf"^{MODEL_NAME}(~{MODEL_NAME})?$", description="model name, or a branch line MODEL~BRANCH")]
Spec = Annotated[
    str,
    Path(pattern=r"^[A-Za-z0-9^~*.][A-Za-z0-9^~*._-]{0,63}$", description="version, spec (2.1.*, ^2.1, ~2.1.0), latest or alias"),
]
AliasName = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$", description="alias")]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="promotion request id")]


def bearer_or_basic(authorization: str | None) -> str | None:
    """The token of ``Bearer TOKEN``, or the password of ``Basic`` (MLflow's MLFLOW_TRACKING_USERNAME and
    MLFLOW_TRACKING_PASSWORD: the password is a modelkeep token, the user name is not trusted)."""
    import base64
    import binascii

    if not authorization:
        return None
    if authorization.startswith("Bearer "):
        return authorization[len("Bearer "):].strip() or None
    if authorization.startswith("Basic "):
        try:
            _, _, password = base64.b64decode(authorization[len("Basic "):], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


def create_app(workspace: Workspace, *, dispatch_webhooks: bool = True) -> FastAPI:
    import threading
    from contextlib import asynccontextmanager

    from modelkeep.services.governance.audit_checkpoint import CheckpointSchedule
    from modelkeep.services.retention.gc import GcSchedule

    stop = threading.Event()
    max_upload = int(workspace.config.get("server.max_upload_bytes") or DEFAULT_MAX_UPLOAD)
    checkpoints = CheckpointSchedule(workspace.db, workspace.config)  # a bad audit.checkpoint_every stops start-up
    collections = GcSchedule(workspace.db, workspace.repo, workspace.config)  # ... and a bad gc.every

    def dispatcher() -> None:  # the outbox is in the database, so any replica may deliver it
        hooks = workspace.as_user("modelkeep-server").webhooks
        log = logging.getLogger("modelkeep.server")
        while not stop.wait(1.0):
            for task in (checkpoints.tick, collections.tick, hooks.dispatch):  # one failing stops neither the others nor the loop
                try:
                    task()
                except Exception:
                    log.exception("background task %s failed", getattr(task, "__qualname__", task))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        thread = threading.Thread(target=dispatcher, name="webhook-dispatcher", daemon=True)
        if dispatch_webhooks:
            thread.start()
        yield
        stop.set()

    app = FastAPI(
        title="modelkeep",
        version=__version__,
        lifespan=lifespan,
        description="Model registry, datasets, promotions and audit of modelkeep.",
    )

    def audit_denied(request: Request, exc: PermissionDenied) -> None:
        from modelkeep.services.governance import audit

        actor = exc.actor or "anonymous"
        with workspace.db.writer() as session, session.begin():
            audit.append(
                session,
                actor,
                "access.login" if isinstance(exc, Unauthenticated) else "access.check",
                f"http:{request.method} {request.url.path}"[:300],
                outcome="denied",
                source=request.client.host if request.client else "unknown",
                detail={"reason": str(exc), "permission": exc.permission},
            )

    @app.exception_handler(ModelKeepError)
    async def domain_error(request: Request, exc: ModelKeepError) -> Response:
        if isinstance(exc, PermissionDenied) and not isinstance(exc, SignInRequired):  # refusals are audited too
            try:
                await run_in_threadpool(audit_denied, request, exc)
            except Exception:  # the refusal stands either way: a 403 must not become a 500
                logging.getLogger("modelkeep.server").exception("could not audit a refused request")
        if is_mlflow(request.url.path):
            return mlflow_error(exc)
        if is_page(request):
            return web_error(request, exc)
        return JSONResponse(error_body(exc), status_code=exc.http_status)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("modelkeep.server").exception("unhandled error", exc_info=exc)
        failure = ServerError(f"the server failed on this request ({type(exc).__name__})", hint="see the server's log")
        if is_mlflow(request.url.path):
            return mlflow_error(failure)
        return JSONResponse(error_body(failure), status_code=failure.http_status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        said = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:3]) + ("; ..." if len(problems) > 3 else "")
        if is_mlflow(request.url.path):
            return mlflow_status_error(422, f"invalid request: {said}")
        if is_page(request):
            return web_error(request, InvalidInput(f"invalid request: {said}"))
        return JSONResponse({"error": "InvalidInput", "message": f"invalid request: {said}", "problems": problems},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = next((k for k in KINDS.values() if k.http_status == exc.status_code), ModelKeepError).__name__
        if exc.status_code in (400, 413):
            kind = InvalidInput.__name__
        headers = dict(getattr(exc, "headers", None) or {})
        if is_mlflow(request.url.path):
            return mlflow_status_error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")
        if is_page(request) and exc.status_code in (404, 405):
            return web_error(request, KINDS.get(kind, ModelKeepError)(f"{request.method} {request.url.path}: {exc.detail}"))
        if exc.status_code == 405:  # every method the path takes, not only those of the first route that matched it
            methods = allowed_methods(app, request)
            if methods:
                headers["Allow"] = ", ".join(methods)
        return JSONResponse({"error": kind, "message": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    def body_limit(path: str) -> int:
        if path.startswith("/api/2.0/mlflow-artifacts/"):
            return max_upload  # the artifact routes stream to disk and check the size themselves
        return MAX_OBJECT if path.startswith("/api/v1/store/objects/") else MAX_BODY

    def too_large(path: str, limit: int) -> Response:
        if is_mlflow(path):
            return mlflow_status_error(413, f"request body over {limit} bytes")
        return JSONResponse({"error": "InvalidInput", "message": f"request body over {limit} bytes"}, status_code=413)

    app.add_middleware(LimitBody, limit_of=body_limit, refuse=too_large)
    app.add_middleware(LeasedWrites)

    def acting_as(authorization: str | None, source: str) -> Workspace:
        token = bearer_or_basic(authorization)
        if token is None:
            raise Unauthenticated("missing token: send 'Authorization: Bearer <token>' (MLflow: MLFLOW_TRACKING_TOKEN)")
        return workspace.as_user(workspace.access.authenticate(token).name, source)

    async def acting(request: Request, authorization: Annotated[str | None, Header()] = None) -> Workspace:
        """The workspace acting as the request's user: in the event loop for a token answered in the last
        ``Access.CACHE_S`` (nothing to wait for), else in a thread (FastAPI ran every request's in one: a hop)."""
        source = request.client.host if request.client else "unknown"
        token = bearer_or_basic(authorization)
        principal = workspace.access.known(token) if token is not None else None
        if principal is not None:
            return workspace.as_user(principal.name, source)
        return await run_in_threadpool(acting_as, authorization, source)

    app.add_middleware(FastReads, acting=acting_as, reads={MLFLOW_ROOT + path: read for path, read in FAST_READS.items()},
                       inline=workspace.db.dialect == "sqlite")

    Ws = Annotated[Workspace, Depends(acting)]
    observe(app)
    document_errors(app)
    app.add_middleware(PathAlias, alias="/ajax-api/2.0/", target="/api/2.0/")  # outermost
    for router in (store_routes(Ws), run_routes(Ws), data_routes(Ws), admin_routes(Ws), deploy_routes(Ws),
                   retention_routes(Ws), evaluation_routes(Ws, Name, Spec), web_routes(workspace), tracking_routes(Ws),
                   registry_routes(Ws), webhook_routes(Ws), artifact_routes(Ws, max_upload),
                   multipart_routes(Ws, workspace, max_upload, artifact_project)):
        adopt(app, router)

    @app.get("/api/3.0/mlflow/server-info", tags=["mlflow"])
    def mlflow_server_info() -> dict[str, Any]:
        """What MLflow 3's client asks before transfers: no workspaces; multipart uploads through the server."""
        return {"store_type": "modelkeep", "workspaces_enabled": False, "multipart_uploads_enabled": True,
                "multipart_downloads_enabled": False}

    def read(ws: Workspace) -> None:
        ws.access.check("model.read")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def metrics(ws: Ws) -> Response:
        """Prometheus metrics: requests and latency per route and status (any reader's token)."""
        read(ws)
        return metrics_response()

    @app.get("/api/v1/models")
    def list_models(ws: Ws) -> list[dict[str, Any]]:
        return [m.to_dict() for m in ws.registry.list_models()]

    @app.get("/api/v1/models/{name}/versions")
    def list_versions(ws: Ws, name: Name) -> list[dict[str, Any]]:
        return [v.to_dict() for v in ws.registry.list_versions(name)]

    @app.get("/api/v1/models/{name}/versions/{spec}")
    def get_version(ws: Ws, name: Name, spec: Spec) -> dict[str, Any]:
        return ws.registry.get(f"{name}@{spec}").to_dict()

    @app.post("/api/v1/models/{name}/versions", status_code=201)
    def register(ws: Ws, name: Name, body: RegisterRequest | None = None) -> dict[str, Any]:
        """Record a version; its artifact is already in the store (uploaded through /api/v1/store
        or /api/v1/artifacts) and is checked to exist."""
        return ws.registry.register(name, None, **(body or RegisterRequest()).keywords()).to_dict()

    @app.post("/api/v1/artifacts", status_code=201)
    async def upload_artifact(
        request: Request,
        ws: Ws,
        filename: Annotated[
            str, Query(pattern=r"^[^/\\\x00]{1,255}$", description="a file name: no '/', '\\', '.' or '..'")
        ] = "artifact",
    ) -> dict[str, Any]:
        """Stream a file into the store (never whole in memory); register it with {"artifact": ...}."""
        import os
        import tempfile
        from pathlib import Path as FilePath

        ws.access.check("model.write")
        if filename in (".", ".."):
            raise InvalidInput(f"filename {filename!r} is not a file name; give the artifact's own name, e.g. model.onnx")
        limit = int(ws.config.get("server.max_upload_bytes") or DEFAULT_MAX_UPLOAD)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise InvalidInput(
                f"upload of {int(length):,} bytes is over this server's limit of {limit:,} bytes (server.max_upload_bytes)"
            )
        folder = tempfile.mkdtemp(prefix="modelkeep-upload-")
        target = FilePath(folder) / "upload"  # the client's file name is never used on disk
        try:
            received = 0
            with open(target, "wb") as handle:
                async for chunk in request.stream():
                    received += len(chunk)
                    if received > limit:  # a chunked upload that never said its size
                        raise InvalidInput(f"upload is over this server's limit of {limit:,} bytes (server.max_upload_bytes)")
                    handle.write(chunk)
            stored = await run_in_threadpool(ws.store.put_path, target)
        finally:
            target.unlink(missing_ok=True)
            os.rmdir(folder)
        return {"kind": stored.kind, "digest": stored.digest, "size": stored.size, "filename": filename}

    @app.get("/api/v1/models/{name}/versions/{spec}/artifact")
    def download_artifact(ws: Ws, name: Name, spec: Spec) -> StreamingResponse:
        """The artifact file of a version, streamed chunk by chunk, each chunk verified; audited."""
        return stream_artifact(ws, ws.registry.get(f"{name}@{spec}"))

    @app.post("/api/v1/store/presign")
    def presign(ws: Ws, body: PresignBody) -> dict[str, Any]:
        """Short-lived URLs to GET (readers) or PUT (writers: new packs and indexes only) store keys
        directly, when the store is S3: artifact bytes then never pass through this server."""
        keys, method = body.keys, body.method
        if method == "PUT" and any(not WRITABLE.match(k) or k.startswith(("leases/", "journal/")) for k in keys):
            raise InvalidInput("PUT takes packs/XX/<id> and index/<id> (config and gc/condemned are read-only; "
                               "leases and journal entries go through /api/v1/store/objects)")
        ws.access.check("model.write" if method == "PUT" else "model.read")
        urls = {k: ws.repo.backend.presign(k, method) for k in keys}  # type: ignore[attr-defined]
        with ws.db.writer() as session, session.begin():
            from modelkeep.services.governance import audit

            audit.append(
                session,
                ws.access.actor,
                f"store.presign_{method.lower()}",
                "store",
                source=ws.registry.source,
                detail={"keys": len(keys)},
            )
        return {"urls": urls}

    @app.put("/api/v1/models/{name}/aliases/{alias}")
    def set_alias(ws: Ws, name: Name, alias: AliasName, body: AliasBody) -> dict[str, Any]:
        view = ws.registry.set_alias(f"{name}@{body.version}", alias)
        return {"name": name, "alias": alias, "version": view.version}

    @app.delete("/api/v1/models/{name}/aliases/{alias}", status_code=204)
    def delete_alias(ws: Ws, name: Name, alias: AliasName) -> None:
        ws.registry.delete_alias(name, alias)

    @app.delete("/api/v1/models/{name}/versions/{version}", status_code=204)
    def delete_version(ws: Ws, name: Name, version: Spec) -> None:
        ws.registry.delete_version(f"{name}@{version}")

    @app.delete("/api/v1/models/{name}")
    def delete_model(ws: Ws, name: Name) -> dict[str, Any]:
        return {"name": name, "deleted_versions": ws.registry.delete_model(name)}

    @app.post("/api/v1/models/{name}/rename")
    def rename_model(ws: Ws, name: Name, body: RenameBody) -> dict[str, Any]:
        return {"name": body.name, "from": name, "lines": ws.registry.rename_model(name, body.name)}

    @app.get("/api/v1/search")
    def search(
        ws: Ws,
        filter: str = "",
        order_by: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        return ws.registry.search(filter, order_by=order_by, limit=limit, cursor=cursor).to_dict()

    @app.get("/api/v1/diff")
    def diff(ws: Ws, a: str, b: str) -> dict[str, Any]:
        return ws.registry.diff(a, b)

    @app.get("/api/v1/lineage")
    def lineage(ws: Ws, ref: str, downstream: bool = False,
                depth: Annotated[int | None, Query(ge=1, le=100)] = None, parents: bool = False) -> dict[str, Any]:
        from modelkeep.services.connection import LocalLineage

        return LocalLineage(ws).lineage(ref, downstream=downstream, depth=depth, parents=parents)

    @app.get("/api/v1/whoami")
    def whoami(ws: Ws) -> dict[str, Any]:
        """The token's user and what it may do."""
        return {"name": ws.access.actor, "permissions": sorted(ws.access.permissions(ws.access.actor))}

    @app.post("/api/v1/promotions", status_code=201)
    def promote(ws: Ws, body: PromotionBody) -> dict[str, Any]:
        return ws.promotions.request(body.ref, body.alias, body.justification, body.ticket)

    @app.get("/api/v1/promotions/{request_id}")
    def get_promotion(ws: Ws, request_id: RequestId) -> dict[str, Any]:
        return ws.promotions.get(request_id)

    @app.post("/api/v1/promotions/{request_id}/reviews")
    def review(ws: Ws, request_id: RequestId, body: ReviewBody) -> dict[str, Any]:
        return ws.promotions.review(request_id, body.decision, body.comment)

    @app.post("/api/v1/promotions/{request_id}/withdraw")
    def withdraw(ws: Ws, request_id: RequestId) -> dict[str, Any]:
        return ws.promotions.withdraw(request_id)

    @app.get("/api/v1/models/{name}/aliases/{alias}/holder")
    def alias_holder(ws: Ws, name: Name, alias: AliasName,
                     at: Annotated[str, Query(max_length=40, description="ISO date-time, UTC")]) -> dict[str, Any]:
        """Which version held NAME@ALIAS at ``at``."""
        from modelkeep.meta.search_language import parse_datetime

        return {"model": name, "alias": alias, "at": at, "version": ws.promotions.holder_at(name, alias, parse_datetime(at))}

    @app.post("/api/v1/models/{name}/aliases/{alias}/rollback")
    def rollback(ws: Ws, name: Name, alias: AliasName) -> dict[str, Any]:
        return ws.promotions.rollback(name, alias)

    @app.get("/api/v1/audit")
    def audit_log(
        ws: Ws,
        model: str | None = None,
        user: str | None = None,
        action: str | None = None,
        since: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 200,
    ) -> list[dict[str, Any]]:
        return LocalAudit(ws).log(model=model, user=user, action=action, since=since, limit=limit)

    @app.get("/api/v1/audit/verify")
    def audit_verify(ws: Ws) -> dict[str, Any]:
        return LocalAudit(ws).verify()

    @app.post("/api/v1/audit/verify")
    def audit_verify_checkpoints(ws: Ws, body: CheckpointsBody) -> dict[str, Any]:
        """The chain check plus each signed checkpoint against the given public key (default this server's)."""
        return LocalAudit(ws).verify([c.model_dump() for c in body.checkpoints], body.public_key)

    @app.post("/api/v1/audit/checkpoints", status_code=201)
    def audit_checkpoint(ws: Ws) -> dict[str, Any]:
        """Sign the chain's head now (admin); keep what comes back outside the database."""
        return LocalAudit(ws).checkpoint()

    return app


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PresignBody(_Body):
    method: Literal["GET", "PUT"]
    keys: list[Annotated[str, Field(pattern=KEY)]] = Field(
        min_length=1, max_length=1000, description="packs/XX/<id>, index/<id> (or config and gc/condemned, read-only)")


class RenameBody(_Body):
    name: str = Field(pattern=rf"^{MODEL_NAME}$", description="the model's new name (its branch lines follow it)")


class AliasBody(_Body):
    version: str = Field(min_length=1, max_length=64, description="the version the alias points at")


class PromotionBody(_Body):
    ref: str = Field(min_length=3, max_length=200, description="NAME@VERSION to promote")
    alias: str = Field(min_length=1, max_length=63)
    justification: str = Field(min_length=1, max_length=5000)
    ticket: str = Field(default="", max_length=200)


class ReviewBody(_Body):
    decision: Literal["approve", "reject", "comment"]
    comment: str = Field(default="", max_length=5000)


class CheckpointsBody(BaseModel):
    checkpoints: list[Checkpoint] = Field(min_length=1, max_length=1000)
    public_key: str | None = Field(default=None, max_length=2000, description="Ed25519 public key (PEM) the "
                                   "checkpoints were signed with; default this server's")


def adopt(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, as the app's own. ``include_router`` would build each route a second time, for its
    place in the app, on the first request: 0.4 s of a server's start. Each router here carries its own prefix
    and tags (the error answers are documented by ``error_docs``), so its routes are complete as they are."""
    app.router.routes.extend(router.routes)


def is_page(request: Request) -> bool:
    """A request for the web UI (answered with HTML pages, not JSON)."""
    path = request.url.path
    return (path == "/ui" or path.startswith("/ui/")) and not path.endswith(".json")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method the OpenAPI document declares for the request's path (FastAPI answers a 405
    with the methods of the first route that matched the path only)."""
    import re

    methods: set[str] = set()
    for template, operations in app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def bootstrap(workspace: Workspace) -> str | None:
    """On a registry without users: create ``admin`` with the admin role, protect ``production``
    for every model, and return the admin's token (shown once). None if users exist."""
    if not workspace.access.personal():
        return None
    workspace.access.create_user("admin", role="admin")
    admin = workspace.as_user("admin")
    admin.promotions.protect("*", "production", required_approvals=1)
    return admin.access.create_token("admin", name="bootstrap")["token"]
