"""The timing loop: warm-up, then timed runs until both min-iters and min-seconds are met.

Samples go into a preallocated int64 buffer (`array('q')`, 8 bytes a run, sized from min/max-iters and
grown in chunks past that), so a long run's resident memory does not creep while it is being measured;
the RSS at the loop's start and end is part of the `Timing`.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from edgebench.bench.memory import rss_mb
from edgebench.bench.stability import CpuWindow
from edgebench.bench.stats import SEGMENTS, p50_ci
from edgebench.errors import EdgebenchError, UserInputError
from edgebench.runtimes.base import Session

CHUNK = 1 << 14  # samples added at once past the preallocated buffer (128 KiB)
STABLE_CHECK_NS = 250_000_000  # --until-stable: the CI is looked at every 0.25 s past the minimums
SEGMENT_MIN_RUNS = 5  # a segment has at least this many timed runs (its median is a median)
PREALLOC_MAX = 1_000_000  # never preallocate more than 8 MB up front, whatever --max-iters says


class MeasurementTimeout(EdgebenchError):
    """A measurement ran past its --timeout (a hung or far too slow model); exit 1, one line."""

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
    timeout_s: float | None = None  # the whole measurement (load, warm-up, timed runs); None: no limit
    # --until-stable: past the minimums, go on until the p50's 95 % CI is at most this fraction of the p50 wide,
    # or until max_seconds (which then must be set: the time cap)
    until_stable: float | None = None
    # --sessions: the timed runs spread over this many sessions of the model, loaded one after another (`measure`)
    sessions: int = 1

    def __post_init__(self) -> None:
        for name in ("warmup_seconds", "min_seconds", "max_seconds", "timeout_s"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                flag = "--timeout" if name == "timeout_s" else f"--{name.replace('_', '-')}"
                raise UserInputError(f"{flag} is {v}; give a finite number of seconds")
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
        if self.until_stable is not None:
            if not (math.isfinite(self.until_stable) and 0 < self.until_stable < 1):
                raise UserInputError(f"--until-stable is {self.until_stable}; give the p50 CI width as a fraction "
                                     "of the p50 in (0, 1), e.g. --until-stable 0.02 for 2 %")
            if self.max_seconds is None:
                raise UserInputError("--until-stable needs a time cap: give --max-seconds too (e.g. --max-seconds 60)")
        if not isinstance(self.sessions, int) or not 1 <= self.sessions <= SEGMENTS:
            raise UserInputError(f"--sessions is {self.sessions}; give 1 to {SEGMENTS} (e.g. --sessions 5: a p50 CI "
                                 "that covers how sessions of the model differ)")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise UserInputError(f"--max-seconds is {self.max_seconds}; it must be > 0")
        if self.timeout_s is not None:
            if not self.timeout_s > 0:
                raise UserInputError(f"--timeout is {self.timeout_s}; it must be > 0 seconds (e.g. --timeout 600)")
            needed = self.warmup_seconds + (self.max_seconds or self.min_seconds)
            if self.timeout_s <= needed:
                raise UserInputError(
                    f"--timeout {self.timeout_s:g} s is not above the {needed:g} s the warm-up and timed runs take "
                    "at least (--warmup-seconds + --min-seconds); raise --timeout"
                )

    @classmethod
    def quick(cls) -> BenchConfig:
        # for smoke tests and emulated devices: a few runs prove the pipeline, not the speed
        return cls(warmup_iters=1, min_iters=3, min_seconds=0.0)


@dataclass
class Timing:
    """Raw timings of one measurement, in nanoseconds."""

    first_run_ns: int
    warmup_iters: int
    samples_ns: array = field(default_factory=lambda: array("q"))  # int64 per timed run
    wall_s: float = 0.0
    rss_loop_start_mb: float | None = None  # after the sample buffer is allocated, before the first timed run
    rss_loop_end_mb: float | None = None  # after the last timed run, before any statistics
    cpu_share: float | None = None  # process CPU seconds per wall second over the timed loop (1.0: one core)
    load1_before: float | None = None  # the 1-minute load average as the timed loop began
    others_cores: float | None = None  # CPU cores other programs used over the timed loop (`CpuWindow.others`)
    stable: bool | None = None  # with --until-stable: whether the CI got narrow enough before the cap
    # the index of each segment's first sample (`measure`; `stats.p50_ci`)
    segment_starts: list[int] = field(default_factory=list)
    # with --sessions: the index of the first sample of each session (the first at 0)
    session_starts: list[int] = field(default_factory=lambda: [0])


def bound_run(session: Session, feeds: Mapping[str, np.ndarray]) -> Callable[[], object]:
    """One run of `session` on `feeds` as a call without arguments.

    A session with `bind(feeds)` binds its inputs once (ORT IOBinding, OpenVINO input tensors, LiteRT input
    buffers, an ncnn Mat) and returns a call that only runs the model; otherwise `session.run(feeds)`.
    """
    bind = getattr(session, "bind", None)
    return bind(feeds) if bind is not None else partial(session.run, feeds)


def timed_out(timeout_s: float | None, where: str) -> MeasurementTimeout:
    return MeasurementTimeout(
        f"the measurement ran past --timeout {timeout_s:g} s ({where}); the model hangs or is far slower than "
        "expected: raise --timeout, or lower --min-seconds / --min-iters / --max-iters"
    )


def measure(
    session: Session,
    feeds: Mapping[str, np.ndarray],
    config: BenchConfig,
    progress: ProgressFn | None = None,
    progress_every_s: float = 0.1,
    deadline_ns: int | None = None,
    reload: Callable[[], Session] | None = None,
) -> Timing:
    """Time `session.run(feeds)` (inputs bound once where the session can: `bound_run`): a first run, the
    warm-up, then the timed loop.

    The timed runs are cut into segments of `min_seconds` / `SEGMENTS` (and at least `min_iters` / `SEGMENTS`
    and `SEGMENT_MIN_RUNS` runs), `Timing.segment_starts`: a shared machine's speed drifts during a run, so
    its samples are not independent, and the p50's CI spans the segments' medians (`stats.p50_ci`).

    With `config.sessions` = K > 1, `reload()` (a new session of the same model) is called at every
    `SEGMENTS` / K-th segment boundary until K sessions have run; each new session is bound and warmed up like
    the first, outside the timed runs. One session has a level of its own (~0.1-0.2 % on a 0.5 ms model), which
    the segments of one session cannot show; spread over K sessions they do.

    `deadline_ns` (a `time.perf_counter_ns()` value; default: now + `config.timeout_s`) ends a run that is
    still short of its minimum then with `MeasurementTimeout`; it is checked between runs (a single run that
    never returns is ended by the parent of an isolated measurement, `runner.run_job_isolated`).
    """
    clock = time.perf_counter_ns
    if deadline_ns is None and config.timeout_s is not None:
        deadline_ns = clock() + int(config.timeout_s * 1e9)
    deadline = deadline_ns or 0

    if config.sessions > 1 and reload is None:
        raise ValueError("measure: config.sessions > 1 needs `reload`, which loads another session")

    t0 = clock()
    run = bound_run(session, feeds)
    run()
    first = clock() - t0  # the first run includes binding the inputs

    def warm_up(run: Callable[[], object]) -> int:
        warm = 0
        w_end = clock() + int(config.warmup_seconds * 1e9)
        while warm < config.warmup_iters or clock() < w_end:
            run()
            warm += 1
            if deadline and clock() >= deadline:
                raise timed_out(config.timeout_s, f"during the warm-up, after {warm} runs")
        return warm

    warm = warm_up(run)

    min_iters = config.min_iters
    max_iters = config.max_iters or 0
    cap = min(max(min_iters, max_iters), PREALLOC_MAX)
    buf = array("q", bytes(8 * cap))  # written now: the loop itself does not grow the RSS
    rss_start = rss_mb()
    window = CpuWindow.start()
    start = clock()
    min_end = start + int(config.min_seconds * 1e9)
    max_end = start + int(config.max_seconds * 1e9) if config.max_seconds else 0
    # one comparison a run covers both --max-seconds and the deadline; which one it was is sorted out after
    stop_end = min(e for e in (max_end, deadline, 1 << 62) if e)
    step = int(progress_every_s * 1e9)
    next_tick = start + step
    n = 0
    until = config.until_stable
    stable: bool | None = None
    seg_ns = int(config.min_seconds * 1e9 / SEGMENTS)
    seg_iters = max(SEGMENT_MIN_RUNS, min_iters // SEGMENTS)
    starts = [0]
    seg_end = start + seg_ns
    per_session = max(1, SEGMENTS // config.sessions)
    sessions = [0]
    while True:
        t0 = clock()
        run()
        t1 = clock()
        if n == cap:
            buf.extend(array("q", bytes(8 * CHUNK)))
            cap += CHUNK
        buf[n] = t1 - t0
        n += 1
        if (n >= min_iters and t1 >= min_end) or n == max_iters or t1 >= stop_end:
            if until is None or n == max_iters or t1 >= stop_end:
                break
            stable = _p50_ci_within(buf, n, until, starts)
            if stable:
                break
            min_end = t1 + STABLE_CHECK_NS  # not yet: look again a little later
        if progress is not None and t1 >= next_tick:
            progress(n, (t1 - start) / 1e9)
            next_tick = t1 + step
        if n - starts[-1] >= seg_iters and t1 >= seg_end:  # the segment is done: the next run starts another
            starts.append(n)
            if (len(starts) - 1) % per_session == 0 and len(sessions) < config.sessions:
                run = None  # type: ignore[assignment]  # the previous session goes before the next is loaded
                run = bound_run(reload(), feeds)  # type: ignore[misc]
                run()
                warm_up(run)
                sessions.append(n)
            seg_end = clock() + seg_ns
    wall = (clock() - start) / 1e9
    share, others = window.share(), window.others()
    rss_end = rss_mb()
    if deadline and t1 >= deadline and not (n >= min_iters and t1 >= min_end) and n != max_iters \
            and not (max_end and t1 >= max_end):
        raise timed_out(config.timeout_s, f"after {n} timed runs of the {min_iters} needed")
    del buf[n:]
    if progress is not None:
        progress(n, wall)
    if until is not None and not stable:
        stable = _p50_ci_within(buf, n, until, starts)
    return Timing(first_run_ns=first, warmup_iters=warm, samples_ns=buf, wall_s=wall, rss_loop_start_mb=rss_start,
                  rss_loop_end_mb=rss_end, cpu_share=share, load1_before=window.load1, stable=stable,
                  segment_starts=starts, others_cores=others, session_starts=sessions)


def _p50_ci_within(buf: array, n: int, width: float, starts: list[int]) -> bool:
    """Whether the p50's 95 % CI (`stats.p50_ci`) of the first `n` samples is at most `width` x the p50 wide."""
    xs = np.frombuffer(buf, np.int64, count=n).astype(np.float64)
    lo, hi, _ = p50_ci(xs, starts)
    med = float(np.median(xs))
    return med > 0 and (hi - lo) / med <= width
