"""Latency figures pinned against independent computations: numpy percentiles, exact binomial ranks,
and the CI's coverage measured by simulation on distributions whose median is known."""

from __future__ import annotations

import tracemalloc
from math import comb

import numpy as np
import pytest
from edgebench.bench.stats import NOISY_CI, NOISY_SPREAD, median_ci, median_ci_ranks, summarize


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
    p10 = np.percentile(ms, 10)
    assert s["spread_p90_p10_rel"] == pytest.approx((np.percentile(ms, 90) - p10) / np.percentile(ms, 50))
    assert s["cv"] == pytest.approx(ms.std(ddof=1) / ms.mean())
    assert s["n"] == 500


def test_hand_made_sample_every_field() -> None:
    # 1..10 ms, shuffled: numpy's linear percentiles are p10 1.9, p50 5.5, p90 9.1, p95 9.55, p99 9.91
    ns = [v * 1_000_000 for v in (7, 3, 10, 1, 9, 5, 2, 8, 6, 4)]
    s = summarize(ns, items_per_run=2)
    assert s["n"] == 10 and (s["min_ms"], s["max_ms"]) == (1.0, 10.0)
    assert (s["p50_ms"], s["p90_ms"], s["p95_ms"], s["p99_ms"]) == pytest.approx((5.5, 9.1, 9.55, 9.91))
    assert s["mean_ms"] == pytest.approx(5.5) and s["std_ms"] == pytest.approx(np.sqrt(55 / 6))
    assert s["throughput_items_per_s"] == pytest.approx(2 * 1000 / 5.5)
    assert s["spread_p90_p10_rel"] == pytest.approx((9.1 - 1.9) / 5.5)
    # n = 10: ranks 2 and 9 (1-based), coverage 1 - 2 * 11/1024 = 97.9 % (rank 3 would give 89 %)
    assert s["p50_ci95_ms"] == [2.0, 9.0]
    assert s["noisy"] is True


def test_single_sample() -> None:
    s = summarize([4_000_000])
    assert s["p50_ci95_ms"] == [4.0, 4.0] and s["std_ms"] == 0.0 and s["cv"] == 0.0 and s["n"] == 1
    assert s["noisy"] is False and s["throughput_items_per_s"] == pytest.approx(250.0)


def test_zero_latencies_do_not_divide_by_zero() -> None:
    s = summarize([0, 0, 0])
    assert (s["cv"], s["spread_p90_p10_rel"], s["throughput_items_per_s"], s["noisy"]) == (0.0, 0.0, 0.0, False)


def exact_lower_rank(n: int, confidence: float = 0.95) -> int:
    """1-based j of the widely tabulated rule, by exact integer sums: largest j with 1 - 2 P(B < j) >= conf."""
    best, tail = 1, 0
    for j in range(1, n // 2 + 1):
        tail += comb(n, j - 1)  # 2^n P(B <= j - 1)
        if 2 * tail <= (1 - confidence) * 2**n:
            best = j
    return best


@pytest.mark.parametrize("n", [*range(1, 41), 57, 100, 101, 250, 1000])
def test_ranks_match_the_exact_binomial_rule(n: int) -> None:
    lo, hi = median_ci_ranks(n)
    j = exact_lower_rank(n)
    assert (lo, hi) == (j - 1, n - j)


def test_ranks_against_tabulated_values() -> None:
    # Conover, Practical Nonparametric Statistics, table A3 / the usual sign-test table at 95 %
    assert median_ci_ranks(6) == (0, 5)  # 96.9 %
    assert median_ci_ranks(9) == (1, 7)  # x_(2)..x_(8): 96.1 %
    assert median_ci_ranks(20) == (5, 14)  # x_(6)..x_(15): 95.9 %
    assert median_ci_ranks(100) == (39, 60)  # x_(40)..x_(61): 96.5 %
    assert median_ci_ranks(20, 0.99) == (3, 16)  # x_(4)..x_(17): 99.7 %
    assert median_ci_ranks(20, 0.5) == (7, 12)  # 73.7 %; x_(9)..x_(12) would give 49.7 % < 50 %


def test_ranks_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="no samples"):
        median_ci_ranks(0)
    for bad in (0.0, -0.5, 1.0, 95.0):
        with pytest.raises(ValueError, match="confidence"):
            median_ci_ranks(10, bad)


