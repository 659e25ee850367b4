"""MLPerf-style scenarios: `single` (one request at a time: today's bench), `multi` (N concurrent streams),
`offline` (the most items per second over batch sizes and streams), `server` (Poisson arrivals into a queue).

A stream is a session of its own, created and run in a thread of its own (bench/streams.py; the runtimes release
the GIL while they compute); the threads are split between the streams: each gets `max(1, threads // streams)`
intra-op threads, and with `--pin-streams` CPUs of its own, split from the CPUs pinned to. `multi --fps F`
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
from edgebench.bench.harness import SEGMENT_MIN_RUNS, BenchConfig, bound_run, timed_out
from edgebench.bench.stats import SEGMENTS
from edgebench.bench.streams import StreamPool, check_pin_streams, split_cpus
from edgebench.errors import UserInputError
from edgebench.system import allowed_cpus

SCENARIOS = ("single", "multi", "offline", "server")
# which scenario takes which option (the others are refused with it, never ignored)
OPTION_SCENARIOS = {"--streams": ("multi", "server"), "--fps": ("multi",), "--p99-ms": ("multi", "server"),
                    "--qps": ("server",), "--pin-streams": ("multi", "offline", "server")}
MAX_STREAMS = 256  # a stream is a loaded session and a thread: beyond this the machine runs out of memory first


@dataclass(frozen=True)
class ScenarioConfig:
    """Which scenario, and its parameters (`--scenario`, `--streams`, `--fps`, `--p99-ms`, `--qps`,
    `--pin-streams`)."""

    name: str = "single"
    streams: int | None = None  # multi: the number of streams (None with --fps: searched)
    fps: float | None = None  # multi: frames a second each stream must serve
    p99_ms: float | None = None  # multi --fps: the p99 budget (default: one frame interval, 1000 / fps)
    batches: tuple[int, ...] = ()  # offline: the batch sizes tried (empty: the job's batch)
    qps: float | None = None  # server: the mean rate of the Poisson arrivals (None with --p99-ms: searched)
    pin_streams: bool = False  # each stream's thread on CPUs of its own (bench/streams.py)

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
        values = {"--streams": self.streams, "--fps": self.fps, "--p99-ms": self.p99_ms, "--qps": self.qps,
                  "--pin-streams": True if self.pin_streams else None}
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
                **({"qps": self.qps} if self.name == "server" else {}),
                **({"pin_streams": True} if self.pin_streams else {})}


def check_supported(runtime: Any, scenario: str, streams: int | None = None) -> None:
    """Refuse a scenario the runtime cannot run (its class's `scenario_refusals`: name -> reason), and several
    concurrent sessions of a runtime whose sessions run one at a time in a process (its `serial_sessions`: the
    reason): multi, and server with `streams` > 1 (offline then tries one stream only)."""
    reason = (getattr(runtime, "scenario_refusals", None) or {}).get(scenario)
    if reason:
        raise UserInputError(f"runtime '{runtime.name}' cannot run --scenario {scenario}: {reason}; "
                             "use --scenario single or another runtime")
    serial = getattr(runtime, "serial_sessions", "")
    if serial and scenario == "multi":
        raise UserInputError(f"runtime '{runtime.name}' cannot run --scenario multi: {serial}; use --scenario "
                             "single (one edgebench bench per stream measures N processes) or another runtime")
    if serial and scenario == "server" and (streams or 1) > 1:
        raise UserInputError(f"runtime '{runtime.name}' cannot serve --scenario server with --streams {streams}: "
                             f"{serial}; drop --streams (one session) or use another runtime")


def pin_base(cpus: Sequence[int] | None, source: str = "--cpus") -> tuple[tuple[int, ...], str]:
    """The CPUs `--pin-streams` splits between the streams and where they come from: `cpus` (what the
    measurement is pinned to, from `source`), else the CPUs this process may use."""
    if cpus is not None:
        return tuple(sorted(cpus)), source
    allowed = allowed_cpus()
    if allowed is None:
        raise UserInputError("--pin-streams needs CPU affinity (os.sched_setaffinity), which this system does not "
                             "offer; drop --pin-streams")
    return tuple(sorted(allowed)), "the CPUs this process may use"


def check_pinning(sc: ScenarioConfig, cpus: Sequence[int] | None, source: str = "--cpus") -> None:
    """`--pin-streams` with fewer CPUs than `--streams`: refused in one line, before anything loads. (`multi
    --fps` and `offline` choose their stream counts: they stop at one stream per CPU.)"""
    if sc.pin_streams and sc.streams is not None:
        check_pin_streams(sc.streams, *pin_base(cpus, source))


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
    """What N concurrent streams measured: per-stream latencies (ns), items, the wall time of them all, and where
    each stream ran (`StreamPool.placement`)."""

    samples_ns: list[np.ndarray]
    items_per_query: int
    wall_s: float
    placement: list[dict[str, Any]] | None = None

    @property
    def items_per_s(self) -> float:
        n = sum(s.size for s in self.samples_ns) * self.items_per_query
        return n / self.wall_s if self.wall_s > 0 else 0.0

    def pooled(self) -> np.ndarray:
        return np.concatenate(self.samples_ns)

    def segment_starts(self) -> list[int]:
        """Where `pooled()`'s segments start, for `stats.p50_ci`: each stream's samples (in its time order) cut
        into `SEGMENTS` // streams parts of equal count, of at least `SEGMENT_MIN_RUNS` samples (one part where a
        stream has fewer).

        >>> StreamsTiming([np.arange(100), np.arange(100)], 1, 1.0).segment_starts()
        [0, 20, 40, 60, 80, 100, 120, 140, 160, 180]
        >>> StreamsTiming([np.arange(12), np.arange(4)], 1, 1.0).segment_starts()
        [0, 6, 12]
        """
        most = max(1, SEGMENTS // max(1, len(self.samples_ns)))
        starts: list[int] = []
        offset = 0
        for s in self.samples_ns:
            parts = max(1, min(most, s.size // SEGMENT_MIN_RUNS))
            starts += sorted({offset + int(i) for i in np.linspace(0, s.size, parts, endpoint=False)} if s.size else ())
            offset += s.size
        return starts


OpenFn = Callable[[int], Any]  # threads per stream -> a session (called in the stream's own thread)


def open_streams(open_session: OpenFn, n: int, threads: int, pin: Sequence[int] | None = None) -> StreamPool:
    """`n` streams, each a thread that creates its session of `threads_per_stream(threads, n)` intra-op threads;
    with `pin`, stream i's thread first pins itself to the i-th of `split_cpus(pin, n)`."""
    per = threads_per_stream(threads, n)
    return StreamPool(lambda _i: open_session(per), n, split_cpus(pin, n) if pin is not None else None)


