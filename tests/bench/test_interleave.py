"""Interleaved latency: structure of the result (speed targets are checked by scripts, not tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.bench.interleave import interleaved_latency
from edgebench.errors import UserInputError
from edgebench.tools.synthetic import conv_net


def test_interleaved_latency_reports_wall_and_cpu(tmp_path: Path) -> None:
    a = conv_net(tmp_path / "a.onnx", size=16)
    b = conv_net(tmp_path / "b.onnx", size=32, channels=16)
    r = interleaved_latency({"a": a, "b": b}, threads=1, rounds=3, iters=5, warmup=1)
    assert list(r) == ["a", "b"]
    assert r["a"]["speedup_vs_first"] == 1.0 and r["a"]["cpu_speedup_vs_first"] == 1.0
    for v in r.values():
        assert len(v["round_p50_ms"]) == 3 and v["p50_ms"] > 0 and v["cpu_p50_ms"] > 0
        assert v["cpu_speedup_min"] <= v["cpu_speedup_vs_first"] <= v["cpu_speedup_max"]
    # the keys in the order the result JSON writes them (wall figures, settings, then the CPU figures)
    assert list(r["b"]) == ["p50_ms", "round_p50_ms", "ratio_vs_first", "speedup_vs_first", "speedup_min",
                            "speedup_max", "threads", "batch", "rounds", "iters_per_round", "loadavg_1min",
                            "cpu_p50_ms", "round_cpu_ms", "cpu_ratio_vs_first", "cpu_speedup_vs_first",
                            "cpu_speedup_min", "cpu_speedup_max"]
    two = interleaved_latency({"a": a}, threads=2, rounds=1, iters=2, warmup=0)
    assert "cpu_p50_ms" not in two["a"]  # the calling thread's CPU time means nothing with a thread pool


def test_interleaved_latency_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(UserInputError):
        interleaved_latency({})
    with pytest.raises(UserInputError):
        interleaved_latency({"a": conv_net(tmp_path / "a.onnx")}, rounds=0)
