"""Checks manifests (a JSON array on stdin) against KServe's InferenceService schema, as the
kserve SDK's models (generated from the CRD's OpenAPI) hold it; run in the kserve client venv.

Each document is built into the SDK's model objects field by field: a field the schema does not
have, a value of the wrong type, a missing required field or a value outside an enum is an error.
Prints {"validated": [kind/name...], "errors": ["kind/name at path: message"...]}; exits 1 when
any is invalid."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import kserve.models as kserve_models
import kubernetes.client.models as k8s

SCALARS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
                                        "datetime": (str,), "date": (str,), "bytes": (str,)}


class Invalid(Exception):
    pass


def build(value: Any, type_: str, path: str) -> Any:
    if value is None:
        return None
    if match := re.fullmatch(r"[lL]ist\[(.+)\]", type_):  # kserve's models write list[X], kubernetes' List[X]
        if not isinstance(value, list):
            raise Invalid(f"{path}: expected a list, got {type(value).__name__}")
        return [build(item, match.group(1), f"{path}[{i}]") for i, item in enumerate(value)]
    if match := re.fullmatch(r"dict\((\w+), (.+)\)|Dict\[(\w+), (.+)\]", type_):
        if not isinstance(value, dict):
            raise Invalid(f"{path}: expected a mapping, got {type(value).__name__}")
        inner = match.group(2) or match.group(4)
        return {key: build(item, inner, f"{path}.{key}") for key, item in value.items()}
    if type_ == "object":
        return value
    if type_ in SCALARS:
        if not isinstance(value, SCALARS[type_]) or (type_ != "bool" and isinstance(value, bool)):
            raise Invalid(f"{path}: expected {type_}, got {type(value).__name__} {value!r}")
        return value
    model = getattr(kserve_models, type_, None) or getattr(k8s, type_, None)
    if model is None:
        raise Invalid(f"{path}: the schema names a type {type_} that neither SDK has")
    if not isinstance(value, dict):
        raise Invalid(f"{path}: expected an object ({type_}), got {type(value).__name__}")
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    unknown = sorted(set(value) - set(by_json))
    if unknown:
        raise Invalid(f"{path}: {type_} has no field {', '.join(unknown)}")
    fields = {by_json[key]: build(item, model.openapi_types[by_json[key]], f"{path}.{key}") for key, item in value.items()}
    try:
        return model(**fields)  # the generated setters check required fields and enums
    except (ValueError, TypeError) as exc:
        raise Invalid(f"{path}: {exc}") from None


def main() -> int:
    out: dict[str, list[str]] = {"validated": [], "errors": []}
    for doc in json.load(sys.stdin):
        where = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        if doc.get("apiVersion") != "serving.kserve.io/v1beta1" or doc.get("kind") != "InferenceService":
            out["errors"].append(f"{where}: not a serving.kserve.io/v1beta1 InferenceService")
            continue
        try:
            build(doc, "V1beta1InferenceService", where)
            out["validated"].append(where)
        except Invalid as exc:
            out["errors"].append(str(exc))
    print(json.dumps(out))
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