def run_streams(streams: StreamPool | Sequence[Any], feeds: Mapping[str, np.ndarray], config: BenchConfig, *,
                fps: float | None = None, deadline_ns: int | None = None) -> StreamsTiming:
    """Run each stream (a `StreamPool`'s, or sessions made elsewhere, each then run in a thread of its own), all at
    once, its inputs bound once in its own thread (`harness.bound_run`, as `measure` does for `single`); each stops
    once it has `config.min_iters` queries and `config.min_seconds` have passed (or at `config.max_seconds`). With
    `fps`, frames are due every 1/fps s and a frame's latency runs from when it was due."""
    if not isinstance(streams, StreamPool):
        with StreamPool.of(streams) as pool:
            return run_streams(pool, feeds, config, fps=fps, deadline_ns=deadline_ns)
    clock = time.perf_counter_ns
    n = streams.n
    barrier = threading.Barrier(n)
    outs: list[list[int]] = [[] for _ in range(n)]
    spans: list[tuple[int, int]] = [(0, 0)] * n
    errors: list[BaseException] = []
    period = int(1e9 / fps) if fps else 0
    items = int(next(iter(feeds.values())).shape[0]) if feeds else 1

    def stream(i: int, session: Any) -> None:
        out = outs[i]
        try:
            run = bound_run(session, feeds)  # inputs bound once, in the stream's thread, as `measure` does
            for _ in range(config.warmup_iters):
                run()
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
                run()
                t1 = clock()
                out.append(t1 - sent)
                if (len(out) >= config.min_iters and t1 >= min_end) or t1 >= max_end or errors:
                    break
                if deadline_ns is not None and t1 >= deadline_ns:
                    raise timed_out(config.timeout_s, f"stream {i + 1} of {n}, after {len(out)} queries")
            spans[i] = (start, clock())
        except BaseException as e:  # the pool hands it to the caller: nothing is hidden
            errors.append(e)
            barrier.abort()
            raise

    streams.run(stream)
    wall = (max(e for _, e in spans) - min(s for s, _ in spans)) / 1e9
    return StreamsTiming([np.asarray(o, dtype=np.int64) for o in outs], items, wall, streams.placement())


