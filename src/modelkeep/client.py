"""The remote transport: the SDK's registry operations over HTTP to ``mk server``.

Selected by ``MODELKEEP_URL`` (and ``MODELKEEP_TOKEN``); errors come back as the same exception
classes the in-process registry raises, so code works unchanged against either.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from modelkeep.errors import InvalidInput, ModelKeepError, error_from_body
from modelkeep.services.search import SearchPage
from modelkeep.services.views import ModelSummary, VersionView
from modelkeep.store.repository import Repository


def error_from_response(status: int, body: Any) -> ModelKeepError:
    return error_from_body(status, body)


class RemoteRegistry:
    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ModelKeepError(f"cannot reach the modelkeep server at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"message": response.text}
            raise error_from_response(response.status_code, body)
        return response.json() if response.content else None

    @staticmethod
    def _split(ref: str) -> tuple[str, str]:
        from modelkeep.services.inputs import split_ref

        return split_ref(ref)

    def get(self, ref: str) -> VersionView:
        name, spec = self._split(ref)
        return VersionView.from_dict(self._call("GET", f"/api/v1/models/{name}/versions/{spec}"))

    def list_versions(self, name: str) -> list[VersionView]:
        return [VersionView.from_dict(d) for d in self._call("GET", f"/api/v1/models/{name}/versions")]

    def list_models(self) -> list[ModelSummary]:
        out = []
        for doc in self._call("GET", "/api/v1/models"):
            created = doc.get("created_at")
            out.append(ModelSummary(doc["name"], doc["description"], doc["versions"], doc["latest"], doc["aliases"],
                                    datetime.fromisoformat(created.rstrip("Z")) if created else None))
        return out

    def register(self, name: str, path: Any = None, **options: Any) -> VersionView:
        """Register a version; an artifact file is streamed to the server first."""
        if path is not None:
            file = Path(path)
            if not file.is_file():
                raise InvalidInput(f"{file} is not a file: through the server, artifacts are single files "
                                   "(push folders to the shared store)")
            with open(file, "rb") as handle:
                options["artifact"] = self._call("POST", "/api/v1/artifacts", params={"filename": file.name},
                                                 content=iter(lambda: handle.read(1 << 20), b""),
                                                 headers={"Content-Type": "application/octet-stream"})
        return VersionView.from_dict(self._call("POST", f"/api/v1/models/{name}/versions", json=options))

    def direct_store(self) -> Repository:
        """The server's S3 store, reached directly through presigned URLs."""
        from modelkeep.store.backends.presigned import PresignedBackend

        backend = PresignedBackend(
            f"{self.url} (presigned)",
            lambda keys, method: self._call("POST", "/api/v1/store/presign", json={"keys": keys, "method": method})["urls"],
            lambda prefix: self._call("GET", "/api/v1/store/keys", params={"prefix": prefix}),
        )
        return Repository.open(backend)

    def register_direct(self, name: str, path: Path, **options: Any) -> VersionView:
        """Like :meth:`register`, but the file's chunks go straight to the S3 store (only missing
        ones), and the server only records the version."""
        from modelkeep.store.artifacts import ArtifactStore

        stored = ArtifactStore(self.direct_store()).put_path(Path(path))
        options["artifact"] = {"kind": stored.kind, "digest": stored.digest}
        return VersionView.from_dict(self._call("POST", f"/api/v1/models/{name}/versions", json=options))

    def download_direct(self, ref: str, dest: Path) -> Path:
        """Fetch a version's artifact straight from the S3 store (every chunk verified here)."""
        from modelkeep.store.artifacts import ArtifactStore

        view = self.get(ref)
        if not view.digest or view.artifact_kind not in ("file", "tree"):
            raise InvalidInput(f"{view.ref} has no file or folder artifact")
        return ArtifactStore(self.direct_store()).materialize(view.artifact_kind, view.digest, dest)

    def download(self, ref: str, dest: Path) -> Path:
        """Stream a version's artifact file to ``dest`` (written via a temporary name)."""
        name, spec = self._split(ref)
        tmp = dest.with_name(dest.name + ".partial")
        with self.http.stream("GET", f"/api/v1/models/{name}/versions/{spec}/artifact") as response:
            if response.status_code >= 400:
                response.read()
                try:
                    body = response.json()
                except ValueError:
                    body = {"message": response.text}
                raise error_from_response(response.status_code, body)
            with open(tmp, "wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        tmp.replace(dest)
        return dest

    def set_alias(self, ref: str, alias: str) -> VersionView:
        name, spec = self._split(ref)
        self._call("PUT", f"/api/v1/models/{name}/aliases/{alias}", json={"version": spec})
        return self.get(f"{name}@{alias}")

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", f"/api/v1/models/{name}/aliases/{alias}")

    def delete_version(self, ref: str) -> VersionView:
        view = self.get(ref)
        self._call("DELETE", f"/api/v1/models/{view.name}/versions/{view.version}")
        return view

    def withdraw(self, request_id: int) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/promotions/{request_id}/withdraw"))

    def audit_verify(self, checkpoints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        if checkpoints is not None:
            return dict(self._call("POST", "/api/v1/audit/verify", json={"checkpoints": checkpoints}))
        return dict(self._call("GET", "/api/v1/audit/verify"))

    def audit_checkpoint(self) -> dict[str, Any]:
        return dict(self._call("POST", "/api/v1/audit/checkpoints"))

    def search(self, filter_text: str | None = None, *, order_by: str | None = None, limit: int = 50,
               cursor: str | None = None) -> SearchPage:
        params = {"filter": filter_text or "", "limit": limit}
        if order_by:
            params["order_by"] = order_by
        if cursor:
            params["cursor"] = cursor
        doc = self._call("GET", "/api/v1/search", params=params)
        return SearchPage([VersionView.from_dict(d) for d in doc["results"]], doc["next_cursor"])

    def diff(self, a: str, b: str) -> dict[str, Any]:
        return dict(self._call("GET", "/api/v1/diff", params={"a": a, "b": b}))

    def request(self, ref: str, alias: str, justification: str, ticket: str = "") -> dict[str, Any]:
        """A promotion request (the same call as the local Promotions.request)."""
        return dict(self._call("POST", "/api/v1/promotions",
                               json={"ref": ref, "alias": alias, "justification": justification, "ticket": ticket}))

    def review(self, request_id: int, decision: str, comment: str = "") -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/promotions/{request_id}/reviews",
                               json={"decision": decision, "comment": comment}))

    def rollback(self, name: str, alias: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/api/v1/models/{name}/aliases/{alias}/rollback"))

    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self._call("GET", "/api/v1/audit", params={k: v for k, v in filters.items() if v is not None}))

    # --- deployments (the same calls as the CLI's local adapter) ---------------------------

    def deployment_create(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/deployments/{name}", json=body)  # type: ignore[no-any-return]

    def deployment_update(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", f"/api/v1/deployments/{name}", json=body)  # type: ignore[no-any-return]

    def deployment_rollback(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/deployments/{name}/rollback", json=body)  # type: ignore[no-any-return]

    def deployment_switch(self, name: str) -> dict[str, Any]:
        return self._call("POST", f"/api/v1/deployments/{name}/switch")  # type: ignore[no-any-return]

    def deployment_status(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/api/v1/deployments/{name}")  # type: ignore[no-any-return]

    def deployment_history(self, name: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/api/v1/deployments/{name}/history")  # type: ignore[no-any-return]

    def deployment_list(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/v1/deployments")  # type: ignore[no-any-return]
