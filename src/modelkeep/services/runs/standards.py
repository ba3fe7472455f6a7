"""Exporting a model version's lineage in standard formats (OpenLineage: :mod:`.openlineage`).

* **CycloneDX 1.6 ML-BOM**: the model version as a ``machine-learning-model`` component with a
  model card (approach, task, architecture family, datasets, inputs and outputs, performance
  metrics, business context as considerations), its training datasets as ``data`` components,
  components of a composite as nested models, and the dependency graph. The ML fields are
  written here by hand (the library's model lags the 1.6 schema); the document is checked
  against the official 1.6 JSON schema shipped with cyclonedx-python-lib.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from modelkeep.about import __version__
from modelkeep.errors import InvalidInput
from modelkeep.services.interface import Connection
from modelkeep.services.models.views import VersionView


def _run_uuid(version: VersionView) -> str:
    # Stable per version: exporting twice gives the same run id.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelkeep:model:{version.ref}:{version.digest}"))


def _metric_rows(version: VersionView) -> list[dict[str, Any]]:
    rows = []
    for label, value in sorted(version.metrics.items()):
        key, _, scope = label.partition("[")
        row: dict[str, Any] = {"type": key, "value": f"{value:.10g}"}
        if scope:
            row["slice"] = scope.rstrip("]")
        rows.append(row)
    return rows


def _bom_ref(prefix: str, ref: str) -> str:
    return f"{prefix}:{ref}"


def cyclonedx_bom(ws: Connection, ref: str) -> dict[str, Any]:
    version = ws.registry.get(ref)
    metadata = version.metadata or {}
    business = metadata.get("business", {})
    model_ref = _bom_ref("model", version.ref)
    datasets = []
    for data_ref in version.data:
        view = ws.datasets.get(data_ref)
        datasets.append({
            "type": "data",
            "bom-ref": _bom_ref("dataset", view.ref),
            "name": view.name,
            "version": str(view.number),
            "hashes": [{"alg": "BLAKE3", "content": view.digest}],
            "data": [{
                "type": "dataset",
                "name": view.ref,
                "description": view.message or f"{view.files} files, {view.bytes} bytes",
                "contents": {"properties": [{"name": "modelkeep:digest", "value": view.digest}]},
            }],
        })
    model_parameters: dict[str, Any] = {
        "datasets": [{"ref": _bom_ref("dataset", d)} for d in version.data],
    }
    if metadata.get("task"):
        model_parameters["task"] = metadata["task"]
    family = metadata.get("architecture") or version.tags.get("architecture")
    if family:
        model_parameters["architectureFamily"] = family
    if version.params:
        model_parameters["approach"] = {"type": "supervised"}
    if version.signature:
        model_parameters["inputs"] = [{"format": c.get("type", "unknown")} for c in version.signature.get("inputs", [])]
        model_parameters["outputs"] = [{"format": c.get("type", "unknown")} for c in version.signature.get("outputs", [])]
    card: dict[str, Any] = {"modelParameters": model_parameters}
    if version.metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": _metric_rows(version)}
    considerations: dict[str, Any] = {}
    if business.get("purpose"):
        considerations["useCases"] = [business["purpose"]]
    if business.get("owner"):
        considerations["users"] = [business["owner"]]
    if business.get("decision_rationale"):
        considerations["technicalLimitations"] = [business["decision_rationale"]]
    if considerations:
        card["considerations"] = considerations
    model: dict[str, Any] = {
        "type": "machine-learning-model",
        "bom-ref": model_ref,
        "name": version.name,
        "version": version.version,
        "description": version.description or f"{version.bump} bump: {'; '.join(version.reasons)}",
        "properties": [
            {"name": "modelkeep:bump", "value": version.bump},
            *[{"name": f"modelkeep:param:{k}", "value": v} for k, v in sorted(version.params.items())],
            *[{"name": "modelkeep:alias", "value": a} for a in version.aliases],
        ],
        "modelCard": card,
    }
    if version.digest:
        model["hashes"] = [{"alg": "BLAKE3", "content": version.digest}]
        files = ws.store.sha256_of(version.artifact_kind, version.digest)
        if version.artifact_kind == "file" and files:
            model["hashes"].append({"alg": "SHA-256", "content": files[0][1]})
        elif files:  # a folder: each file with its SHA-256, checkable by any tool
            model["components"] = [{"type": "file", "name": path, "hashes": [{"alg": "SHA-256", "content": sha}]}
                                   for path, sha in files]
    components = [model, *datasets]
    depends = [_bom_ref("dataset", d) for d in version.data]
    dependencies = [{"ref": d["bom-ref"], "dependsOn": []} for d in datasets]
    for component_ref in version.components:
        part = ws.registry.get(component_ref)
        part_ref = _bom_ref("model", part.ref)
        components.append({"type": "machine-learning-model", "bom-ref": part_ref, "name": part.name,
                           "version": part.version, "hashes": [{"alg": "BLAKE3", "content": part.digest}] if part.digest else []})
        dependencies.append({"ref": part_ref, "dependsOn": []})
        depends.append(part_ref)
    dependencies.insert(0, {"ref": model_ref, "dependsOn": depends})
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{_run_uuid(version)}",
        "version": 1,
        "metadata": {
            "timestamp": version.created_at.isoformat(timespec="seconds") + "Z",
            "tools": {"components": [{"type": "application", "name": "modelkeep", "version": __version__}]},
            "component": {"type": "machine-learning-model", "bom-ref": f"{model_ref}#root", "name": version.name,
                          "version": version.version},
        },
        "components": components,
        "dependencies": dependencies,
    }


def validate_cyclonedx(document: dict[str, Any]) -> None:
    """Check a BOM against the official CycloneDX 1.6 JSON schema; InvalidInput if it fails."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    if error is not None:
        raise InvalidInput(f"the CycloneDX document does not validate: {error}")
