"""Evidence that accumulates across analysis windows, so low traffic still decides (issue 11).

A window below ``min_samples`` is inconclusive on its own; at 5 requests/s to a canary every
window may be. This keeps a one-sided CUSUM of the log-likelihood ratio "the candidate fails
``RATIO`` times as often as the stable version" against "as often", over the failures of each
window: conditional on a failure happening, it is the candidate's with probability ``q`` (its
share of the requests) if both fail alike, and ``q1 = RATIO q / (RATIO q + 1 - q)`` if the
candidate fails RATIO times as often. With no stable traffic beside it (a canary at 100 %), the
candidate's own failures are weighed against the policy's tolerated rate ``p0`` versus ``RATIO p0``
instead. The sum never drops below 0 (Page's CUSUM), so a long healthy stretch does not bank
credit against a later fault, and it decides once it passes ``THRESHOLD`` = ln(10^4): an A/A pair
would need a run of about eight failures all on one side to cross it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

RATIO = 10.0
THRESHOLD = math.log(1e4)
MIN_ERRORS = 3


@dataclass
class SequentialErrors:
    llr: float = 0.0
    candidate_n: int = 0
    candidate_errors: int = 0
    stable_n: int = 0
    stable_errors: int = 0
    windows: int = 0

    def update(self, candidate_n: int, candidate_errors: int, stable_n: int, stable_errors: int, p0: float) -> None:
        """Add one window's counts (each arm's requests and failed requests)."""
        self.windows += 1
        self.candidate_n += candidate_n
        self.candidate_errors += candidate_errors
        self.stable_n += stable_n
        self.stable_errors += stable_errors
        if candidate_n == 0:
            return
        if stable_n > 0:  # who failed, given that someone did
            q = candidate_n / (candidate_n + stable_n)
            q1 = RATIO * q / (RATIO * q + 1.0 - q)
            step = candidate_errors * math.log(q1 / q) + stable_errors * math.log((1.0 - q1) / (1.0 - q))
        else:  # alone: against the tolerated rate
            base = min(max(p0, 1e-4), 0.5)
            p1 = min(RATIO * base, 0.95)
            step = candidate_errors * math.log(p1 / base) + \
                (candidate_n - candidate_errors) * math.log((1.0 - p1) / (1.0 - base))
        self.llr = max(0.0, self.llr + step)

    def failing(self, p0: float) -> bool:
        """Decisive evidence that the candidate fails more than the stable version and more than
        the tolerated rate."""
        rate = self.candidate_errors / self.candidate_n if self.candidate_n else 0.0
        return self.llr >= THRESHOLD and self.candidate_errors >= MIN_ERRORS and rate > p0

    def summary(self) -> dict[str, Any]:
        return {"llr": round(self.llr, 3), "threshold": round(THRESHOLD, 3), "windows": self.windows,
                "candidate": f"{self.candidate_errors}/{self.candidate_n}",
                "stable": f"{self.stable_errors}/{self.stable_n}"}
