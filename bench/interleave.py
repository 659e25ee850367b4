"""Latency of several models measured in one process, interleaved round by round.

Comparing variants (FP32 vs INT8 presets) by ratios measured this way cancels most of the drift of
a shared, noisy machine: every round times each model once, in a rotating order, and the ratio is
taken per round before its median. Used by `make export` and `make bench-int8`.

Example::

    r = interleaved_latency({"fp32": fp32_path, "int8": int8_path}, threads=1, rounds=7, iters=30)
    r["int8"]["speedup_vs_first"]   # median over rounds of fp32_ms / int8_ms
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runtimes.errors import UserInputError


def interleaved_latency(models: Mapping[str, Path], *, threads: int = 1, batch: int = 1, rounds: int = 7,
                        iters: int = 30, warmup: int = 10, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Median latency per model and its speed-up against the first model (per-round ratios, then median)."""
    from bench.harness import BenchConfig, measure
    from bench.inputs import random_feeds
    from runtimes import RuntimeOptions, get_runtime

    if not models:
        raise UserInputError("no models to time")
    if rounds < 1 or iters < 1:
        raise UserInputError(f"rounds ({rounds}) and iters ({iters}) must be >= 1")
    rt = get_runtime("ort-cpu")
    opts = RuntimeOptions(intra_op_threads=threads, inter_op_threads=1)
    sessions = {k: rt.load(Path(p), opts) for k, p in models.items()}
    feeds = {}
    for k, s in sessions.items():
        shapes = [tuple(batch if not isinstance(d, int) or d < 1 else d for d in spec.shape) for spec in s.inputs]
        feeds[k] = random_feeds(s.inputs, shapes, seed)
    first_cfg = BenchConfig(warmup_iters=warmup, min_iters=iters, min_seconds=0.0, max_iters=iters)
    cfg = BenchConfig(warmup_iters=2, min_iters=iters, min_seconds=0.0, max_iters=iters)
    names = list(sessions)
    per_round: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            t = measure(sessions[k], feeds[k], first_cfg if r == 0 else cfg)
            per_round[k].append(statistics.median(t.samples_ns) / 1e6)
    first = names[0]
    out: dict[str, dict[str, Any]] = {}
    for k in names:
        ratios = [a / b for a, b in zip(per_round[first], per_round[k], strict=True)]
        out[k] = {
            "p50_ms": float(statistics.median(per_round[k])),
            "round_p50_ms": per_round[k],
            "speedup_vs_first": float(statistics.median(ratios)),
            "speedup_min": float(min(ratios)),
            "speedup_max": float(max(ratios)),
            "threads": threads,
            "batch": batch,
            "rounds": rounds,
            "iters_per_round": iters,
        }
    return out
