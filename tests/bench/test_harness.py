from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pytest
from edgebench.bench.harness import BenchConfig, measure
from edgebench.errors import UserInputError


class FakeSession:
    """Counts runs; each run sleeps `delay_s`."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.inputs: list = []
        self.outputs: list = []
        self.calls = 0
        self.delay_s = delay_s

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return {}


def test_min_iters_when_time_is_short() -> None:
    s = FakeSession()
    t = measure(s, {}, BenchConfig(warmup_iters=3, min_iters=25, min_seconds=0.0))
    assert len(t.samples_ns) == 25
    assert t.warmup_iters == 3
    assert s.calls == 1 + 3 + 25  # first run + warm-up + timed
    assert t.segment_starts == [0, 5, 10, 15, 20]  # SEGMENT_MIN_RUNS timed runs a segment at least


def test_min_seconds_keeps_running_past_min_iters() -> None:
    s = FakeSession(delay_s=0.002)
    t = measure(s, {}, BenchConfig(warmup_iters=0, min_iters=2, min_seconds=0.1))
    assert len(t.samples_ns) > 10
    assert t.wall_s >= 0.1
    assert all(x >= 2_000_000 for x in t.samples_ns)


def test_max_iters_and_max_seconds_cap() -> None:
    t = measure(FakeSession(), {}, BenchConfig(warmup_iters=0, min_iters=5, min_seconds=60, max_iters=7))
    assert len(t.samples_ns) == 7
    t = measure(FakeSession(0.001), {}, BenchConfig(warmup_iters=0, min_iters=1, min_seconds=60, max_seconds=0.05))
    assert 0.05 <= t.wall_s < 5


def test_warmup_seconds() -> None:
    s = FakeSession(delay_s=0.001)
    t = measure(s, {}, BenchConfig(warmup_iters=0, warmup_seconds=0.05, min_iters=1, min_seconds=0))
    assert t.warmup_iters >= 10


def test_progress_called_with_final_count() -> None:
    seen: list[int] = []
    measure(FakeSession(), {}, BenchConfig(warmup_iters=0, min_iters=40, min_seconds=0),
            progress=lambda n, _s: seen.append(n))
    assert seen[-1] == 40


@pytest.mark.parametrize("kwargs", [{"min_iters": 0}, {"min_iters": -3}, {"warmup_iters": -1},
                                    {"min_seconds": -1.0}, {"min_iters": 10, "max_iters": 5},
                                    {"max_seconds": 0}])
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(UserInputError):
        BenchConfig(**kwargs)


def test_timeout_ends_a_slow_run_cleanly() -> None:
    from edgebench.bench.harness import MeasurementTimeout

    t0 = time.perf_counter()
    with pytest.raises(MeasurementTimeout, match=r"--timeout 0\.3 s"):
        measure(FakeSession(0.02), {}, BenchConfig(warmup_iters=0, min_iters=10_000, min_seconds=0, timeout_s=0.3))
    assert time.perf_counter() - t0 < 2
    with pytest.raises(MeasurementTimeout, match="warm-up"):
        measure(FakeSession(0.02), {}, BenchConfig(warmup_iters=10_000, min_iters=1, min_seconds=0, timeout_s=0.3))


def test_timeout_does_not_cut_a_run_that_met_its_minimum() -> None:
    t = measure(FakeSession(0.001), {}, BenchConfig(warmup_iters=0, min_iters=5, min_seconds=0, timeout_s=60))
    assert len(t.samples_ns) == 5


@pytest.mark.parametrize("kwargs", [{"timeout_s": 0}, {"timeout_s": -1}, {"timeout_s": float("inf")},
                                    {"timeout_s": 1.0, "min_seconds": 2.0}, {"min_seconds": float("nan")},
                                    {"max_seconds": float("inf")}])
def test_bad_timeouts_refused(kwargs: dict) -> None:
    with pytest.raises(UserInputError):
        BenchConfig(**kwargs)


def test_samples_are_a_preallocated_int64_buffer_and_rss_is_read_at_both_ends() -> None:
    t = measure(FakeSession(), {}, BenchConfig(warmup_iters=0, min_iters=100, min_seconds=0, max_iters=100))
    assert t.samples_ns.typecode == "q" and len(t.samples_ns) == 100
    assert t.rss_loop_start_mb is not None and t.rss_loop_end_mb is not None and t.rss_loop_end_mb > 0


def test_samples_grow_past_the_preallocation_in_chunks() -> None:
    from edgebench.bench.harness import CHUNK

    s = FakeSession()  # min-seconds keeps it running past the 10 preallocated samples, by several chunks
    t = measure(s, {}, BenchConfig(warmup_iters=0, min_iters=10, min_seconds=0.5))
    assert len(t.samples_ns) == s.calls - 1 and len(t.samples_ns) > CHUNK
    # cut into about SEGMENTS segments of 0.05 s (`stats.p50_ci`), in order
    assert 9 <= len(t.segment_starts) <= 11 and t.segment_starts == sorted(set(t.segment_starts))
    assert min(t.samples_ns) > 0


def test_sessions_reload_at_segment_boundaries_and_warm_each_up() -> None:
    loaded: list[FakeSession] = []

    def reload() -> FakeSession:
        loaded.append(FakeSession(delay_s=0.0005))
        return loaded[-1]

    first = FakeSession(delay_s=0.0005)
    t = measure(first, {}, BenchConfig(warmup_iters=3, min_iters=10, min_seconds=0.3, sessions=5), reload=reload)
    assert len(loaded) == 4 and t.session_starts[0] == 0 and len(t.session_starts) == 5
    assert set(t.session_starts) <= set(t.segment_starts)  # a session starts with a segment
    for s, (a, b) in zip(loaded, zip(t.session_starts[1:], [*t.session_starts[2:], len(t.samples_ns)],
                                     strict=True), strict=True):
        assert s.calls == 1 + 3 + (b - a)  # bound and run once, warmed up, then its timed runs
    with pytest.raises(ValueError, match="needs `reload`"):
        measure(FakeSession(), {}, BenchConfig(sessions=2, min_seconds=0.0))
    with pytest.raises(UserInputError, match="--sessions is 0"):
        BenchConfig(sessions=0)
