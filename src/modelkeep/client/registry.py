"""The remote :class:`~modelkeep.services.interface.RegistryService`: model versions over HTTP.

Artifacts (files and folders alike) go into the server's store first, chunk by chunk and only the
chunks it lacks (``Connection.store``); the version is then registered naming them by digest,
and the server checks they exist. The request body is the interface's ``RegisterRequest``,
the same model the API validates with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkeep.client.http import Transport
from modelkeep.errors import InvalidInput
from modelkeep.services.models.views import ModelSummary, SearchPage, VersionView

if TYPE_CHECKING:
    from modelkeep.store.artifacts import ArtifactStore
    from modelkeep.store.repository import Repository


def _split(ref: str) -> tuple[str, str]:
    from modelkeep.services.models.inputs import split_ref

    return split_ref(ref)


class RemoteRegistry:
    def __init__(self, url: str, token: str | None, *, transport: Transport | None = None,
                 store: Callable[[], ArtifactStore] | None = None) -> None:
        self.transport = transport or Transport(url, token)
        self.url = self.transport.url
        self._store_factory = store
        self._store: ArtifactStore | None = None

    @property
    def store(self) -> ArtifactStore:
        """The server's store, opened on first use (through the server, or presigned S3)."""
        if self._store is None:
            from modelkeep.store.artifacts import ArtifactStore
            from modelkeep.store.repository import Repository

            self._store = self._store_factory() if self._store_factory else ArtifactStore(Repository.open(self.store_backend()))
        return self._store

    def store_backend(self) -> Any:
        from modelkeep.client.store import ServerStoreBackend

        info = self._call("GET", "/api/v1/store/info")
        return self.direct_store().backend if info.get("presigned") else ServerStoreBackend(self.transport)

    def close(self) -> None:
        self.transport.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.transport.call(method, path, **kwargs)

    # --- reading --------------------------------------------------------------------------

    def get(self, ref: str) -> VersionView:
        name, spec = _split(ref)
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

    def search(self, filter_text: str | None = None, *, order_by: str | None = None, limit: int = 50,
               cursor: str | None = None) -> SearchPage:
        params: dict[str, Any] = {"filter": filter_text or "", "limit": limit}
        if order_by:
            params["order_by"] = order_by
        if cursor:
            params["cursor"] = cursor
        doc = self._call("GET", "/api/v1/search", params=params)
        return SearchPage([VersionView.from_dict(d) for d in doc["results"]], doc["next_cursor"])

    def diff(self, a: str, b: str) -> dict[str, Any]:
        return dict(self._call("GET", "/api/v1/diff", params={"a": a, "b": b}))

    # --- writing --------------------------------------------------------------------------

    def register(
        self,
        name: str,
        path: str | Path | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        data: list[str] | None = None,
        parent: str | None = None,
        bump: str = "auto",
        version: str | None = None,
        experiment: bool = False,
        signature: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        code: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
        description: str = "",
        components: list[str] | None = None,
        composite_config: dict[str, Any] | None = None,
        artifact: dict[str, Any] | None = None,
    ) -> VersionView:
        """Register a version; a file or folder at ``path`` goes to the server's store first (only
        the chunks it lacks)."""
        from pydantic import ValidationError

        from modelkeep.services.interface import ArtifactRef, RegisterRequest  # here: reads need none of its models

        if path is not None:
            if artifact is not None:
                raise InvalidInput("give an artifact path or an uploaded artifact, not both")
            source = Path(path)
            if not source.exists():
                raise InvalidInput(f"artifact path {source} does not exist")
            stored = self.store.put_path(source)
            artifact = {"kind": stored.kind, "digest": stored.digest}
        try:
            request = RegisterRequest(
                params=dict(params or {}), metrics=dict(metrics or {}), tags=dict(tags or {}), data=list(data or []),
                parent=parent, bump=bump, version=version, experiment=experiment, signature=signature, metadata=metadata,
                code=code, environment=environment, description=description, components=list(components or []),
                composite_config=composite_config, artifact=ArtifactRef(**artifact) if artifact else None,
            )
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"invalid registration: {problems}") from None
        body = request.model_dump(mode="json", exclude_defaults=True)
        return VersionView.from_dict(self._call("POST", f"/api/v1/models/{name}/versions", json=body))

    def set_alias(self, ref: str, alias: str) -> VersionView:
        name, spec = _split(ref)
        self._call("PUT", f"/api/v1/models/{name}/aliases/{alias}", json={"version": spec})
        return self.get(f"{name}@{alias}")

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", f"/api/v1/models/{name}/aliases/{alias}")

    def delete_version(self, ref: str) -> VersionView:
        view = self.get(ref)
        self._call("DELETE", f"/api/v1/models/{view.name}/versions/{view.version}")
        return view

    def delete_model(self, name: str) -> int:
        return int(self._call("DELETE", f"/api/v1/models/{name}")["deleted_versions"])

    def rename_model(self, name: str, new_name: str) -> list[str]:
        return list(self._call("POST", f"/api/v1/models/{name}/rename", json={"name": new_name})["lines"])

    # --- the S3 store, presigned (bytes bypass the server) ----------------------------------

    def direct_store(self) -> Repository:
        """The server's S3 store, reached directly through presigned URLs."""
        from modelkeep.client.store import ServerStoreBackend
        from modelkeep.store.backends.presigned import PresignedBackend
        from modelkeep.store.repository import Repository

        backend = PresignedBackend(
            f"{self.url} (presigned)",
            lambda keys, method: self._call("POST", "/api/v1/store/presign", json={"keys": keys, "method": method})["urls"],
            lambda prefix: self._call("GET", "/api/v1/store/keys", params={"prefix": prefix}),
            notes=ServerStoreBackend(self.transport),
        )
        return Repository.open(backend)

    def register_direct(self, name: str, path: Path, **options: Any) -> VersionView:
        """Like :meth:`register`, with the file's chunks sent straight to the S3 store."""
        from modelkeep.store.artifacts import ArtifactStore

        stored = ArtifactStore(self.direct_store()).put_path(Path(path))
        return self.register(name, None, artifact={"kind": stored.kind, "digest": stored.digest}, **options)

    def download_direct(self, ref: str, dest: Path) -> Path:
        """Fetch a version's artifact straight from the S3 store (every chunk verified here)."""
        from modelkeep.store.artifacts import ArtifactStore

        view = self.get(ref)
        if not view.digest or view.artifact_kind not in ("file", "tree"):
            raise InvalidInput(f"{view.ref} has no file or folder artifact")
        return ArtifactStore(self.direct_store()).materialize(view.artifact_kind, view.digest, dest)

    def download(self, ref: str, dest: Path) -> Path:
        """Stream a version's artifact file to ``dest`` (written via a temporary name)."""
        name, spec = _split(ref)
        tmp = dest.with_name(dest.name + ".partial")
        with self.transport.stream("GET", f"/api/v1/models/{name}/versions/{spec}/artifact") as response, \
                open(tmp, "wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
        tmp.replace(dest)
        return dest
