"""Latency of several models measured in one process, interleaved round by round.

Comparing variants (FP32 vs INT8 presets) by ratios measured this way cancels most of the drift of
a shared machine: every round times each model once, in a rotating order, and the ratio is taken
per round before its median. Used by `make export` and `make bench-int8`.

With one thread, ONNX Runtime runs on the calling thread, so its CPU time (`time.thread_time_ns`)
is recorded too. On a busy machine wall time inflates runs longer than a scheduler slice far more
than short ones (measured here at load 10 on 2 cores: ResNet-56 FP32 6.9 ms wall for 2.9 ms of CPU,
its INT8 1.19 ms wall for 1.16 ms), which biases the wall-clock ratio upwards; the CPU-time ratio
is what an idle core would show.

Example::

    r = interleaved_latency({"fp32": fp32_path, "int8": int8_path}, threads=1, rounds=7, iters=30)
    r["int8"]["cpu_speedup_vs_first"]   # median over rounds of fp32 CPU ms / int8 CPU ms
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgebench.errors import UserInputError


def _time_runs(session: Any, feeds: Mapping[str, Any], iters: int) -> tuple[float, float]:
    """Median wall ms and median calling-thread CPU ms of `iters` runs."""
    wall, cpu = [], []
    run = session.run
    for _ in range(iters):
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        run(feeds)
        t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
        wall.append(t1 - t0)
        cpu.append(c1 - c0)
    return statistics.median(wall) / 1e6, statistics.median(cpu) / 1e6


def _ratios(first: list[float], other: list[float]) -> list[float]:
    return [a / b for a, b in zip(first, other, strict=True)]


def interleaved_latency(models: Mapping[str, Path], *, threads: int = 1, batch: int = 1, rounds: int = 7,
                        iters: int = 30, warmup: int = 10, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per model: median latency (wall, and CPU when threads == 1) and speed-ups against the first model."""
    from edgebench.bench.inputs import random_feeds
    from edgebench.runtimes import RuntimeOptions, get_runtime

    if not models:
        raise UserInputError("no models to time")
    if rounds < 1 or iters < 1 or threads < 1:
        raise UserInputError(f"rounds ({rounds}), iters ({iters}) and threads ({threads}) must be >= 1")
    rt = get_runtime("ort-cpu")
    opts = RuntimeOptions(intra_op_threads=threads, inter_op_threads=1)
    sessions = {k: rt.load(Path(p), opts) for k, p in models.items()}
    feeds = {}
    for k, s in sessions.items():
        shapes = [tuple(batch if not isinstance(d, int) or d < 1 else d for d in spec.shape) for spec in s.inputs]
        feeds[k] = random_feeds(s.inputs, shapes, seed)
        for _ in range(warmup):
            s.run(feeds[k])
    names = list(sessions)
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    for r in range(rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            sessions[k].run(feeds[k])  # one untimed run after switching models
            w, c = _time_runs(sessions[k], feeds[k], iters)
            wall[k].append(w)
            cpu[k].append(c)
    first = names[0]
    out: dict[str, dict[str, Any]] = {}
    for k in names:
        rw = _ratios(wall[first], wall[k])
        entry: dict[str, Any] = {
            "p50_ms": float(statistics.median(wall[k])),
            "round_p50_ms": wall[k],
            "speedup_vs_first": float(statistics.median(rw)),
            "speedup_min": float(min(rw)),
            "speedup_max": float(max(rw)),
            "threads": threads,
            "batch": batch,
            "rounds": rounds,
            "iters_per_round": iters,
            "loadavg_1min": load_before,
        }
        if threads == 1:
            rc = _ratios(cpu[first], cpu[k])
            entry.update({
                "cpu_p50_ms": float(statistics.median(cpu[k])),
                "cpu_speedup_vs_first": float(statistics.median(rc)),
                "cpu_speedup_min": float(min(rc)),
                "cpu_speedup_max": float(max(rc)),
            })
        out[k] = entry
    return out