def stream_summary(t: StreamsTiming) -> list[dict[str, Any]]:
    """Per stream: queries, p50 and p99 (ms; None for a server's stream that the others left no query)."""
    out: list[dict[str, Any]] = []
    for s in t.samples_ns:
        if not s.size:
            out.append({"queries": 0, "p50_ms": None, "p99_ms": None})
            continue
        p50, p99 = np.percentile(s / 1e6, [50, 99])
        out.append({"queries": int(s.size), "p50_ms": float(p50), "p99_ms": float(p99)})
    return out


def multi(open_session: OpenFn, feeds: Mapping[str, np.ndarray], config: BenchConfig, sc: ScenarioConfig,
          threads: int, deadline_ns: int | None = None,
          pin: Sequence[int] | None = None) -> tuple[StreamsTiming, dict[str, Any]]:
    """`--scenario multi`: N streams (`--streams`), or the search for the most streams at `--fps` within the p99
    budget (with `pin`: one stream per CPU at most). Returns the timing of the N reported and the scenario block
    of the result."""
    block = sc.to_dict()

    def trial_run(n: int, fps: float | None) -> StreamsTiming:
        with open_streams(open_session, n, threads, pin) as pool:
            return run_streams(pool, feeds, config, fps=fps, deadline_ns=deadline_ns)

    if sc.fps is None:
        n = sc.streams or 1
        block.update(streams=n, threads_per_stream=threads_per_stream(threads, n))
        return trial_run(n, None), block
    budget = sc.budget_ms
    assert budget is not None
    limit = min(MAX_STREAMS, len(pin)) if pin is not None else MAX_STREAMS
    tried: dict[int, tuple[StreamsTiming, float]] = {}

    def trial(n: int) -> bool:
        t = trial_run(n, sc.fps)
        p99 = float(np.percentile(t.pooled() / 1e6, 99))
        tried[n] = (t, p99)
        return p99 <= budget

    good, bad = 0, None
    n = 1
    while True:
        if not trial(n):
            bad = n
            break
        good = n
        if n >= limit:
            break
        n = min(n * 2, limit)
    if bad is not None:
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if trial(mid) else (good, mid)
    shown = good or 1
    block.update(streams=shown, threads_per_stream=threads_per_stream(threads, shown), max_streams_at_fps=good,
                 search=[{"streams": k, "p99_ms": v[1], "meets_budget": v[1] <= budget}
                         for k, v in sorted(tried.items())])
    if pin is not None:
        block["streams_limit"] = limit  # --pin-streams: one CPU a stream at least
    return tried[shown][0], block


def offline(open_session: OpenFn, feeds_for: Callable[[int], Mapping[str, np.ndarray]], batches: Sequence[int],
            config: BenchConfig, threads: int, deadline_ns: int | None = None, pin: Sequence[int] | None = None,
            max_streams: int = MAX_STREAMS) -> tuple[StreamsTiming, dict[str, Any], int]:
    """`--scenario offline`: every batch size x stream count (1, 2, 4 ... up to the threads, at most `max_streams`
    and, with `pin`, one stream per CPU), unpaced; returns the timing and batch of the configuration with the most
    items a second, and the scenario block."""
    cap = min(max_streams, len(pin)) if pin is not None else max_streams
    counts = sorted(c for c in {1, *(2 ** k for k in range(1, threads.bit_length()) if 2 ** k <= threads), threads}
                    if c <= max(cap, 1))
    configs: list[dict[str, Any]] = []
    best: tuple[float, StreamsTiming, int, int] | None = None
    for b in batches:
        feeds = feeds_for(b)
        for n in counts:
            with open_streams(open_session, n, threads, pin) as pool:
                t = run_streams(pool, feeds, config, deadline_ns=deadline_ns)
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


