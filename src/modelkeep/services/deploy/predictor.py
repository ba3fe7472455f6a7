"""A pinned arm as a callable: its version (and preprocessing version) loaded through the flavors.

Rows arrive as JSON (lists in signature order, or objects keyed by input name); they are checked
against the arm's signature and turned into the array the framework expects. Bad input raises
:class:`InvalidInput` naming the row and field; anything the model itself raises is the model's
fault and surfaces as :class:`ModelFailure`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from modelkeep.errors import InvalidInput, ModelKeepError
from modelkeep.flavors import describe, load_model
from modelkeep.services.deploy.spec import Pinned
from modelkeep.services.model_files import cached_files
from modelkeep.services.models.views import VersionView
from modelkeep.store.artifacts import ArtifactStore

NUMERIC = {"double", "float", "long", "int", "integer", "boolean", "bool", "float32", "float64", "int32", "int64"}


class ModelFailure(ModelKeepError):
    """The model raised while predicting (a 5xx for that request, counted against its version)."""

    exit_code = 1

    def __init__(self, message: str, *, arm: str, model: str) -> None:
        super().__init__(message)
        self.arm = arm  # the response names the arm and version that failed
        self.model = model


def rows_to_array(rows: Any, inputs: list[dict[str, Any]] | None, *, where: str = "inputs") -> np.ndarray:
    """Check ``rows`` against the signature ``inputs`` and build the feature array."""
    if not isinstance(rows, list) or not rows:
        raise InvalidInput(f"{where}: expected a non-empty list of rows")
    names = [str(c.get("name")) for c in inputs] if inputs else None
    if isinstance(rows[0], dict):
        if names is None:
            raise InvalidInput(f"{where}: rows as objects need the model's signature; send lists of values")
        table = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise InvalidInput(f"{where}[{i}]: expected an object like {where}[0]")
            missing = [n for n in names if n not in row]
            if missing:
                raise InvalidInput(f"{where}[{i}]: missing field {missing[0]!r} (fields: {', '.join(names)})")
            table.append([row[n] for n in names])
        rows = table
    width = len(names) if names else None
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise InvalidInput(f"{where}[{i}]: expected a list of {width or 'feature'} values")
        if width is not None and len(row) != width:
            raise InvalidInput(f"{where}[{i}]: expected {width} values ({', '.join(names or [])}), got {len(row)}")
    numeric = not inputs or all(str(c.get("type")) in NUMERIC for c in inputs)
    if not numeric:
        return np.asarray(rows, dtype=object)
    try:
        array = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    field = names[j] if names else str(j)
                    raise InvalidInput(f"{where}[{i}].{field}: expected a number, got {value!r}") from None
        raise InvalidInput(f"{where}: every row must be a flat list of numbers") from None
    if array.ndim != 2:
        raise InvalidInput(f"{where}: expected rows of plain values, got an array of shape {list(array.shape)}")
    bad = ~np.isfinite(array)  # null, NaN, Infinity, 1e309: the caller's fault, never the model's
    if bad.any():
        # a column whose signature says "missing": true may be null/NaN (never infinite)
        missing_ok = np.array([c.get("missing") is True for c in inputs] if inputs else [False] * array.shape[1])
        bad &= ~(missing_ok[np.newaxis, :] & np.isnan(array))
        if bad.any():
            i, j = (int(k) for k in np.argwhere(bad)[0])
            field = names[j] if names else str(j)
            raise InvalidInput(f"{where}[{i}].{field}: {rows[i][j]!r} is not a finite number")
    return array


def to_json(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    return list(values) if not isinstance(values, list) else values


class LoadedModel:
    """One loaded version with the call that predicts (or transforms) with it."""

    def __init__(self, obj: Any, flavor: str, *, preprocessing: bool = False) -> None:
        self.obj = obj
        self.flavor = flavor
        self.inputs: list[dict[str, Any]] | None = None  # what the model itself declares it takes (MLflow's)
        if flavor == "onnx":
            import onnxruntime  # type: ignore[import-untyped]

            self.session = onnxruntime.InferenceSession(obj.SerializeToString(), providers=["CPUExecutionProvider"])
            first = self.session.get_inputs()[0]
            self.input_name = first.name
            self.dtype = np.float32 if "float)" in first.type else np.float64 if "double" in first.type else np.int64
            self.call = lambda x: self.session.run(None, {self.input_name: np.asarray(x, dtype=self.dtype)})[0]
        elif flavor == "pytorch":
            import torch

            def call(x: Any) -> Any:
                with torch.no_grad():
                    return obj(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy()

            self.call = call
        elif flavor == "mlflow":  # a PyFuncModel: a column signature takes a DataFrame with its names
            from modelkeep.flavors.mlflow_pyfunc import input_spec

            self.inputs = input_spec(obj)
            columns = [c["name"] for c in self.inputs] if self.inputs else None

            def call_pyfunc(x: Any) -> Any:
                if columns is not None and getattr(x, "ndim", 0) == 2 and x.shape[1] == len(columns):
                    import pandas as pd  # type: ignore[import-untyped]

                    x = pd.DataFrame(x, columns=columns)
                return obj.predict(x)

            self.call = call_pyfunc
        else:
            method = None
            names = ("transform", "predict", "__call__") if preprocessing else ("predict", "__call__")
            for name in names:
                method = getattr(obj, name, None)
                if callable(method):
                    break
            if method is None:
                raise InvalidInput(f"{type(obj).__name__} has none of {', '.join(names)}")
            self.call = method


class ArmPredictor:
    """A pinned arm, loaded: ``predict(array)`` runs preprocessing (if pinned) then the model."""

    def __init__(self, pinned: Pinned, model: LoadedModel, preprocess: LoadedModel | None, load_ms: float) -> None:
        self.pinned = pinned
        self.model = model
        self.preprocess = preprocess
        self.load_ms = load_ms
        first = preprocess or model  # the version's own signature, else what the first model declares
        self.inputs = (pinned.signature or {}).get("inputs") or first.inputs or None
        self.warmup_ms: float | None = None

    def predict(self, array: np.ndarray) -> list[Any]:
        try:
            x = self.preprocess.call(array) if self.preprocess is not None else array
            return to_json(self.model.call(x))
        except ModelKeepError:
            raise
        except Exception as exc:
            raise ModelFailure(f"{self.pinned.model} failed: {type(exc).__name__}: {exc}", arm=self.pinned.name,
                               model=self.pinned.model) from exc

    def warm_up(self, rows: list[Any]) -> None:
        """Predict on ``rows`` (or a row of zeros) before the arm gets traffic; raises if it cannot."""
        width = len(self.inputs) if self.inputs else None
        sample = rows or ([[0.0] * width] if width else [])
        if not sample:
            self.warmup_ms = 0.0
            return
        started = time.perf_counter()
        self.predict(rows_to_array(sample, self.inputs, where="warm-up rows"))
        self.warmup_ms = (time.perf_counter() - started) * 1000


class Progress(Protocol):
    def advance(self, n: int) -> None: ...
    def set_total(self, n: int) -> None: ...


class Versions(Protocol):
    def get(self, ref: str) -> VersionView: ...


class ModelLoader:
    """Materializes pinned versions from the store (cached by digest) and loads them.

    ``progress`` (bytes, with the expected total) is told about every version fetched from the
    store; versions already in the cache cost nothing.
    """

    def __init__(self, registry: Versions, store: ArtifactStore, cache: Path, *, trusted: list[str] | None = None,
                 allow_pickle: bool = False, progress: Progress | None = None) -> None:
        self.registry = registry
        self.store = store
        self.cache = cache
        self.trusted = list(trusted or [])
        self.allow_pickle = allow_pickle
        self.progress = progress
        self._expected = 0

    def _load(self, ref: str, trusted: list[str], *, preprocessing: bool = False) -> LoadedModel:
        version = self.registry.get(ref)
        if not version.digest or not version.artifact_kind:
            raise InvalidInput(f"{version.name}@{version.version} has no model files to serve")
        if self.progress is not None and not (self.cache / version.digest).exists():
            self._expected += version.artifact_size
            self.progress.set_total(self._expected)
        folder = cached_files(self.store, version, self.cache, self.progress.advance if self.progress is not None else None)
        flavor = describe(folder)["flavor"]
        obj = load_model(folder, allow_pickle=self.allow_pickle, trusted=trusted)
        return LoadedModel(obj, flavor, preprocessing=preprocessing)

    def load(self, pinned: Pinned, trusted: list[str]) -> ArmPredictor:
        started = time.perf_counter()
        trust = [*self.trusted, *trusted]
        pre = self._load(pinned.preprocess, trust, preprocessing=True) if pinned.preprocess else None
        model = self._load(pinned.model, trust)
        return ArmPredictor(pinned, model, pre, (time.perf_counter() - started) * 1000)



def validation(spec: Any, arms: dict[str, ArmPredictor], *, metric_check: str = "inconclusive",
               load_errors: list[str] | None = None) -> dict[str, Any]:
    """The validation recorded with a rollback: every serving arm loaded (health), the recorded
    smoke requests through each of them, and the metric check the caller could make."""
    serving = [a for a in spec.arms if a.weight > 0]
    missing = [a.model for a in serving if a.name not in arms]
    smoke: dict[str, Any] = {"requests": 0, "failed": []}
    for arm in serving:
        predictor = arms.get(arm.name)
        if predictor is None:
            continue
        for i, row in enumerate(spec.smoke):
            smoke["requests"] += 1
            try:
                predictor.predict(rows_to_array([row], predictor.inputs))
            except ModelKeepError as exc:
                smoke["failed"].append({"arm": arm.name, "request": i, "error": str(exc)})
    return {"ok": not missing and not smoke["failed"] and metric_check != "fail",
            "health": {"serving": [a.model for a in serving], "not_loaded": load_errors or missing},
            "smoke": smoke, "metric_check": metric_check, "at": time.time()}


def validate(spec: Any, registry: Versions, store: ArtifactStore, cache: Path,
             progress: Progress | None = None) -> dict[str, Any]:
    """Validation outside a gateway (after a manual rollback): every serving arm loads and the
    recorded smoke requests run through it. The live metric check needs traffic, so it is left to
    the gateways (``inconclusive`` here)."""
    loader = ModelLoader(registry, store, cache, progress=progress)
    arms: dict[str, ArmPredictor] = {}
    errors: list[str] = []
    for arm in spec.arms:
        if arm.weight <= 0:
            continue
        try:
            arms[arm.name] = loader.load(arm, spec.trusted)
        except ModelKeepError as exc:
            errors.append(f"{arm.model}: {exc}")
    return validation(spec, arms, load_errors=errors)
