"""Two versions scored on the same rows, compared by a policy with paired bootstrap intervals.

The policy (``gate.yaml``; the same shape for merges) names the dataset and, per metric, the
direction the metric improves in (known for the built-ins), the minimum gain (``margin``; 0:
any gain, negative: "no worse than"), an absolute ``floor`` the candidate must reach, and the
slices that may not regress. For each rule, the candidate-minus-baseline difference, signed so
that positive is better, gets a percentile interval from paired bootstrap resamples (the
same resamples for both versions: their errors on a row are not independent):

- **pass** when the whole interval lies above the margin and the floor holds;
- **fail** when the whole interval lies below it, or the floor does not hold, or a protected
  slice confidently regressed (its interval lies below minus its tolerance);
- **inconclusive** otherwise — the interval straddles the margin, or there are fewer rows than
  ``min_samples`` — and says which.

Comparing a version with itself gives differences of exactly 0: never a pass.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sparse
from pydantic import BaseModel, ConfigDict, Field

from modelkeep.errors import InvalidInput
from modelkeep.services.evaluation.metrics import Metric, Scored, weighted_counts

Verdict = Literal["pass", "fail", "inconclusive"]
EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 2}


class MetricRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str = Field(description="a built-in metric (accuracy, auc, f1, log_loss, rmse, mae, r2) or a custom one")
    direction: Literal["higher", "lower"] | None = Field(default=None, description="default: the metric's own")
    margin: float = Field(default=0.0, description="minimum gain in the better direction (negative: allowed loss)")
    floor: float | None = Field(default=None, description="the candidate's value must be at least this good")
    min_samples: int = Field(default=100, ge=1)
    slices_no_regress: list[str] = Field(default_factory=list, description="slice values (COL=VALUE) that may not regress")
    slice_tolerance: float = Field(default=0.0, ge=0)


class ComparePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: str = Field(description="the pinned held-out dataset version, NAME@N")
    split: str | None = None
    target: str | None = None
    slice_by: str | None = Field(default=None, description="a column whose values are slices")
    rules: list[MetricRule] = Field(min_length=1)
    resamples: int = Field(default=1000, ge=100, le=100_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    seed: int = 0


def load_policy(text: str, where: str = "policy") -> ComparePolicy:
    import yaml
    from pydantic import ValidationError

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{where} is not YAML: {exc}") from None
    try:
        return ComparePolicy.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{where}: {loc}: {first['msg']}",
                           hint="keys: data, split, target, slice_by, rules[metric, direction, margin, floor, "
                                "min_samples, slices_no_regress], resamples, confidence") from None


@dataclass
class RuleResult:
    metric: str
    slice: str
    verdict: Verdict
    why: str
    baseline: float
    candidate: float
    delta: float  # candidate - baseline (raw, not signed)
    low: float  # interval of the signed gain (positive: the candidate is better)
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Comparison:
    candidate: str
    baseline: str
    data: str
    verdict: Verdict
    results: list[RuleResult] = field(default_factory=list)
    evaluations: dict[str, int] = field(default_factory=dict)  # ref -> evaluation id
    resamples: int = 0
    confidence: float = 0.95

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "baseline": self.baseline, "data": self.data, "verdict": self.verdict,
                "exit_code": self.exit_code, "results": [r.to_dict() for r in self.results],
                "evaluations": self.evaluations, "resamples": self.resamples, "confidence": self.confidence}


def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1)))  # numpy releases the GIL


AHEAD_BYTES = 256 << 20  # resamples made ahead of need, one byte a count: 100k rows × 1,000 is 100 MB


class Resamples:
    """Paired bootstrap resamples of ``n`` rows as row counts (how often each row was drawn in
    ``n`` draws with replacement), made a batch at a time: batch ``k`` always comes from its own
    seed, so the resamples do not depend on the number of cores or the order batches are made in."""

    def __init__(self, n: int, count: int, seed: int, batch: int = 64) -> None:
        self.n, self.count, self.batch = n, count, batch
        self.seeds = np.random.SeedSequence(seed).spawn(len(self))
        size = min(batch, count)
        # Counted as a sparse matrix made dense (duplicate entries add up): one pass straight into
        # float32, 2.5x numpy's bincount row by row. Its row numbers and ones are the same each batch.
        self._rows = np.repeat(np.arange(size, dtype=np.int32), n)
        self._ones = np.ones(size * n, dtype=np.float32)
        self._ahead: list[Future[np.ndarray]] = []

    def __len__(self) -> int:
        return -(-self.count // self.batch)

    def make_ahead(self, pool: ThreadPoolExecutor) -> None:
        """Start making every batch on ``pool`` now — the making releases the GIL, so it runs on a
        core the model imports leave free — and keep each compact (one byte a count: a quarter of
        the memory) until :meth:`get` asks for it. Only while they all fit in
        :data:`AHEAD_BYTES`; beyond, batches are made when asked for (a batch per core in memory)."""
        if self.n * self.count <= AHEAD_BYTES:
            self._ahead = [pool.submit(_compact, self.make, k) for k in range(len(self))]

    def get(self, k: int) -> np.ndarray:
        """Batch ``k`` as float32 counts: made ahead if it was, else now."""
        if not self._ahead:
            return self.make(k)
        made = self._ahead[k].result()
        return made if made.dtype == np.float32 else made.astype(np.float32)

    def make(self, k: int) -> np.ndarray:
        size = min(self.batch, self.count - k * self.batch)
        draws = np.random.default_rng(self.seeds[k]).integers(0, self.n, size=(size, self.n), dtype=np.int32)
        cells = size * self.n
        counted = sparse.coo_matrix((self._ones[:cells], (self._rows[:cells], draws.ravel())), shape=(size, self.n))
        return np.asarray(counted.toarray())


def _compact(make: Any, k: int) -> np.ndarray:
    counts = make(k)
    return counts.astype(np.uint8) if counts.max(initial=0) <= 255 else counts  # a count over 255: float32 kept


def _one_blas_thread() -> Any:
    """BLAS's own threads, beside the pool's, would only contend (and spin) for the same cores."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # scikit-learn's dependency; without it, BLAS keeps its default
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def weights(n: int, resamples: int, seed: int, batch: int = 64) -> list[np.ndarray]:
    """All of :class:`Resamples` at once, made on all cores (a custom metric reads whole resamples)."""
    made = Resamples(n, resamples, seed, batch)
    with _pool() as pool:
        return list(pool.map(made.make, range(len(made))))


