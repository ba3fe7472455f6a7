"""What ``mk server`` tells its operators: one access-log line per request, and Prometheus metrics.

Metrics are counted per route template (``/api/v1/models/{name}/versions``), never per raw path,
so a scrape stays small whatever names clients send. With several worker processes
(``mk server --workers N``) every worker writes into prometheus_client's multiprocess folder
(``PROMETHEUS_MULTIPROC_DIR``, set by ``mk server``) and ``/metrics`` merges them: one
consistent view whichever worker answers the scrape, counters never going backwards.
"""

import logging
import os
import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

ACCESS = logging.getLogger("modelkeep.access")
_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("modelkeep_server_requests", "HTTP requests answered", ["method", "route", "status"],
                   registry=_REGISTRY)
LATENCY = Histogram("modelkeep_server_request_seconds", "Time to answer a request", ["method", "route"],
                    registry=_REGISTRY, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def _route_of(scope: Any) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", None) or "(unmatched)")


def observe(app: FastAPI) -> None:
    """Add the access log and the metrics middleware to ``app``."""
    from modelkeep.api.middleware import AccessLog

    def record(scope: Any, status: int, elapsed: float) -> None:
        route = _route_of(scope)
        REQUESTS.labels(scope["method"], route, str(status)).inc()
        LATENCY.labels(scope["method"], route).observe(elapsed)
        client = scope["client"][0] if scope.get("client") else "-"
        ACCESS.info('%s "%s %s" %d %.1fms', client, scope["method"], scope["path"], status, elapsed * 1000)

    app.add_middleware(AccessLog, record=record, clock=time.perf_counter)


def metrics_response() -> Response:
    """The metrics of this process, or of every worker (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return Response(generate_latest(merged), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(_REGISTRY), media_type=CONTENT_TYPE_LATEST)
