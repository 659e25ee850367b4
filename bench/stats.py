"""Latency statistics from raw samples: percentiles, a distribution-free CI of the median, a noise flag."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

# A run is flagged noisy when its samples spread widely ((p90-p10)/p50 above this) ...
NOISY_SPREAD = 0.25
# ... or when the 95 % CI of the median is wider than this fraction of the median.
NOISY_CI = 0.05
# The timed loop's samples are cut into this many contiguous segments (bench/harness.py `measure`): a shared
# machine's speed drifts during a run (ResNet-20 went from 0.65 to 0.50 ms within two minutes on a 2-core VM),
# so one run's samples are not independent, and the p50's CI also spans the segments' medians (`p50_ci`).
SEGMENTS = 10
# ... and needs this many segments to use them (fewer: the order-statistic CI of the samples alone)
MIN_SEGMENTS = 6
# What `throughput_items_per_s` is (batch / mean latency, not 1/p50): the header of every table that shows it.
THROUGHPUT_HEADER = "items/s (1/mean)"


def binom_cdf(n: int, p: float, k_max: int | None = None) -> np.ndarray:
    """P(B <= k) for k = 0..k_max (default n), B ~ binomial(n, p), 0 < p < 1; in log space, so n = 10^6 is fine.

    >>> [round(float(v), 4) for v in binom_cdf(3, 0.5)]
    [0.125, 0.5, 0.875, 1.0]
    """
    k_max = n if k_max is None else min(k_max, n)
    k = np.arange(1, k_max + 1, dtype=np.float64)
    # log C(n, k) by the ratio C(n, k) / C(n, k-1) = (n - k + 1) / k; O(n) memory, no overflow
    log_comb = np.concatenate(([0.0], np.cumsum(np.log(n - k + 1.0) - np.log(k))))
    ks = np.arange(0, k_max + 1, dtype=np.float64)
    log_pmf = log_comb + ks * np.log(p) + (n - ks) * np.log1p(-p)
    return np.minimum(np.cumsum(np.exp(log_pmf)), 1.0)


def quantile_ci_ranks(n: int, q: float, confidence: float = 0.95) -> tuple[int, int]:
    """0-based ranks (lo, hi) of the sorted sample that bound the `q` quantile with at least `confidence`.

    The number of samples below the true quantile is binomial(n, q), so [x_(j), x_(k)] (1-based) holds it
    with probability P(j <= B < k); each tail gets (1 - confidence) / 2. Too few samples for a tail: that
    side is the sample's extreme (the widest there is). For q = 0.5 this is `median_ci_ranks`.

    >>> quantile_ci_ranks(1000, 0.9)
    (880, 918)
    """
    if n < 1:
        raise ValueError("no samples to bound a quantile of")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence} must be in (0, 1), e.g. 0.95")
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile {q} must be in (0, 1), e.g. 0.9")
    tail = (1.0 - confidence) / 2.0
    cdf = binom_cdf(n, q)  # cdf[i] = P(B <= i)
    low_ok = np.nonzero(cdf <= tail)[0]  # P(B <= j-1) <= tail: x_(j) is below the quantile often enough
    lo = int(low_ok[-1]) if low_ok.size else 0  # the largest j - 1, which is x_(j)'s 0-based rank
    high_ok = np.nonzero(1.0 - cdf <= tail)[0]  # P(B >= k) = 1 - P(B <= k-1) <= tail
    hi = int(high_ok[0]) if high_ok.size else n - 1
    return min(lo, n - 1), min(hi, n - 1)


def early_stopping_bound(sorted_ms: np.ndarray, q: float = 0.90, confidence: float = 0.99) -> dict[str, Any]:
    """MLPerf LoadGen's early-stopping estimate of the `q` percentile: the largest observed latency L such that,
    with `confidence`, the true `q` percentile is at or below L, given how many queries ran.

    As loadgen/early_stopping.cc (mlcommons/inference; `odds(h, t, p, d)` = BetaRegularized[p - d, h, 1 + t],
    the chance of t or fewer "overlatency" queries in h + t, searched for the most t whose odds stay <= 1 - c,
    with tolerance d = 0): t is the largest count with P(binomial(n, 1 - q) <= t) <= 1 - confidence, and L is the
    latency with t samples above it (the (n - t)-th smallest). Were the true percentile above L, a query would
    exceed L with probability > 1 - q, and seeing only t such queries would have had odds below 1 - confidence.
    Fewer queries than the t = 0 case needs (44 for p90 at 99 %): `bound_ms` None, `min_queries` says how many.

    >>> early_stopping_bound(np.arange(1.0, 1001.0))["overlatency_queries"]
    78
    """
    n = int(sorted_ms.size)
    p_over = 1.0 - q
    min_queries = math.ceil(math.log(1.0 - confidence) / math.log(q))  # t = 0: q^n <= 1 - confidence
    out: dict[str, Any] = {"percentile": q * 100.0, "confidence": confidence, "queries": n,
                           "min_queries": min_queries, "bound_ms": None, "overlatency_queries": None}
    if n < min_queries:
        return out
    cdf = binom_cdf(n, p_over, k_max=int(n * p_over) + 1)
    t = int(np.nonzero(cdf <= 1.0 - confidence)[0][-1])
    out.update(bound_ms=float(sorted_ms[n - t - 1]), overlatency_queries=t)
    return out


def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int]:
    """0-based ranks (lo, hi) of the sorted sample that bound the median with at least `confidence`.

    The number of samples below the true median is binomial(n, 1/2) for any continuous distribution,
    so [x_(j), x_(n+1-j)] (1-based) holds the median with probability 1 - 2 P(B <= j-1); j is the
    largest rank keeping that >= `confidence`. Samples too few for that (n < 6 at 95 %) get the whole
    range, the widest interval there is.

    >>> median_ci_ranks(20)  # x_(6) .. x_(15): coverage 1 - 2 P(B <= 5) = 95.9 %
    (5, 14)
    >>> median_ci_ranks(5)
    (0, 4)
    """
    return quantile_ci_ranks(n, 0.5, confidence)


def median_ci(x: np.ndarray, confidence: float = 0.95, *, is_sorted: bool = False) -> tuple[float, float]:
    """Distribution-free (binomial order-statistic) confidence interval of the median of `x`.

    Exact for continuous data (coverage >= `confidence`, never resampled), O(n log n) time for the
    sort and O(n) memory, so a 20,000-iteration run costs kilobytes, not the 1000 x n of a bootstrap.

    >>> median_ci(np.arange(1.0, 21.0))
    (6.0, 15.0)
    """
    xs = np.asarray(x, dtype=np.float64) if is_sorted else np.sort(np.asarray(x, dtype=np.float64))
    lo, hi = median_ci_ranks(xs.size, confidence)
    return float(xs[lo]), float(xs[hi])


def segment_medians(x: np.ndarray, segment_starts: Sequence[int]) -> np.ndarray:
    """The median of each contiguous segment of `x` (in time order); `segment_starts` are the segments' first
    indices, the first one 0.

    >>> segment_medians(np.array([1.0, 2.0, 3.0, 10.0, 20.0]), [0, 3]).tolist()
    [2.0, 15.0]
    """
    bounds = [*segment_starts, len(x)]
    return np.array([np.median(x[a:b]) for a, b in pairwise(bounds) if b > a])


def p50_ci(x: np.ndarray, segment_starts: Sequence[int] | None = None,
           confidence: float = 0.95) -> tuple[float, float, int]:
    """The p50's CI of the samples `x` (time order) as `(low, high, segments used)`.

    The order-statistic CI (`median_ci`) assumes independent samples; a drifting machine makes neighbouring
    samples alike, and that CI too narrow (in A/A pairs measured back to back, 7 of 10 disagreed). With at
    least `MIN_SEGMENTS` contiguous segments, the CI is widened to span the same CI of the segments' medians
    (batch medians, as batch means in simulation output analysis; distribution-free, so one disturbed segment
    does not move it). Never narrower than `median_ci`; 0 segments used when there are too few.

    >>> p50_ci(np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0, 6.0]), [0, 2, 4, 6, 8, 10])
    (1.0, 6.0, 6)
    """
    xs = np.asarray(x, dtype=np.float64)
    lo, hi = median_ci(xs, confidence)
    starts = list(segment_starts or [])
    if len(starts) < MIN_SEGMENTS:
        return lo, hi, 0
    meds = segment_medians(xs, starts)
    slo, shi = median_ci(meds, confidence)
    return min(lo, slo), max(hi, shi), int(meds.size)


def summarize(samples_ns: Sequence[int], items_per_run: int = 1,
              segment_starts: Sequence[int] | None = None) -> dict[str, Any]:
    """Summarize raw per-run latencies (nanoseconds, in time order) into a dict of millisecond figures;
    `segment_starts`: where each of the timed loop's segments began (`p50_ci`).

    >>> s = summarize([1_000_000, 2_000_000, 3_000_000])
    >>> s["p50_ms"], s["n"], s["p50_ci95_ms"]
    (2.0, 3, [1.0, 3.0])
    """
    if len(samples_ns) == 0:
        raise ValueError("no latency samples to summarize")
    timed = np.asarray(samples_ns, dtype=np.float64) / 1e6
    lo, hi, segments = p50_ci(timed, segment_starts)
    ms = np.sort(timed)
    p10, p50, p90, p95, p99 = (float(v) for v in np.percentile(ms, [10, 50, 90, 95, 99]))
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    tails = {f"p{round(q * 100)}_ci95_ms": [float(ms[r]) for r in quantile_ci_ranks(ms.size, q)] for q in (0.9, 0.99)}
    spread = (p90 - p10) / p50 if p50 > 0 else 0.0
    ci_rel = (hi - lo) / p50 if p50 > 0 else 0.0
    return {
        "n": int(ms.size),
        "mean_ms": mean,
        "std_ms": std,
        "min_ms": float(ms[0]),
        "max_ms": float(ms[-1]),
        "p50_ms": p50,
        "p90_ms": p90,
        "p95_ms": p95,
        "p99_ms": p99,
        "p50_ci95_ms": [lo, hi],
        "p50_ci95_segments": segments,  # segment medians the CI spans (`p50_ci`); 0: the samples' CI alone
        **tails,  # the same binomial order-statistic CI as the median's, for p90 and p99
        "p90_early_stopping": early_stopping_bound(ms),
        "cv": std / mean if mean > 0 else 0.0,
        "spread_p90_p10_rel": spread,
        "noisy": bool(spread > NOISY_SPREAD or ci_rel > NOISY_CI),
        "throughput_items_per_s": items_per_run * 1000.0 / mean if mean > 0 else 0.0,
    }
