"""The gateway's HTTP interface: Open Inference Protocol v2, plain JSON, feedback, metrics.

Routes (every one but the liveness/readiness probes needs a bearer token with
``deployment.invoke`` or ``deployment.read`` once the registry has users):

* ``POST /v2/models/{name}/infer`` and ``POST /v2/models/{name}/versions/{version}/infer`` (OIP v2,
  JSON or binary tensors: :mod:`modelkeep.gateway.oip`);
  ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}``,
  ``/v2/models/{name}/ready``;
* ``POST /predict``: ``{"inputs": [[...], ...]}`` or ``{"instances": [{...}, ...]}``;
* ``POST /feedback``: ``{"request_id", "label"?, "metrics"?}`` or a list of them;
* ``POST /business``: ``{"version": ARM_OR_NAME@VER, "metric": ..., "values": [...]}``;
* ``GET /metrics`` (Prometheus), ``GET /status`` (the gateway's last analysis).

Every answer says which version served it (``model_version`` / ``version`` and the
``X-Modelkeep-Version`` and ``X-Modelkeep-Arm`` headers). Malformed input is a 422 naming the
field; a model that raises is a 500 for that request only, counted against its version.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelkeep.about import __version__
from modelkeep.errors import InvalidInput, ModelKeepError, NotFound, error_body
from modelkeep.gateway import oip
from modelkeep.gateway.runtime import Gateway
from modelkeep.services.deploy.predictor import ModelFailure
from modelkeep.services.interface import TokenCheck

MAX_BODY = 16 << 20
TOKEN_CACHE_S = 2.0  # as long as the registry's own answer cache: a revoked token stops within this
INLINE_AFTER = 200  # fast calls in a row before a model runs on the event loop
INLINE_BELOW_S = 0.001  # CPU seconds of one call
INLINE_WALL_S = 0.05  # ... and wall seconds
def _error(exc: ModelKeepError) -> JSONResponse:
    """A domain error with the status of its class (``modelkeep.errors``, the one table). OIP v2 keeps
    ``error`` for the message, so the class travels as ``kind`` (the client rebuilds it from either)."""
    body = error_body(exc)
    return JSONResponse({**body, "error": body["message"], "kind": body["error"]}, status_code=exc.http_status)


def create_gateway_app(gateway: Gateway, tokens: TokenCheck, *, on_shutdown: Any = None) -> Starlette:
    deployment = gateway.name

    def sticky() -> Any:
        return gateway.current().spec.sticky

    # A slow model, or a token check that asks a server, must not stall health probes and other
    # requests: both run in a worker thread (inference: one per deployment, so the gateway's
    # measurements are still written by one thread at a time; a plain executor, as anyio's limiter
    # cost a third of the throughput even when not waiting). A thread hop per request still costs
    # about a tenth of the throughput of a fast model, so a model whose last INLINE_AFTER calls
    # were each fast (INLINE_BELOW_S of CPU, INLINE_WALL_S of wall time) runs on the loop, and goes
    # back to the thread at its first slow call; an allowed token is believed for TOKEN_CACHE_S.
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{deployment}")
    pace = {"fast_calls": 0, "inline": False, "in_thread": 0}
    allowed: dict[tuple[str, str], float] = {}

    async def authorize(request: Request, permission: str) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else None
        key = (hashlib.sha256(token.encode()).hexdigest() if token else "", permission)
        now = time.monotonic()
        if allowed.get(key, 0.0) > now:
            return
        await anyio.to_thread.run_sync(tokens.authorize, token, permission, deployment)
        if len(allowed) > 10_000:
            allowed.clear()
        allowed[key] = now + TOKEN_CACHE_S

    def timed(*args: Any, **kwargs: Any) -> dict[str, Any]:
        started, cpu = time.perf_counter(), time.thread_time()
        result = gateway.infer(*args, **kwargs)
        # Fast: little CPU (the wall clock also counts the other process on the core, or waits for
        # the interpreter lock), and no long wait either (a model asleep on I/O uses no CPU).
        fast = time.thread_time() - cpu < INLINE_BELOW_S and time.perf_counter() - started < INLINE_WALL_S
        pace["fast_calls"] = pace["fast_calls"] + 1 if fast else 0
        if not fast:
            pace["inline"] = False  # slow now: the next calls go to the worker thread
        elif pace["fast_calls"] >= INLINE_AFTER:
            pace["inline"] = True
        return result

    async def predicted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        if pace["inline"] and not pace["in_thread"]:  # never beside a call still in the worker thread
            return timed(*args, **kwargs)
        pace["in_thread"] += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(worker, partial(timed, *args, **kwargs))
        finally:
            pace["in_thread"] -= 1

    async def raw_of(request: Request) -> bytes:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:  # refused before it is read
            raise InvalidInput(f"request body over {MAX_BODY} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise InvalidInput(f"request body over {MAX_BODY} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def body_of(request: Request) -> Any:
        return oip.parse_request(await raw_of(request), None)

    def key_of(request: Request, body: Any) -> str | None:
        rule = sticky()
        if rule.header:
            value = request.headers.get(rule.header)
            if value:
                return value
        if rule.field and isinstance(body, dict) and rule.field in body:
            return str(body[rule.field])
        if isinstance(body, dict) and isinstance(body.get("parameters"), dict) and "key" in body["parameters"]:
            return str(body["parameters"]["key"])
        return None

    def version_headers(result: dict[str, Any]) -> dict[str, str]:
        return {"X-Modelkeep-Version": result["model"], "X-Modelkeep-Arm": result["arm"], "X-Request-Id": result["request_id"]}

    def served(result: dict[str, Any], payload: dict[str, Any]) -> JSONResponse:
        return JSONResponse(payload, headers=version_headers(result))

    def guarded(handler: Any) -> Any:
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except ModelFailure as exc:
                return JSONResponse({"error": str(exc), "version": exc.model, "arm": exc.arm}, status_code=500,
                                    headers={"X-Modelkeep-Version": exc.model, "X-Modelkeep-Arm": exc.arm})
            except ModelKeepError as exc:
                return _error(exc)
        return wrapped

    @guarded
    async def predict(request: Request) -> Response:
        await authorize(request, "deployment.invoke")
        body = await body_of(request)
        if not isinstance(body, dict):
            raise InvalidInput('body: expected an object like {"inputs": [[...]]} or {"instances": [{...}]}')
        rows = body.get("inputs", body.get("instances"))
        if rows is None:
            raise InvalidInput("inputs: missing (send 'inputs' as rows of values or 'instances' as objects)")
        result = await predicted(rows, key_of(request, body), request.headers.get("x-request-id"))
        return served(result, {"predictions": result["predictions"], "version": result["model"], "arm": result["arm"],
                               "deployment": deployment, "request_id": result["request_id"]})

    def live_arm(request: Request) -> str | None:
        """The arm serving ``{version}`` of the path (None without one); NotFound if none is live."""
        version = request.path_params.get("version")
        if version is None:
            return None
        live = gateway.current()
        arm = next((a.name for a in live.spec.arms if a.model.partition("@")[2] == version or a.model == version), None)
        if arm is None:
            raise NotFound(f"version {version!r} is not live in {deployment} "
                           f"(live: {', '.join(a.model for a in live.spec.arms)})")
        return arm

    def check_name(request: Request) -> str:
        name = request.path_params["name"]
        if name != deployment:
            raise NotFound(f"this gateway serves {deployment!r}, not {name!r}")
        return name

    @guarded
    async def infer(request: Request) -> Response:
        await authorize(request, "deployment.invoke")
        check_name(request)
        body = oip.parse_request(await raw_of(request), request.headers.get(oip.HEADER_LENGTH))
        if not isinstance(body, dict):
            raise InvalidInput("body: expected an inference request object with inputs")
        live = gateway.current()
        arm_name = live_arm(request)
        first = live.arms.get(arm_name or live.spec.stable) or next(iter(live.arms.values()), None)
        rows = oip.oip_rows(body, first.inputs if first else None)
        out_name = oip.output_name(live.spec.arm(arm_name or live.spec.stable).signature)
        asked = body.get("outputs")
        if asked is not None:
            if not isinstance(asked, list) or not all(isinstance(o, dict) and "name" in o for o in asked):
                raise InvalidInput('outputs: expected a list like [{"name": "' + out_name + '"}]')
            unknown = [str(o["name"]) for o in asked if o["name"] != out_name]
            if unknown:
                raise InvalidInput(f"outputs: {unknown[0]!r} is not an output of {deployment} (it has {out_name!r})")
        request_id = body.get("id") if isinstance(body.get("id"), str) else None
        result = await predicted(rows, key_of(request, body), request_id, arm_name=arm_name)
        preds = result["predictions"]
        shape = [len(preds)] + ([len(preds[0])] if preds and isinstance(preds[0], list) else [])
        flat = [v for p in preds for v in p] if len(shape) == 2 else preds
        payload = {"model_name": deployment, "model_version": result["model"], "id": result["request_id"],
                   "parameters": {"arm": result["arm"], "revision": result["revision"]},
                   "outputs": [{"name": out_name, "shape": shape, "datatype": oip.output_datatype(flat), "data": flat}]}
        if oip.wants_binary(body):
            content, header_length = oip.encode_binary(payload)
            return Response(content, media_type="application/octet-stream", headers={
                **version_headers(result), "Inference-Header-Content-Length": str(header_length)})
        return served(result, payload)

    @guarded
    async def feedback(request: Request) -> Response:
        await authorize(request, "deployment.invoke")
        body = await body_of(request)
        items = body if isinstance(body, list) else body.get("feedback", [body]) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise InvalidInput("body: expected {request_id, label} or a list of them")
        return JSONResponse(gateway.feedback(items))

    @guarded
    async def business(request: Request) -> Response:
        await authorize(request, "deployment.invoke")
        body = await body_of(request)
        if not isinstance(body, dict):
            raise InvalidInput("body: expected {version, metric, values}")
        values = body.get("values", [body["value"]] if "value" in body else None)
        if not isinstance(body.get("version"), str) or not isinstance(body.get("metric"), str):
            raise InvalidInput("version and metric: expected strings (an arm or NAME@VERSION, and a metric name)")
        if not isinstance(values, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise InvalidInput("values: expected a list of numbers")
        return JSONResponse({"accepted": gateway.business(body["version"], body["metric"], [float(v) for v in values])})

    async def live_probe(_request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready_probe(_request: Request) -> Response:
        state = gateway.readiness()
        return JSONResponse({"ready": state["ready"]}, status_code=200 if state["ready"] else 503)

    @guarded
    async def server_metadata(request: Request) -> Response:
        await authorize(request, "deployment.read")
        return JSONResponse({"name": "modelkeep-gateway", "version": __version__,
                             "extensions": ["binary_tensor_data", "modelkeep-routing"]})

    @guarded
    async def model_metadata(request: Request) -> Response:
        await authorize(request, "deployment.read")
        check_name(request)
        live = gateway.current()
        arm = live_arm(request)
        signature = (live.spec.arm(arm or live.spec.stable).signature or {})
        def tensors(cols: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{"name": c.get("name"), "datatype": "FP64" if c.get("type") in ("double", "float")
                     else "INT64" if c.get("type") in ("long", "int") else "BYTES", "shape": [-1]} for c in cols]
        outputs = tensors(signature.get("outputs", []))
        if len(outputs) != 1:  # what every answer names its one output
            outputs = [{"name": oip.output_name(signature), "datatype": "FP64", "shape": [-1]}]
        versions = [live.spec.arm(arm).model] if arm else [a.model for a in live.spec.arms]
        return JSONResponse({"name": deployment, "versions": versions, "platform": "modelkeep",
                             "inputs": tensors(signature.get("inputs", [])), "outputs": outputs,
                             "parameters": {"strategy": live.spec.strategy, "revision": live.revision,
                                            "traffic": live.router.share()}})

    @guarded
    async def model_ready(request: Request) -> Response:
        await authorize(request, "deployment.read")
        check_name(request)
        arm = live_arm(request)
        state = gateway.readiness()
        ready = arm in gateway.current().arms if arm else state["ready"]
        return JSONResponse({"name": deployment, "ready": ready}, status_code=200 if ready else 503)

    @guarded
    async def status(request: Request) -> Response:
        await authorize(request, "deployment.read")
        return JSONResponse({**gateway.readiness(), "analysis": gateway.last_report})

    @guarded
    async def metrics(request: Request) -> Response:
        await authorize(request, "deployment.read")
        return Response(gateway.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/predict", predict, methods=["POST"]),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
        Route("/feedback", feedback, methods=["POST"]),
        Route("/business", business, methods=["POST"]),
        Route("/v2/health/live", live_probe, methods=["GET"]),
        Route("/v2/health/ready", ready_probe, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/models/{name}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", model_ready, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        worker.shutdown(wait=False, cancel_futures=True)
        if on_shutdown is not None:
            on_shutdown()

    async def not_routed(request: Request, exc: Exception) -> Response:  # unknown route or method: JSON too
        status = getattr(exc, "status_code", 404)
        detail = getattr(exc, "detail", "not found")
        return JSONResponse({"error": f"{request.method} {request.url.path}: {detail}"}, status_code=status,
                            headers=getattr(exc, "headers", None))

    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_routed, 405: not_routed})
