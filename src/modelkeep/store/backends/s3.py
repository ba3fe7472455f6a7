"""S3 and S3-compatible object stores through boto3.

URL: ``s3://BUCKET[/PREFIX][?endpoint=http://127.0.0.1:9000&region=us-east-1]``; the endpoint
may also come from ``AWS_ENDPOINT_URL``, credentials from the usual AWS sources. A PUT is atomic
in S3, so ``put`` needs no temp object.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from modelkeep.errors import InvalidInput, NotFound
from modelkeep.store.backends import TransientError, check_key

_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling", "503", "500"}


class S3Backend:
    remote = True  # each request is a round trip: the repository reads by windows

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if not parts.netloc:
            raise InvalidInput(f"invalid S3 URL {url!r}: use s3://BUCKET[/PREFIX][?endpoint=URL]")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        import boto3
        from botocore.config import Config

        self.endpoint = query.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL")
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=query.get("region") or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
        )
        self.url = url

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _translate(self, exc: Exception, key: str) -> Exception:
        from botocore.exceptions import ClientError, ConnectionError, EndpointConnectionError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return NotFound(f"{key} is not in the store {self.url}")
            if code == "NoSuchBucket":
                return InvalidInput(f"bucket {self.bucket!r} does not exist at {self.endpoint or 'AWS'}")
            if code in _TRANSIENT_CODES:
                return TransientError(f"S3 {code} for {key}")
            return InvalidInput(f"S3 refused {key}: {code} {exc}")
        if isinstance(exc, EndpointConnectionError | ConnectionError):
            return TransientError(f"cannot reach S3 endpoint {self.endpoint or 'AWS'}: {exc}")
        return exc

    def _do(self, key: str, fn: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn()
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, key) from exc

    def put(self, key: str, data: bytes) -> None:
        self._do(key, lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data))

    def get(self, key: str) -> bytes:
        return self._do(key, lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read())

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        rng = f"bytes={offset}-{offset + length - 1}"
        return self._do(
            key, lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key), Range=rng)["Body"].read()
        )

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
            return True
        except NotFound:
            return False

    def size(self, key: str) -> int:
        head = self._do(key, lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        return int(head["ContentLength"])

    def list(self, prefix: str = "") -> Iterator[str]:
        if prefix:
            check_key(prefix.rstrip("/"))
        full = (f"{self.prefix}/" if self.prefix else "") + prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._do(prefix, lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=full)))
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"][strip:]

    def presign(self, key: str, method: str, expires: int = 900) -> str:
        """A URL that lets its holder GET or PUT one key directly, for ``expires`` seconds."""
        operation = {"GET": "get_object", "PUT": "put_object"}[method]
        return str(self.client.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires))

    def delete(self, key: str) -> None:
        self._do(key, lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key)))
