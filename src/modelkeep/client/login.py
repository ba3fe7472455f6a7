"""``mk login``: the server URL and token kept in the user's config folder, readable by the user only.

``credentials.json`` in the platform's config folder (``MODELKEEP_CONFIG_DIR`` overrides) maps
server URLs to tokens and remembers the last URL logged in to. It is written through a temporary
file created with mode 0600 and renamed, so a token is never readable by others, not even for a
moment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from modelkeep.config import config_dir
from modelkeep.errors import InvalidInput


def _path() -> Path:
    return config_dir() / "credentials.json"


def _read() -> dict[str, Any]:
    path = _path()
    if not path.exists():
        return {"servers": {}}
    try:
        doc = json.loads(path.read_text())
    except ValueError:
        raise InvalidInput(f"{path} is not valid JSON; fix it or remove it and log in again") from None
    return doc if isinstance(doc, dict) and isinstance(doc.get("servers"), dict) else {"servers": {}}


def _write(doc: dict[str, Any]) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(doc, handle, indent=2)
    os.replace(tmp, path)


def normalize(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"server URL {url!r}: give http://HOST:PORT or https://HOST")
    return url


def save(url: str, token: str) -> Path:
    doc = _read()
    doc["servers"][normalize(url)] = {"token": token}
    doc["current"] = normalize(url)
    _write(doc)
    return _path()


def forget(url: str | None) -> str | None:
    doc = _read()
    target = normalize(url) if url else doc.get("current")
    if not target or target not in doc["servers"]:
        return None
    del doc["servers"][target]
    if doc.get("current") == target:
        doc.pop("current", None)
    _write(doc)
    return str(target)


def token_for(url: str) -> str | None:
    entry = _read()["servers"].get(url.strip().rstrip("/"))
    return str(entry["token"]) if isinstance(entry, dict) and entry.get("token") else None


def current_url() -> str | None:
    current = _read().get("current")
    return str(current) if current else None
