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
