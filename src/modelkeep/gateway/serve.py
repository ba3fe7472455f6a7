"""Starting gateways: one process, or ``--workers N`` processes sharing one port.

Each worker is a full gateway (its own loaded versions, windows and control loop) with its own
id (``<id>/<pid>``), exactly like replicas on several hosts: they route alike because routing is
a pure function of the deployment and the key, and they agree on changes because every change is
a compare-and-set on the revision. Workers get their settings from ``MODELKEEP_SERVE`` (JSON),
because uvicorn starts them from an import string.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from modelkeep.services.interface import DeploymentControl
from modelkeep.services.models.views import VersionView

ENV = "MODELKEEP_SERVE"


@dataclass
class ServeConfig:
    name: str
    trust: list[str] = field(default_factory=list)
    gateway_id: str | None = None
    window: float | None = None
    allow_pickle: bool = False
    webhooks: bool = True
    log: str | None = None
    worker: bool = False  # one of several: suffix the id and the prediction log with the pid
    pin: str | None = None  # serve this exact version alone; no routing, rollout or rollback (Kubernetes decides)


def build(config: ServeConfig, progress: Any = None) -> tuple[Any, Starlette]:
    """Connect (to the repository, or to the server ``MODELKEEP_URL`` names), start the gateway,
    and return it with its HTTP app. ``progress`` hears about the bytes of the first load (later
    reloads happen in the background)."""
    from modelkeep.client.connect import connect
    from modelkeep.gateway.app import create_gateway_app
    from modelkeep.gateway.predlog import PredictionLog
    from modelkeep.gateway.runtime import Gateway
    from modelkeep.services.deploy.predictor import ModelLoader

    connection = connect()
    support = connection.gateway()
    loader = ModelLoader(PinnedVersions(support.control, config.name), connection.store, connection.model_cache,
                         trusted=config.trust,
                         allow_pickle=config.allow_pickle, progress=progress)
    dispatch = support.dispatch if config.webhooks else None
    gateway_id = config.gateway_id or f"{socket.gethostname()}:{os.getpid()}"
    log = Path(config.log) if config.log else None
    if config.worker:
        gateway_id = f"{gateway_id}/{os.getpid()}" if config.gateway_id else gateway_id
        log = log.with_name(f"{log.name}.{os.getpid()}") if log else None
    gateway = Gateway(support.control, loader, config.name, gateway_id=gateway_id, window_s=config.window,
                      dispatch=dispatch, prediction_log=PredictionLog(log) if log else None, pin=config.pin)
    gateway.start()
    loader.progress = None

    def stop() -> None:
        gateway.stop()
        connection.close()

    return gateway, create_gateway_app(gateway, support.tokens, on_shutdown=stop)


class PinnedVersions:
    """The versions a gateway may load: those its deployment pins (``DeploymentControl.pinned_version``)."""

    def __init__(self, control: DeploymentControl, deployment: str) -> None:
        self.control = control
        self.deployment = deployment

    def get(self, ref: str) -> VersionView:
        return self.control.pinned_version(self.deployment, ref)


def app_from_env() -> Starlette:
    """The uvicorn factory for ``--workers``: settings from ``MODELKEEP_SERVE``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = ServeConfig(**json.loads(os.environ[ENV]))
    return build(config)[1]


def export(config: ServeConfig) -> None:
    os.environ[ENV] = json.dumps(asdict(config))
