"""Batch-1 latency of ONNX Runtime sessions, interleaved (shared by the latency table and prune's check).

Example::

    ms = time_sessions({"a": ort_session("a.onnx", 1), "b": ort_session("b.onnx", 1)})   # median ms per run
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def ort_session(model: bytes | str, threads: int) -> Any:
    from edgebench.runtimes.ort.options import cpu_session

    return cpu_session(model, intra_op_threads=threads, inter_op_threads=1)


def random_inputs(sess: Any) -> dict[str, np.ndarray]:
    i = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in i.shape]
    return {i.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}


def time_sessions(sessions: Mapping[str, Any], *, rounds: int = 7, min_round_s: float = 0.02) -> dict[str, float]:
    """Median ms per run of each session over interleaved rounds (each round runs >= `min_round_s`)."""
    feeds = {k: random_inputs(s) for k, s in sessions.items()}
    runs: dict[str, int] = {}
    for k, s in sessions.items():
        for _ in range(3):
            s.run(None, feeds[k])
        t0 = time.perf_counter()
        s.run(None, feeds[k])
        runs[k] = max(3, int(min_round_s / max(time.perf_counter() - t0, 1e-6)))
    samples: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(rounds):
        for k, s in sessions.items():
            t0 = time.perf_counter_ns()
            for _ in range(runs[k]):
                s.run(None, feeds[k])
            samples[k].append((time.perf_counter_ns() - t0) / runs[k] / 1e6)
    return {k: float(np.median(v)) for k, v in samples.items()}


def measure_model_ms(model_onnx: Path, threads: int = 1, rounds: int = 7) -> float:
    """Median batch-1 latency (ms) of one ONNX model at `threads`."""
    return time_sessions({"m": ort_session(str(model_onnx), threads)}, rounds=rounds, min_round_s=0.1)["m"]
