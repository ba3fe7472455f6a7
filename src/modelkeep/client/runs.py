"""The remote :class:`~modelkeep.services.interface.RunsService`: runs over HTTP.

The environment and git state are captured in the training process (``run_handle.start_run``),
as locally; a run's artifacts go into the server's store first and are then named by digest.
Metric points are sent in batches (every ``FLUSH_S`` seconds or ``FLUSH_ROWS`` points, and before
any other call on the run), so a training loop logging every step does not wait on the network
each time; a bad value is still refused at once, here, before it is buffered.
"""

from __future__ import annotations

import atexit
import builtins
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelkeep.client.http import Transport
from modelkeep.errors import InvalidInput
from modelkeep.services.models.views import RunView

if TYPE_CHECKING:  # the interface's request models cost 0.15 s to import: listing runs needs none of them
    from datetime import datetime

    from modelkeep.services.interface import ArtifactRef, RegistryService, RunCreate
    from modelkeep.services.runs.run_handle import ActiveRun
    from modelkeep.store.artifacts import ArtifactStore


FLUSH_S = 1.0
FLUSH_ROWS = 1000
HISTORY_ROWS = 10_000  # points of a history per request (the server takes as many at once)
_LIVE: weakref.WeakSet[RemoteRuns] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for runs in list(_LIVE):
        runs._flush_at_exit()


class RemoteRuns:
    def __init__(self, transport: Transport, registry: RegistryService, store: Any, datasets: Any = None) -> None:
        """``datasets``: the RemoteDatasets steps read and write dataset versions through, or a
        callable giving it on first use (listing runs then never imports the data client)."""
        self._pending: dict[int, builtins.list[dict[str, Any]]] = {}
        self._last_flush = time.monotonic()
        _LIVE.add(self)  # a script that never ends its run still sends its last points (at exit)
        self.transport = transport
        self.registry = registry
        self._store = store  # a callable giving the ArtifactStore (opened on first use)
        self._datasets = datasets

    @property
    def datasets(self) -> Any:
        if callable(self._datasets):
            self._datasets = self._datasets()
        return self._datasets

    @property
    def store(self) -> ArtifactStore:
        return self._store()  # type: ignore[no-any-return]

    def _run(self, run_id: int, what: str = "") -> str:
        self.flush(run_id)  # metric points go before anything else said about the run
        return f"/api/v1/runs/{int(run_id)}{what}"

    def _flush_at_exit(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # the process is ending: say what was lost, do not raise
            import sys

            sys.stderr.write(f"modelkeep: could not send the last metric points: {exc}\n")

    def flush(self, run_id: int | None = None) -> None:
        """Send the buffered metric points (of one run, or of all)."""
        for rid in [run_id] if run_id is not None else builtins.list(self._pending):
            points = self._pending.pop(rid, None) if rid is not None else None
            if points:
                self.transport.call("POST", f"/api/v1/runs/{int(rid)}/metrics/batch", json={"points": points})
        self._last_flush = time.monotonic()

    def start(self, name: str | None = None, project: str = "default", command: builtins.list[str] | None = None) -> ActiveRun:
        from modelkeep.services.runs.run_handle import start_run

        return start_run(self, self.store, self.registry, self.datasets, name, project, command)

    def create(self, request: RunCreate) -> int:
        return int(self.transport.call("POST", "/api/v1/runs", json=request.model_dump(mode="json"))["id"])

    def attach(self, run_id: int, project: str) -> None:
        self.transport.call("POST", self._run(run_id, "/attach"), json={"project": project})

    def get(self, run_id: int, *, outputs: bool = True, history: bool = True) -> RunView:
        params = {"outputs": outputs} | ({} if history else {"history": False})
        return RunView.from_dict(self.transport.call("GET", self._run(run_id), params=params))

    def list(self, project: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, **({"project": project} if project else {})}
        return list(self.transport.call("GET", "/api/v1/runs", params=params))

    def delete(self, run_id: int) -> None:
        self.transport.call("DELETE", self._run(run_id))

    def end(self, run_id: int, status: str, exit_code: int | None = None) -> None:
        self.transport.call("POST", self._run(run_id, "/end"), json={"status": status, "exit_code": exit_code})

    def log_params(self, run_id: int, params: Mapping[str, Any]) -> None:
        self.transport.call("POST", self._run(run_id, "/params"), json={"params": dict(params)})

    def log_metrics(self, run_id: int, metrics: Mapping[str, float], step: int) -> None:
        from modelkeep.services.models.inputs import check_key, param_number

        points = self._pending.setdefault(int(run_id), [])
        for key, value in metrics.items():
            number = param_number(str(value))
            if number is None:
                raise InvalidInput(f"metric {key!r} must be a finite number, got {value!r}")
            points.append({"key": check_key(key, "metric"), "value": number, "step": int(step)})
        if len(points) >= FLUSH_ROWS or time.monotonic() - self._last_flush >= FLUSH_S:
            self.flush(int(run_id))

    def log_history(self, run_id: int, points: builtins.list[tuple[str, float, int, datetime]]) -> None:
        from modelkeep.services.clock import ms

        for start in range(0, len(points), HISTORY_ROWS):
            body = [{"key": key, "value": value, "step": step, "timestamp": ms(when)}
                    for key, value, step, when in points[start:start + HISTORY_ROWS]]
            self.transport.call("POST", self._run(run_id, "/metrics/history"), json={"points": body})

    def set_tags(self, run_id: int, tags: Mapping[str, Any]) -> None:
        self.transport.call("POST", self._run(run_id, "/tags"), json={"tags": {k: str(v) for k, v in tags.items()}})

    def use_dataset(self, run_id: int, ref: str) -> str:
        return str(self.transport.call("POST", self._run(run_id, "/inputs"), json={"ref": ref})["ref"])

    def set_seeds(self, run_id: int, seeds: dict[str, Any]) -> None:
        self.transport.call("POST", self._run(run_id, "/seeds"), json={"seeds": seeds})

    def add_warning(self, run_id: int, message: str) -> None:
        self.transport.call("POST", self._run(run_id, "/warnings"), json={"message": message})

    def log_artifact(self, run_id: int, name: str, artifact: ArtifactRef) -> dict[str, Any]:
        body = {"name": name, "artifact": artifact.model_dump()}
        return dict(self.transport.call("POST", self._run(run_id, "/artifacts"), json=body))

    def link_output(self, run_id: int, version_id: int) -> None:
        self.transport.call("POST", self._run(run_id, "/outputs"), json={"version_id": version_id})

    def link_dataset(self, run_id: int, ref: str, inputs: builtins.list[str]) -> None:
        self.transport.call("POST", self._run(run_id, "/outputs"), json={"dataset": ref, "inputs": inputs})