def streamed_gains(metrics: list[Metric], base: Scored, cand: Scored, resamples: Resamples) -> list[np.ndarray]:
    """Candidate minus baseline on each resample for every metric (all weighted), paired: each
    batch of resamples is made, every metric is taken on it, and it is dropped — memory stays a
    batch per core, whatever the number of resamples, and each batch is read while in cache. The
    metrics made of counts (accuracy, f1, ...) of both versions take one product per batch."""
    counted = [m for m in metrics if m.counted is not None]
    columns = [m.counted.columns(s) for m in counted for s in (cand, base)]  # type: ignore[union-attr]
    widths = np.cumsum([0] + [c.shape[1] for c in columns])
    stacked = np.column_stack([np.ones(len(base.y), dtype=bool), *columns]) if counted else None

    def batch(k: int) -> list[np.ndarray]:
        w = resamples.get(k)
        found: dict[str, np.ndarray] = {}
        if stacked is not None:
            sums = weighted_counts(stacked, w)
            total, sums = sums[:, 0], sums[:, 1:]
            for i, metric in enumerate(counted):
                finish = metric.counted.finish  # type: ignore[union-attr]
                c, b = (sums[:, widths[j]:widths[j + 1]] for j in (2 * i, 2 * i + 1))
                found[metric.name] = finish(c, total) - finish(b, total)
        return [found[m.name] if m.name in found else m.weighted(cand, w) - m.weighted(base, w)  # type: ignore[misc]
                for m in metrics]

    with _one_blas_thread(), _pool() as pool:  # the batches are the parallel work, not each product
        parts = list(pool.map(batch, range(len(resamples))))
    return [np.concatenate([part[i] for part in parts]) for i in range(len(metrics))]


def _gains(metric: Metric, base: Scored, cand: Scored, batches: list[np.ndarray]) -> np.ndarray:
    """Candidate minus baseline on each resample (the same resample for both: paired)."""
    if metric.weighted is not None:
        weighted = metric.weighted
        with _pool() as pool:
            parts = pool.map(lambda w: weighted(cand, w) - weighted(base, w), batches)
            return np.concatenate(list(parts))
    values = []  # a custom metric: the resample itself (slower), the same counts
    for w in batches:
        for row in w:
            idx = np.repeat(np.arange(len(row)), row.astype(np.int64))
            values.append(metric.point(_subset(cand, idx)) - metric.point(_subset(base, idx)))
    return np.asarray(values)


def _subset(scored: Scored, rows: np.ndarray) -> Scored:
    return Scored(scored.y[rows], scored.pred[rows], None if scored.score is None else scored.score[rows])


