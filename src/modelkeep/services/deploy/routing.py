"""Sticky routing: a request key is hashed into one of 10,000 buckets; arms own bucket ranges.

The hash is BLAKE2b of the deployment name and the key, so every gateway replica sends the same
key to the same arm with no shared state. Arms own consecutive ranges in spec order and a canary
lists its candidate first: raising its weight from w to w' hands buckets [w, w') over from the
stable arm and moves no other key, never back. Requests without a key get a random bucket.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from dataclasses import dataclass

BUCKETS = 10_000


@dataclass(frozen=True)
class Route:
    arm: str
    bucket: int


class Router:
    """Bucket ranges for the arms that may take traffic; the weight of an arm that is not
    available (failed to load) goes to ``fallback``."""

    def __init__(self, deployment: str, weights: list[tuple[str, float]], *, fallback: str,
                 unavailable: set[str] | frozenset[str] = frozenset()) -> None:
        self.salt = deployment.encode() + b"\x00"
        bounds: list[int] = []
        arms: list[str] = []
        edge = 0.0
        for name, weight in weights:
            edge += weight * BUCKETS / 100.0
            bounds.append(round(edge))
            arms.append(fallback if name in unavailable else name)
        if bounds:
            bounds[-1] = BUCKETS
        self.bounds = bounds
        self.arms = arms

    def bucket(self, key: str | None) -> int:
        if key is None:
            return random.randrange(BUCKETS)
        digest = hashlib.blake2b(self.salt + key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") % BUCKETS

    def route(self, key: str | None) -> Route:
        bucket = self.bucket(key)
        return Route(self.arms[bisect_right(self.bounds, bucket)], bucket)

    def share(self) -> dict[str, float]:
        """Each arm's share of buckets, in percent."""
        out: dict[str, float] = {}
        lower = 0
        for arm, upper in zip(self.arms, self.bounds, strict=True):
            out[arm] = out.get(arm, 0.0) + (upper - lower) * 100.0 / BUCKETS
            lower = upper
        return out