def coverage(draw, true_median: float, n: int, trials: int, rng: np.random.Generator) -> float:
    hits = 0
    for _ in range(trials):
        ns = draw(rng, n) * 1e6  # ms -> ns, as the harness records them
        lo, hi = summarize(ns.astype(np.int64).tolist())["p50_ci95_ms"]
        hits += lo <= true_median <= hi
    return hits / trials


DISTS = {  # draw(rng, n) in ms, and the true median in ms
    "lognormal": (lambda rng, n: rng.lognormal(np.log(5.0), 0.4, n), 5.0),
    "exponential": (lambda rng, n: 2.0 + rng.exponential(3.0, n), 2.0 + 3.0 * np.log(2.0)),
}


@pytest.mark.parametrize("dist", sorted(DISTS))
@pytest.mark.parametrize(("n", "trials"), [(20, 1500), (100, 1500), (1000, 600)])
def test_ci_covers_the_true_median_95_percent_of_the_time(dist: str, n: int, trials: int) -> None:
    draw, true_median = DISTS[dist]
    got = coverage(draw, true_median, n, trials, np.random.default_rng(1000 + n))
    # the exact coverage is 95.9 % (n=20), 96.5 % (n=100), 95.4 % (n=1000); a 90 % or 99 % interval fails
    assert 0.93 <= got <= 0.97, f"{dist} n={n}: coverage {got:.3f}"


def test_ci_is_deterministic_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(1)
    small = rng.normal(10, 1, 30)
    big = rng.normal(10, 1, 3000)
    assert median_ci(small) == median_ci(small.copy())
    ws = np.diff(median_ci(small))[0]
    wb = np.diff(median_ci(big))[0]
    assert wb < ws
    assert median_ci(small) == median_ci(np.sort(small), is_sorted=True)
    lo, hi = median_ci_ranks(30)
    assert median_ci(small) == (np.sort(small)[lo], np.sort(small)[hi])


def test_ci_memory_is_bounded() -> None:
    # the old bootstrap allocated 1000 x n floats: 160 MB for 20,000 samples
    samples = (np.random.default_rng(2).lognormal(np.log(5e6), 0.2, 20_000)).astype(np.int64).tolist()
    summarize(samples[:100])  # numpy's first calls allocate caches of their own: not part of the figure
    tracemalloc.start()
    try:
        summarize(samples)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 20_000 * 8, f"peak {peak / 1e6:.1f} MB"  # ten float arrays of n; ~0.5 MB measured


def test_noise_flag() -> None:
    steady = [10_000_000 + i % 3 * 10_000 for i in range(200)]
    noisy = [10_000_000 if i % 2 else 25_000_000 for i in range(200)]
    assert summarize(steady)["noisy"] is False
    assert summarize(noisy)["noisy"] is True


def test_noise_flag_each_rule_alone() -> None:
    # wide spread, narrow CI: 1000 samples, 70 % at 10 ms, 15 % each at 5 and 20 ms
    spread = [10_000_000] * 700 + [5_000_000] * 150 + [20_000_000] * 150
    s = summarize(spread)
    assert s["spread_p90_p10_rel"] > NOISY_SPREAD and s["p50_ci95_ms"] == [10.0, 10.0] and s["noisy"] is True
    # narrow spread, wide CI: 8 samples, ranks 1 and 8 (the whole range), p10..p90 within 20 %
    wide_ci = [9_000_000, 9_800_000, 9_900_000, 10_000_000, 10_000_000, 10_100_000, 10_200_000, 12_000_000]
    s = summarize(wide_ci)
    lo, hi = s["p50_ci95_ms"]
    assert s["spread_p90_p10_rel"] <= NOISY_SPREAD and (hi - lo) / s["p50_ms"] > NOISY_CI and s["noisy"] is True


def test_noise_flag_thresholds_are_strict() -> None:
    # exactly at the threshold is not noisy: p10 = 8.75, p50 = 10, p90 = 11.25 -> spread 0.25
    at = [8_750_000] * 20 + [10_000_000] * 60 + [11_250_000] * 20
    s = summarize(at)
    assert s["spread_p90_p10_rel"] == pytest.approx(NOISY_SPREAD) and s["p50_ci95_ms"] == [10.0, 10.0]
    assert s["noisy"] is False


