"""The timing loop: warm-up, then timed runs until both min-iters and min-seconds are met."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from edgebench.errors import UserInputError
from edgebench.runtimes.base import Session

ProgressFn = Callable[[int, float], None]  # (iterations done, seconds elapsed)


@dataclass(frozen=True)
class BenchConfig:
    """How long to warm up and to measure.

    The timed loop stops when it has at least `min_iters` samples *and* has run for at least
    `min_seconds`, or when `max_iters` / `max_seconds` (if set) is reached first.
    """

    warmup_iters: int = 10
    warmup_seconds: float = 0.0
    min_iters: int = 50
    min_seconds: float = 2.0
    max_iters: int | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.min_iters, int) or self.min_iters < 1:
            raise UserInputError(f"--min-iters is {self.min_iters}; it must be an integer >= 1")
        if self.warmup_iters < 0:
            raise UserInputError(f"--warmup-iters is {self.warmup_iters}; it must be >= 0")
        for name in ("warmup_seconds", "min_seconds"):
            if getattr(self, name) < 0:
                raise UserInputError(f"--{name.replace('_', '-')} is {getattr(self, name)}; it must be >= 0")
        if self.max_iters is not None and self.max_iters < self.min_iters:
            raise UserInputError(
                f"--max-iters {self.max_iters} is below --min-iters {self.min_iters}; raise it or drop it"
            )
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise UserInputError(f"--max-seconds is {self.max_seconds}; it must be > 0")

    @classmethod
    def quick(cls) -> BenchConfig:
        # for smoke tests and emulated devices: a few runs prove the pipeline, not the speed
        return cls(warmup_iters=1, min_iters=3, min_seconds=0.0)


@dataclass
class Timing:
    """Raw timings of one measurement, in nanoseconds."""

    first_run_ns: int
    warmup_iters: int
    samples_ns: list[int] = field(default_factory=list)
    wall_s: float = 0.0


def measure(
    session: Session,
    feeds: Mapping[str, np.ndarray],
    config: BenchConfig,
    progress: ProgressFn | None = None,
    progress_every_s: float = 0.1,
) -> Timing:
    """Time `session.run(feeds)`: a first run, the warm-up, then the timed loop."""
    clock = time.perf_counter_ns
    run = session.run

    t0 = clock()
    run(feeds)
    first = clock() - t0

    warm = 0
    w_end = clock() + int(config.warmup_seconds * 1e9)
    while warm < config.warmup_iters or clock() < w_end:
        run(feeds)
        warm += 1

    samples: list[int] = []
    append = samples.append
    min_iters = config.min_iters
    max_iters = config.max_iters or 0
    start = clock()
    min_end = start + int(config.min_seconds * 1e9)
    max_end = start + int(config.max_seconds * 1e9) if config.max_seconds else 0
    step = int(progress_every_s * 1e9)
    next_tick = start + step
    while True:
        t0 = clock()
        run(feeds)
        t1 = clock()
        append(t1 - t0)
        n = len(samples)
        if (n >= min_iters and t1 >= min_end) or n == max_iters or (max_end and t1 >= max_end):
            break
        if progress is not None and t1 >= next_tick:
            progress(n, (t1 - start) / 1e9)
            next_tick = t1 + step
    wall = (clock() - start) / 1e9
    if progress is not None:
        progress(len(samples), wall)
    return Timing(first_run_ns=first, warmup_iters=warm, samples_ns=samples, wall_s=wall)
