"""Latency statistics from raw samples: percentiles, bootstrap CI of the median, a noise flag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# A run is flagged noisy when its samples spread widely ((p90-p10)/p50 above this) ...
NOISY_SPREAD = 0.25
# ... or when the 95 % CI of the median is wider than this fraction of the median.
NOISY_CI = 0.05


def bootstrap_median_ci(x: np.ndarray, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap confidence interval of the median of `x`."""
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    medians = np.median(x[idx], axis=1)
    lo, hi = np.percentile(medians, [2.5, 97.5])
    return float(lo), float(hi)


def summarize(samples_ns: Sequence[int], items_per_run: int = 1, seed: int = 0) -> dict[str, Any]:
    """Summarize raw per-run latencies (nanoseconds) into a dict of millisecond figures.

    >>> s = summarize([1_000_000, 2_000_000, 3_000_000])
    >>> s["p50_ms"], s["n"]
    (2.0, 3)
    """
    if len(samples_ns) == 0:
        raise ValueError("no latency samples to summarize")
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    p10, p50, p90, p95, p99 = (float(v) for v in np.percentile(ms, [10, 50, 90, 95, 99]))
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    lo, hi = bootstrap_median_ci(ms, seed=seed)
    spread = (p90 - p10) / p50 if p50 > 0 else 0.0
    ci_rel = (hi - lo) / p50 if p50 > 0 else 0.0
    return {
        "n": int(ms.size),
        "mean_ms": mean,
        "std_ms": std,
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
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