def test_empty_samples_refused() -> None:
    with pytest.raises(ValueError):
        summarize([])


def test_sub_millisecond_latencies_keep_every_figure() -> None:
    # a tiny model at 0.2-0.6 ms: ratios must not fall back to 0 because the values are below 1 ms
    ns = [200_000, 300_000, 400_000, 500_000, 600_000]
    s = summarize(ns, items_per_run=1)
    assert s["p50_ms"] == pytest.approx(0.4) and s["mean_ms"] == pytest.approx(0.4)
    assert s["throughput_items_per_s"] == pytest.approx(2500.0)
    assert s["cv"] == pytest.approx(np.std([0.2, 0.3, 0.4, 0.5, 0.6], ddof=1) / 0.4)
    assert s["spread_p90_p10_rel"] == pytest.approx((0.56 - 0.24) / 0.4)
    assert s["p50_ci95_ms"] == pytest.approx([0.2, 0.6]) and s["noisy"] is True


def test_sub_millisecond_wide_ci_alone_is_noisy() -> None:
    # 0.45-0.6 ms, p10..p90 within 25 % of the median, but 8 samples give the whole range as the CI
    ns = [450_000, 490_000, 495_000, 500_000, 500_000, 505_000, 510_000, 600_000]
    s = summarize(ns)
    assert s["spread_p90_p10_rel"] <= NOISY_SPREAD and s["p50_ci95_ms"] == pytest.approx([0.45, 0.6])
    assert s["noisy"] is True


def test_two_samples_have_a_standard_deviation() -> None:
    s = summarize([1_000_000, 3_000_000])
    assert s["std_ms"] == pytest.approx(np.sqrt(2.0)) and s["cv"] == pytest.approx(np.sqrt(2.0) / 2.0)


def test_ci_rule_threshold_is_strict() -> None:
    # n = 100: the CI is x_(40)..x_(61) = 9.75..10.25, exactly 5 % of the median 10; p10..p90 spread 5 %
    at = [9_750_000] * 40 + [10_000_000] * 20 + [10_250_000] * 40
    s = summarize(at)
    lo, hi = s["p50_ci95_ms"]
    assert (lo, hi, s["p50_ms"]) == (9.75, 10.25, 10.0) and (hi - lo) / s["p50_ms"] == NOISY_CI
    assert s["noisy"] is False
    wider = [9_740_000] * 40 + [10_000_000] * 20 + [10_250_000] * 40
    assert summarize(wider)["noisy"] is True


def _runs_with_drifting_speed(rng: np.random.Generator, level_sd: float, segments: int = 10,
                              per_segment: int = 100) -> tuple[np.ndarray, list[int]]:
    """One run's samples (ms) on a drifting machine: each segment runs at its own speed (x N(1, level_sd)), gamma
    noise within."""
    levels = rng.normal(1.0, level_sd, size=segments)
    x = np.concatenate([lv * (1.0 + rng.gamma(2.0, 0.01, size=per_segment)) for lv in levels])
    return x, list(range(0, segments * per_segment, per_segment))


def test_p50_ci_covers_a_drift_that_the_samples_ci_misses() -> None:
    from edgebench.bench.stats import p50_ci

    rng = np.random.default_rng(3)
    # the median over a long stretch of the drift (what another run would see): 2,000 segments
    pop, _ = _runs_with_drifting_speed(rng, 0.005, segments=2000)
    truth = float(np.median(pop))
    hits_seg = hits_iid = 0
    trials = 300
    for _ in range(trials):
        x, starts = _runs_with_drifting_speed(rng, 0.005)
        lo, hi, used = p50_ci(x, starts)
        assert used == 10
        hits_seg += lo <= truth <= hi
        ilo, ihi = median_ci(x)
        hits_iid += ilo <= truth <= ihi
    assert hits_seg / trials >= 0.9  # the segments' CI holds the p50 another run would see
    assert hits_iid / trials < 0.6  # the samples' CI alone, as before segments: too narrow


