"""Latency statistics from raw samples: percentiles, a distribution-free CI of the median, a noise flag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# A run is flagged noisy when its samples spread widely ((p90-p10)/p50 above this) ...
NOISY_SPREAD = 0.25
# ... or when the 95 % CI of the median is wider than this fraction of the median.
NOISY_CI = 0.05
# What `throughput_items_per_s` is (batch / mean latency, not 1/p50): the header of every table that shows it.
THROUGHPUT_HEADER = "items/s (1/mean)"


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
    if n < 1:
        raise ValueError("no samples to bound the median of")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence} must be in (0, 1), e.g. 0.95")
    half = (n - 1) // 2  # j - 1 never passes the middle
    k = np.arange(1, half + 1, dtype=np.float64)
    # log C(n, k) by the ratio C(n, k) / C(n, k-1) = (n - k + 1) / k; O(n) memory, no overflow
    log_comb = np.concatenate(([0.0], np.cumsum(np.log(n - k + 1.0) - np.log(k))))
    cdf = np.cumsum(np.exp(log_comb - n * np.log(2.0)))  # cdf[i] = P(B <= i), i = 0..half
    ok = np.nonzero(2.0 * cdf <= 1.0 - confidence)[0]
    j = int(ok[-1]) + 1 if ok.size else 1  # largest j with 2 P(B <= j-1) <= 1 - confidence
    return j - 1, n - j


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


def summarize(samples_ns: Sequence[int], items_per_run: int = 1) -> dict[str, Any]:
    """Summarize raw per-run latencies (nanoseconds) into a dict of millisecond figures.

    >>> s = summarize([1_000_000, 2_000_000, 3_000_000])
    >>> s["p50_ms"], s["n"], s["p50_ci95_ms"]
    (2.0, 3, [1.0, 3.0])
    """
    if len(samples_ns) == 0:
        raise ValueError("no latency samples to summarize")
    ms = np.sort(np.asarray(samples_ns, dtype=np.float64) / 1e6)
    p10, p50, p90, p95, p99 = (float(v) for v in np.percentile(ms, [10, 50, 90, 95, 99]))
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    lo, hi = median_ci(ms, 0.95, is_sorted=True)
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
        "cv": std / mean if mean > 0 else 0.0,
        "spread_p90_p10_rel": spread,
        "noisy": bool(spread > NOISY_SPREAD or ci_rel > NOISY_CI),
        "throughput_items_per_s": items_per_run * 1000.0 / mean if mean > 0 else 0.0,
    }