def replace_threads(opts: Any, n: int, **fields: Any) -> Any:
    """The runtime options with `n` intra-op threads (and these other fields)."""
    return replace(opts, intra_op_threads=n, **fields)


def run_server(streams: StreamPool | Sequence[Any], feeds: Mapping[str, np.ndarray], config: BenchConfig,
               qps: float, *, seed: int = 0, deadline_ns: int | None = None) -> StreamsTiming:
    """`server`: queries arrive at Poisson times (mean rate `qps`, seeded) into one queue that the streams (a
    `StreamPool`'s, or sessions made elsewhere), each in its own thread, serve first come first served; a query's
    latency runs from its arrival to its result, so the time it waited in the queue counts. Arrivals stop once
    `config.min_iters` have come and `config.min_seconds` passed (or at `config.max_seconds`); the queue is then
    drained."""
    import queue

    if not isinstance(streams, StreamPool):
        with StreamPool.of(streams) as pool:
            return run_server(pool, feeds, config, qps, seed=seed, deadline_ns=deadline_ns)
    clock = time.perf_counter_ns
    q: queue.Queue[int | None] = queue.Queue()
    outs: list[list[int]] = [[] for _ in range(streams.n)]
    errors: list[BaseException] = []
    items = int(next(iter(feeds.values())).shape[0]) if feeds else 1

    runs: list[Any] = [None] * streams.n  # each stream's bound call, made in its own thread

    def warm_up(i: int, session: Any) -> None:
        runs[i] = bound_run(session, feeds)
        for _ in range(config.warmup_iters):
            runs[i]()

    streams.run(warm_up)

    def serve(i: int, session: Any) -> None:
        run, out = runs[i], outs[i]
        try:
            while (arrived := q.get()) is not None:
                run()
                out.append(clock() - arrived)
        except BaseException as e:  # handed to the caller, which raises it: nothing is hidden
            errors.append(e)

    streams.submit(serve)
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
        for _ in range(streams.n):
            q.put(None)
        streams.wait()
    if errors:
        raise errors[0]
    return StreamsTiming([np.asarray(o, dtype=np.int64) for o in outs], items, (clock() - start) / 1e9,
                         streams.placement())


def server(open_session: OpenFn, feeds: Mapping[str, np.ndarray], config: BenchConfig, sc: ScenarioConfig,
           threads: int, seed: int = 0, deadline_ns: int | None = None,
           pin: Sequence[int] | None = None) -> tuple[StreamsTiming, dict[str, Any]]:
    """`--scenario server`: at `--qps`, or the highest rate whose p99 meets `--p99-ms`: the rate is doubled from a
    tenth of what the streams serve back to back while it meets the budget, then bisected (6 steps). The streams
    (`--streams`, pinned with `pin`) are created once and serve every rate tried."""
    n = sc.streams or 1
    block = sc.to_dict() | {"streams": n, "threads_per_stream": threads_per_stream(threads, n)}
    with open_streams(open_session, n, threads, pin) as pool:
        if sc.qps is not None:
            return run_server(pool, feeds, config, sc.qps, seed=seed, deadline_ns=deadline_ns), block
        return _server_search(pool, feeds, config, sc, block, seed, deadline_ns)


def _server_search(pool: StreamPool, feeds: Mapping[str, np.ndarray], config: BenchConfig, sc: ScenarioConfig,
                   block: dict[str, Any], seed: int,
                   deadline_ns: int | None) -> tuple[StreamsTiming, dict[str, Any]]:
    """`server --p99-ms`: the search for the highest rate within the budget, on `pool`'s streams."""
    budget = sc.p99_ms
    assert budget is not None
    tried: dict[float, tuple[StreamsTiming, float]] = {}

    def trial(rate: float) -> bool:
        t = run_server(pool, feeds, config, rate, seed=seed, deadline_ns=deadline_ns)
        p99 = float(np.percentile(t.pooled() / 1e6, 99))
        tried[rate] = (t, p99)
        return p99 <= budget

    back_to_back = run_streams(pool, feeds, config, deadline_ns=deadline_ns).items_per_s / max(1, next(
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