def test_p50_ci_is_the_samples_ci_without_segments_and_not_much_wider_without_drift() -> None:
    from edgebench.bench.stats import MIN_SEGMENTS, p50_ci

    rng = np.random.default_rng(4)
    x, starts = _runs_with_drifting_speed(rng, 0.0)
    assert p50_ci(x) == (*median_ci(x), 0)
    assert p50_ci(x, starts[:MIN_SEGMENTS - 1]) == (*median_ci(x), 0)  # too few segments: ignored
    lo, hi, used = p50_ci(x, starts)
    ilo, ihi = median_ci(x)
    assert used == 10 and lo <= ilo and hi >= ihi and (hi - lo) <= 3.0 * (ihi - ilo)


def test_summarize_and_the_stability_check_use_the_segments() -> None:
    from edgebench.bench.stability import check_stability
    from edgebench.bench.stats import p50_ci

    x, starts = _runs_with_drifting_speed(np.random.default_rng(5), 0.05)  # speeds 5 % apart: a wide CI
    ns = (x * 1e6).astype(np.int64)
    s = summarize(ns.tolist(), segment_starts=starts)
    lo, hi, used = p50_ci(ns / 1e6, starts)
    assert s["p50_ci95_ms"] == pytest.approx([lo, hi]) and s["p50_ci95_segments"] == used == 10
    assert summarize(ns.tolist())["p50_ci95_segments"] == 0
    st = check_stability(ns, cpu_share=1.0, load_before=0.0, logical_cores=2, segment_starts=starts)
    assert st["noisy"] and "medians of 10 contiguous segments" in st["reasons"][0]
    assert not check_stability(ns, cpu_share=1.0, load_before=0.0, logical_cores=2)["noisy"]


def test_machine_busy_seconds_read_from_proc_stat(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    from edgebench.bench.stability import machine_busy_s

    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice: busy = all but idle and iowait
    stat.write_text("cpu  100 20 30 5000 70 4 6 40 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert machine_busy_s(str(stat)) == pytest.approx(200 / os.sysconf("SC_CLK_TCK"))
    assert machine_busy_s(str(tmp_path / "absent")) is None
    stat.write_text("garbage\n")
    assert machine_busy_s(str(stat)) is None


def test_others_cpu_counts_another_process_and_not_this_one() -> None:
    import subprocess
    import sys
    import time

    from edgebench.bench.stability import CpuWindow

    if CpuWindow.start().machine_busy_s is None:
        pytest.skip("no /proc/stat on this OS: the load average check is used instead")
    spin = "import time\nt = time.perf_counter() + 0.8\nwhile time.perf_counter() < t: pass\n"
    child = subprocess.Popen([sys.executable, "-c", spin])
    time.sleep(0.1)  # the child is spinning
    w = CpuWindow.start()
    time.sleep(0.5)  # this process idles: a core of the spin is someone else's
    busy_other = w.others()
    child.wait()
    assert busy_other is not None and busy_other >= 0.6
    w = CpuWindow.start()
    t = time.perf_counter() + 0.5
    while time.perf_counter() < t:  # this process spins: its own CPU is not "other programs"
        pass
    own = w.others()
    assert own is not None and w.share() > 0.8 and own <= busy_other - 0.4


def test_others_cpu_sets_noisy_and_the_load_average_is_then_only_printed() -> None:
    from edgebench.bench.stability import check_stability

    steady = np.full(200, 1_000_000, np.int64) + np.arange(200)
    busy = check_stability(steady, cpu_share=0.99, load_before=0.1, logical_cores=2, others_cores=0.9)
    assert busy["noisy"] and busy["reasons"] == [
        "other programs used 0.90 cores while it ran (threshold 0.25, steal included): the machine was busy"]
    # a 1-minute load of 5 left by this process's own earlier runs: printed, not noisy, when others is measured
    quiet = check_stability(steady, cpu_share=0.99, load_before=5.0, logical_cores=2, others_cores=0.02)
    checks = {c["name"]: c for c in quiet["checks"]}
    assert not quiet["noisy"] and not checks["load_before_per_core"]["ok"]
    assert not checks["load_before_per_core"]["sets_noisy"] and quiet["others_cores"] == 0.02
    assert checks["cpu_share"]["text"] == "the run got 99% of a core (threshold 80%)"  # no failure wording when ok
    assert checks["others_cpu"]["ok"] and "busy" not in checks["others_cpu"]["text"]
    legacy = check_stability(steady, cpu_share=0.99, load_before=5.0, logical_cores=2)  # no /proc/stat
    assert legacy["noisy"] and "load average was 5.00" in legacy["reasons"][0]
