"""MLPerf-style scenarios: `single` (one request at a time: today's bench), `multi` (N concurrent streams),
`offline` (the most items per second over batch sizes and streams).

A stream is a session of its own, run in its own thread (the runtimes release the GIL while they compute); the
threads are split between the streams: each gets `max(1, threads // streams)` intra-op threads. `multi --fps F`
paces each stream at F frames a second and times each frame from when it was due, so a stream that falls behind
shows it in its p99; the search doubles N while the p99 of all frames stays within the budget (`--p99-ms`,
default one frame interval), then bisects between the last N that met it and the first that did not.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from edgebench.bench.harness import BenchConfig, timed_out
from edgebench.errors import UserInputError

SCENARIOS = ("single", "multi", "offline", "server")
# which scenario takes which option (the others are refused with it, never ignored)
OPTION_SCENARIOS = {"--streams": ("multi", "server"), "--fps": ("multi",), "--p99-ms": ("multi", "server"),
                    "--qps": ("server",)}
MAX_STREAMS = 256  # a stream is a loaded session and a thread: beyond this the machine runs out of memory first


@dataclass(frozen=True)
class ScenarioConfig:
    """Which scenario, and its parameters (`--scenario`, `--streams`, `--fps`, `--p99-ms`, `--qps`)."""

    name: str = "single"
    streams: int | None = None  # multi: the number of streams (None with --fps: searched)
    fps: float | None = None  # multi: frames a second each stream must serve
    p99_ms: float | None = None  # multi --fps: the p99 budget (default: one frame interval, 1000 / fps)
    batches: tuple[int, ...] = ()  # offline: the batch sizes tried (empty: the job's batch)
    qps: float | None = None  # server: the mean rate of the Poisson arrivals (None with --p99-ms: searched)

    def __post_init__(self) -> None:
        object.__setattr__(self, "batches", tuple(self.batches))
        if self.name not in SCENARIOS:
            raise UserInputError(f"--scenario '{self.name}' is not one edgebench runs; choose one of "
                                 f"{', '.join(SCENARIOS)} (docs/bench.md: which scenario answers which question)")
        if self.streams is not None and not (isinstance(self.streams, int) and 1 <= self.streams <= MAX_STREAMS):
            raise UserInputError(f"--streams {self.streams} must be an integer from 1 to {MAX_STREAMS} "
                                 "(e.g. --streams 4)")
        for flag, v in (("--fps", self.fps), ("--p99-ms", self.p99_ms), ("--qps", self.qps)):
            if v is not None and not (math.isfinite(v) and v > 0):
                raise UserInputError(f"{flag} {v:g} must be a finite number > 0 (e.g. {flag} 30)")
        values = {"--streams": self.streams, "--fps": self.fps, "--p99-ms": self.p99_ms, "--qps": self.qps}
        for flag, v in values.items():
            if v is not None and self.name not in OPTION_SCENARIOS[flag]:
                takes = " or ".join(OPTION_SCENARIOS[flag])
                raise UserInputError(f"{flag} is an option of --scenario {takes}, not --scenario {self.name}; "
                                     f"drop it or add --scenario {OPTION_SCENARIOS[flag][0]}")
        if self.name == "server":
            if (self.qps is None) == (self.p99_ms is None):
                raise UserInputError("--scenario server needs --qps (the arrival rate to measure) or --p99-ms (the "
                                     "budget: the highest rate meeting it is searched), one of the two")
        elif self.name == "multi" and self.p99_ms is not None and self.fps is None:
            raise UserInputError("--p99-ms is the budget of the --fps search; give --fps too (e.g. --fps 30)")
        elif self.name == "multi" and self.streams is not None and self.fps is not None:
            raise UserInputError("--fps searches the number of streams; give --fps or --streams, not both")

    @property
    def budget_ms(self) -> float | None:
        """The p99 a stream at --fps must stay within."""
        if self.fps is None:
            return self.p99_ms  # server: the budget as given
        return self.p99_ms if self.p99_ms is not None else 1000.0 / self.fps

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "streams": self.streams, "fps": self.fps, "p99_budget_ms": self.budget_ms,
                **({"batches": list(self.batches)} if self.batches else {}),
                **({"qps": self.qps} if self.name == "server" else {})}


def check_supported(runtime: Any, scenario: str) -> None:
    """Refuse a scenario the runtime cannot run (its class's `scenario_refusals`: name -> reason)."""
    reason = (getattr(runtime, "scenario_refusals", None) or {}).get(scenario)
    if reason:
        raise UserInputError(f"runtime '{runtime.name}' cannot run --scenario {scenario}: {reason}; "
                             "use --scenario single or another runtime")


def check_inputs(scenario: str, inputs: object, shape: object) -> None:
    """`offline` makes random inputs for each of its batch sizes: refuse --inputs / --shape with it."""
    if scenario == "offline" and (inputs or shape):
        raise UserInputError("--scenario offline makes its own random inputs for each batch size; drop --inputs / "
                             "--shape and give the batch sizes with --batch (e.g. --batch 1,8,32)")


def threads_per_stream(threads: int, streams: int) -> int:
    """Intra-op threads each of `streams` sessions gets out of `threads`.

    >>> threads_per_stream(8, 3), threads_per_stream(2, 4)
    (2, 1)
    """
    return max(1, threads // streams)


@dataclass
class StreamsTiming:
    """What N concurrent streams measured: per-stream latencies (ns), items, and the wall time of them all."""

    samples_ns: list[np.ndarray]
    items_per_query: int
    wall_s: float

    @property
    def items_per_s(self) -> float:
        n = sum(s.size for s in self.samples_ns) * self.items_per_query
        return n / self.wall_s if self.wall_s > 0 else 0.0

    def pooled(self) -> np.ndarray:
        return np.concatenate(self.samples_ns)


def run_streams(sessions: Sequence[Any], feeds: Mapping[str, np.ndarray], config: BenchConfig, *,
                fps: float | None = None, deadline_ns: int | None = None) -> StreamsTiming:
    """Run each session in a thread of its own, all at once; each stream stops once it has `config.min_iters`
    queries and `config.min_seconds` have passed (or at `config.max_seconds`). With `fps`, frames are due every
    1/fps s and a frame's latency runs from when it was due."""
    clock = time.perf_counter_ns
    n = len(sessions)
    barrier = threading.Barrier(n)
    outs: list[list[int]] = [[] for _ in range(n)]
    spans: list[tuple[int, int]] = [(0, 0)] * n
    errors: list[BaseException] = []
    period = int(1e9 / fps) if fps else 0
    items = int(next(iter(feeds.values())).shape[0]) if feeds else 1

    def stream(i: int) -> None:
        run, out = sessions[i].run, outs[i]
        try:
            for _ in range(config.warmup_iters):
                run(feeds)
            barrier.wait()
            start = clock()
            min_end = start + int(config.min_seconds * 1e9)
            max_end = start + int(config.max_seconds * 1e9) if config.max_seconds else 1 << 62
            due = start
            while True:
                if period:
                    now = clock()
                    if now < due:
                        time.sleep((due - now) / 1e9)
                    sent, due = due, due + period
                else:
                    sent = clock()
                run(feeds)
                t1 = clock()
                out.append(t1 - sent)
                if (len(out) >= config.min_iters and t1 >= min_end) or t1 >= max_end or errors:
                    break
                if deadline_ns is not None and t1 >= deadline_ns:
                    raise timed_out(config.timeout_s, f"stream {i + 1} of {n}, after {len(out)} queries")
            spans[i] = (start, clock())
        except BaseException as e:  # handed to the caller, which raises it: nothing is hidden
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=stream, args=(i,), name=f"edgebench-stream-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real or errors:
        raise (real or errors)[0]
    wall = (max(e for _, e in spans) - min(s for s, _ in spans)) / 1e9
    return StreamsTiming([np.asarray(o, dtype=np.int64) for o in outs], items, wall)


def stream_summary(t: StreamsTiming) -> list[dict[str, Any]]:
    """Per stream: queries, p50 and p99 (ms)."""
    out = []
    for s in t.samples_ns:
        p50, p99 = np.percentile(s / 1e6, [50, 99])
        out.append({"queries": int(s.size), "p50_ms": float(p50), "p99_ms": float(p99)})
    return out


LoadFn = Callable[[int, int], list[Any]]  # (streams, threads per stream) -> that many sessions


def multi(load: LoadFn, feeds: Mapping[str, np.ndarray], config: BenchConfig, sc: ScenarioConfig, threads: int,
          deadline_ns: int | None = None) -> tuple[StreamsTiming, dict[str, Any]]:
    """`--scenario multi`: N streams (`--streams`), or the search for the most streams at `--fps` within the p99
    budget. Returns the timing of the N reported and the scenario block of the result."""
    block = sc.to_dict()
    if sc.fps is None:
        n = sc.streams or 1
        t = run_streams(load(n, threads_per_stream(threads, n)), feeds, config, deadline_ns=deadline_ns)
        block.update(streams=n, threads_per_stream=threads_per_stream(threads, n))
        return t, block
    budget = sc.budget_ms
    assert budget is not None
    tried: dict[int, tuple[StreamsTiming, float]] = {}

    def trial(n: int) -> bool:
        t = run_streams(load(n, threads_per_stream(threads, n)), feeds, config, fps=sc.fps, deadline_ns=deadline_ns)
        p99 = float(np.percentile(t.pooled() / 1e6, 99))
        tried[n] = (t, p99)
        return p99 <= budget

    good, bad = 0, None
    n = 1
    while n <= MAX_STREAMS:
        if trial(n):
            good, n = n, n * 2
        else:
            bad = n
            break
    if bad is not None:
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if trial(mid) else (good, mid)
    shown = good or 1
    block.update(streams=shown, threads_per_stream=threads_per_stream(threads, shown), max_streams_at_fps=good,
                 search=[{"streams": k, "p99_ms": v[1], "meets_budget": v[1] <= budget}
                         for k, v in sorted(tried.items())])
    return tried[shown][0], block


def offline(load: LoadFn, feeds_for: Callable[[int], Mapping[str, np.ndarray]], batches: Sequence[int],
            config: BenchConfig, threads: int,
            deadline_ns: int | None = None) -> tuple[StreamsTiming, dict[str, Any], int]:
    """`--scenario offline`: every batch size x stream count (1, 2, 4 ... up to the threads), unpaced; returns
    the timing and batch of the configuration with the most items a second, and the scenario block."""
    counts = sorted({1, *(2 ** k for k in range(1, threads.bit_length()) if 2 ** k <= threads), threads})
    configs: list[dict[str, Any]] = []
    best: tuple[float, StreamsTiming, int, int] | None = None
    for b in batches:
        feeds = feeds_for(b)
        for n in counts:
            t = run_streams(load(n, threads_per_stream(threads, n)), feeds, config, deadline_ns=deadline_ns)
            configs.append({"batch": b, "streams": n, "threads_per_stream": threads_per_stream(threads, n),
                            "items_per_s": t.items_per_s})
            if best is None or t.items_per_s > best[0]:
                best = (t.items_per_s, t, b, n)
    assert best is not None
    _, t, b, n = best
    block = {"name": "offline", "streams": n, "threads_per_stream": threads_per_stream(threads, n), "batch": b,
             "configs": configs}
    return t, block, b


def throughput_block(t: StreamsTiming) -> dict[str, Any]:
    """The result's `throughput`: items and queries a second over all streams, and the wall time."""
    queries = sum(s.size for s in t.samples_ns)
    return {"items_per_s": t.items_per_s, "queries_per_s": queries / t.wall_s if t.wall_s > 0 else 0.0,
            "queries": int(queries), "items_per_query": t.items_per_query, "wall_s": t.wall_s,
            "streams": stream_summary(t)}


def replace_threads(opts: Any, n: int) -> Any:
    """The runtime options with `n` intra-op threads."""
    return replace(opts, intra_op_threads=n)


def run_server(sessions: Sequence[Any], feeds: Mapping[str, np.ndarray], config: BenchConfig, qps: float, *,
               seed: int = 0, deadline_ns: int | None = None) -> StreamsTiming:
    """`server`: queries arrive at Poisson times (mean rate `qps`, seeded) into one queue that the sessions, each in
    a thread of its own, serve first come first served; a query's latency runs from its arrival to its result, so
    the time it waited in the queue counts. Arrivals stop once `config.min_iters` have come and
    `config.min_seconds` passed (or at `config.max_seconds`); the queue is then drained."""
    import queue

    clock = time.perf_counter_ns
    q: queue.Queue[int | None] = queue.Queue()
    outs: list[list[int]] = [[] for _ in sessions]
    errors: list[BaseException] = []
    items = int(next(iter(feeds.values())).shape[0]) if feeds else 1
    for s in sessions:
        for _ in range(config.warmup_iters):
            s.run(feeds)

    def serve(i: int) -> None:
        run, out = sessions[i].run, outs[i]
        try:
            while (arrived := q.get()) is not None:
                run(feeds)
                out.append(clock() - arrived)
        except BaseException as e:  # handed to the caller, which raises it: nothing is hidden
            errors.append(e)

    threads = [threading.Thread(target=serve, args=(i,), name=f"edgebench-server-{i}") for i in range(len(sessions))]
    for t in threads:
        t.start()
    gaps = np.random.default_rng(seed)
    start = clock()
    min_end = start + int(config.min_seconds * 1e9)
    max_end = start + int(config.max_seconds * 1e9) if config.max_seconds else 1 << 62
    due, sent = start, 0
    try:
        while not errors:
            now = clock()
            if now < due:
                time.sleep((due - now) / 1e9)
            q.put(due)
            sent += 1
            due += int(gaps.exponential(1e9 / qps))
            if (sent >= config.min_iters and due >= min_end) or due >= max_end:
                break
            if deadline_ns is not None and clock() >= deadline_ns:
                raise timed_out(config.timeout_s, f"the server scenario at {qps:g} queries/s, after {sent} queries")
    finally:
        for _ in threads:
            q.put(None)
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return StreamsTiming([np.asarray(o, dtype=np.int64) for o in outs], items, (clock() - start) / 1e9)


def server(load: LoadFn, feeds: Mapping[str, np.ndarray], config: BenchConfig, sc: ScenarioConfig, threads: int,
           seed: int = 0, deadline_ns: int | None = None) -> tuple[StreamsTiming, dict[str, Any]]:
    """`--scenario server`: at `--qps`, or the highest rate whose p99 meets `--p99-ms`: the rate is doubled from a
    tenth of what the sessions serve back to back while it meets the budget, then bisected (6 steps)."""
    n = sc.streams or 1
    sessions = load(n, threads_per_stream(threads, n))
    block = sc.to_dict() | {"streams": n, "threads_per_stream": threads_per_stream(threads, n)}
    if sc.qps is not None:
        return run_server(sessions, feeds, config, sc.qps, seed=seed, deadline_ns=deadline_ns), block
    budget = sc.p99_ms
    assert budget is not None
    tried: dict[float, tuple[StreamsTiming, float]] = {}

    def trial(rate: float) -> bool:
        t = run_server(sessions, feeds, config, rate, seed=seed, deadline_ns=deadline_ns)
        p99 = float(np.percentile(t.pooled() / 1e6, 99))
        tried[rate] = (t, p99)
        return p99 <= budget

    back_to_back = run_streams(sessions, feeds, config, deadline_ns=deadline_ns).items_per_s / max(1, next(
        iter(feeds.values())).shape[0] if feeds else 1)
    good, bad = 0.0, None
    rate = max(back_to_back / 10, 1e-3)
    while bad is None and rate <= back_to_back * 4:
        if trial(rate):
            good, rate = rate, rate * 2
        else:
            bad = rate
    if bad is not None:
        for _ in range(6):
            mid = (good + bad) / 2
            good, bad = (mid, bad) if trial(mid) else (good, mid)
    shown = good if good in tried else min(tried)
    block.update(max_qps_within_p99=good or None, back_to_back_qps=back_to_back,
                 search=[{"qps": k, "p99_ms": v[1], "meets_budget": v[1] <= budget} for k, v in sorted(tried.items())])
    return tried[shown][0], block
