from __future__ import annotations

import numpy as np
import pytest
from edgebench.bench.stats import bootstrap_median_ci, summarize


def test_percentiles_match_numpy() -> None:
    rng = np.random.default_rng(0)
    ns = (rng.gamma(5.0, 1e6, size=500)).astype(np.int64)
    s = summarize(ns.tolist(), items_per_run=4)
    ms = ns / 1e6
    for p in (50, 90, 95, 99):
        assert s[f"p{p}_ms"] == pytest.approx(np.percentile(ms, p))
    assert s["mean_ms"] == pytest.approx(ms.mean())
    assert s["std_ms"] == pytest.approx(ms.std(ddof=1))
    assert s["min_ms"] == pytest.approx(ms.min()) and s["max_ms"] == pytest.approx(ms.max())
    assert s["throughput_items_per_s"] == pytest.approx(4 * 1000 / ms.mean())
    lo, hi = s["p50_ci95_ms"]
    assert lo <= s["p50_ms"] <= hi and hi - lo < 0.2 * s["p50_ms"]


def test_ci_is_deterministic_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(1)
    small = rng.normal(10, 1, 30)
    big = rng.normal(10, 1, 3000)
    assert bootstrap_median_ci(small, seed=3) == bootstrap_median_ci(small, seed=3)
    ws = np.diff(bootstrap_median_ci(small))[0]
    wb = np.diff(bootstrap_median_ci(big))[0]
    assert wb < ws


def test_noise_flag() -> None:
    steady = [10_000_000 + i % 3 * 10_000 for i in range(200)]
    noisy = [10_000_000 if i % 2 else 25_000_000 for i in range(200)]
    assert summarize(steady)["noisy"] is False
    assert summarize(noisy)["noisy"] is True


def test_empty_samples_refused() -> None:
    with pytest.raises(ValueError):
        summarize([])