def judge(rule: MetricRule, metric: Metric, base: Scored, cand: Scored, policy: ComparePolicy,
          slice_name: str = "all", *, protected: bool = False, batches: list[np.ndarray] | None = None,
          gains: np.ndarray | None = None, known: tuple[float | None, float | None] = (None, None)) -> RuleResult:
    """One rule on these rows. ``gains``: the raw candidate-minus-baseline values on the policy's
    resamples, if already taken (:func:`streamed_gains`); else ``batches`` of resamples, else made.
    ``known``: the baseline's and candidate's point values on these rows, if taken before."""
    higher = (rule.direction or ("higher" if metric.higher_is_better else "lower")) == "higher"
    sign = 1.0 if higher else -1.0
    n = len(base.y)
    b_point, c_point = (metric.point(s) if p is None else p for s, p in zip((base, cand), known, strict=True))
    if n < rule.min_samples:
        return RuleResult(rule.metric, slice_name, "inconclusive", f"too few samples: {n} < {rule.min_samples}",
                          b_point, c_point, c_point - b_point, float("nan"), float("nan"), n)
    if gains is None:
        if batches is None:
            batches = weights(n, policy.resamples, _seed(policy, slice_name))
        gains = _gains(metric, base, cand, batches)
    gains = sign * gains
    gains = gains[np.isfinite(gains)]
    alpha = (1 - policy.confidence) / 2
    low, high = (float(v) for v in np.quantile(gains, [alpha, 1 - alpha])) if len(gains) else (float("nan"),) * 2
    result = RuleResult(rule.metric, slice_name, "inconclusive", "", b_point, c_point, c_point - b_point, low, high, n)
    pct = f"{policy.confidence:.0%}"
    if protected:
        if high < -rule.slice_tolerance:
            result.verdict, result.why = "fail", f"regressed on {slice_name}: gain {pct} interval [{low:+.4f}, {high:+.4f}]"
        else:
            result.verdict, result.why = "pass", f"no confident regression on {slice_name}"
        return result
    if rule.floor is not None and (c_point < rule.floor if higher else c_point > rule.floor):
        result.verdict, result.why = "fail", f"{rule.metric} {c_point:.4f} misses the floor {rule.floor}"
    elif low > rule.margin:
        result.verdict, result.why = "pass", f"gain {pct} interval [{low:+.4f}, {high:+.4f}] above the margin {rule.margin:+}"
    elif high < rule.margin:
        result.verdict, result.why = "fail", f"gain {pct} interval [{low:+.4f}, {high:+.4f}] below the margin {rule.margin:+}"
    else:
        result.why = f"gain {pct} interval [{low:+.4f}, {high:+.4f}] straddles the margin {rule.margin:+}"
    return result


def _seed(policy: ComparePolicy, slice_name: str) -> int:
    return policy.seed + (zlib.crc32(slice_name.encode()) if slice_name != "all" else 0)


def compare(policy: ComparePolicy, metrics: dict[str, Metric], base: Scored, cand: Scored,
            slices: np.ndarray | None, resamples: Resamples | None = None) -> tuple[Verdict, list[RuleResult]]:
    """Every rule on all rows, and on each protected slice; the overall verdict. The rules on all
    rows share one set of resamples (``resamples``, if being made ahead: they must be the
    policy's), streamed once for all their metrics."""
    if len(base.y) != len(cand.y):
        raise InvalidInput("the two versions were scored on different rows")
    for rule in policy.rules:
        if rule.metric not in metrics:
            raise InvalidInput(f"policy metric {rule.metric!r}: this evaluation has {', '.join(sorted(metrics))}")
    n = len(base.y)
    streamed = sorted({r.metric for r in policy.rules if metrics[r.metric].weighted is not None and n >= r.min_samples})
    if resamples is None or (resamples.n, resamples.count) != (n, policy.resamples):
        resamples = Resamples(n, policy.resamples, policy.seed)
    gains = dict(zip(streamed, streamed_gains([metrics[m] for m in streamed], base, cand, resamples), strict=True))
    shared: list[np.ndarray] = []  # a custom metric's resamples on all rows: the same counts, kept whole
    results = []
    for rule in policy.rules:
        metric = metrics[rule.metric]
        if rule.metric not in gains and not shared and n >= rule.min_samples:
            shared = weights(n, policy.resamples, policy.seed)
        results.append(judge(rule, metric, base, cand, policy, batches=shared or None, gains=gains.get(rule.metric),
                             known=(base.known(rule.metric), cand.known(rule.metric))))
        for name in rule.slices_no_regress:
            if slices is None:
                raise InvalidInput(f"slices_no_regress names {name!r} but the policy has no slice_by column")
            mask = slices == name.split("=", 1)[-1]
            if not mask.any():
                raise InvalidInput(f"slice {name!r} has no rows in {policy.data}")
            results.append(judge(rule, metric, _subset(base, mask), _subset(cand, mask), policy, name, protected=True,
                                 known=(base.known(rule.metric, name), cand.known(rule.metric, name))))
    verdicts = {r.verdict for r in results}
    verdict: Verdict = "fail" if "fail" in verdicts else "inconclusive" if "inconclusive" in verdicts else "pass"
    return verdict, results
