"""benchmark_app's report read back (edgebench.tools.peers), on its captured output (OpenVINO 2026.4's Python
benchmark_app, -hint throughput, ResNet-20), and the CPU of its timed loop taken from a fake benchmark_app."""

from __future__ import annotations

import sys

import pytest
from edgebench.tools.peers import parse_bench_app, run_bench_app

THROUGHPUT_RUN = """[Step 8/11] Querying optimal runtime parameters
[ INFO ] Model:
[ INFO ]   NETWORK_NAME: onnx_Frontend_IR
[ INFO ]   OPTIMAL_NUMBER_OF_INFER_REQUESTS: 2
[ INFO ]   NUM_STREAMS: 2
[ INFO ]   INFERENCE_NUM_THREADS: 2
[ INFO ]   PERF_COUNT: NO
[ INFO ]   INFERENCE_PRECISION_HINT: <Type: 'float32'>
[ INFO ]   PERFORMANCE_HINT: THROUGHPUT
[Step 9/11] Creating infer requests and preparing input tensors
[Step 10/11] Measuring performance (Start inference asynchronously, 2 inference requests, limits: 2000 ms duration)
[ INFO ] Benchmarking in inference only mode (inputs filling are not included in measurement loop).
[ INFO ] First inference took 21.82 ms
[Step 11/11] Dumping statistics report
[ INFO ] Execution Devices:['CPU']
[ INFO ] Count:            4528 iterations
[ INFO ] Duration:         2001.23 ms
[ INFO ] Latency:
[ INFO ]    Median:        732.98 us
[ INFO ]    Average:       0.81 ms
[ INFO ] Throughput:   2262.61 FPS
"""

FAILED_RUN = """[Step 1/11] Parsing and validating input arguments
[ ERROR ] -nstreams, -nthreads and -pin options are fine tune options. To use them you should explicitely set -hint
Exception: -nstreams, -nthreads and -pin options are fine tune options.
"""


def test_parses_throughput_count_duration_and_the_configuration_the_hint_chose() -> None:
    r = parse_bench_app(THROUGHPUT_RUN)
    assert (r.throughput_fps, r.count, r.duration_ms) == (2262.61, 4528, 2001.23)
    assert r.median_ms == pytest.approx(0.73298)  # printed in us below 1 ms
    assert (r.streams, r.threads, r.requests, r.inference_precision, r.inference_only) == (2, 2, 2, "f32", True)
    full = parse_bench_app(THROUGHPUT_RUN.replace("732.98 us", "1.16 ms").replace("inference only", "full")
                           .replace("<Type: 'float32'>", "<Type: 'bfloat16'>"))
    assert (full.median_ms, full.inference_only, full.inference_precision) == (1.16, False, "bf16")


def test_a_run_without_its_report_is_refused_with_its_last_lines() -> None:
    with pytest.raises(ValueError, match=r"no Throughput / Count / Duration.*fine tune options"):
        parse_bench_app(FAILED_RUN)
    with pytest.raises(ValueError, match="not a measurement"):
        parse_bench_app(THROUGHPUT_RUN.replace("Count:            4528", "Count:            0"))


def _fake(duration_ms: float) -> list[str]:
    """A benchmark_app that prints the report around 0.5 s of busy loop, claiming `duration_ms`."""
    before, after = THROUGHPUT_RUN.split("[Step 11/11]")
    after = after.replace("2001.23 ms", f"{duration_ms:.2f} ms")
    code = (f"import sys, time; sys.stdout.write({before!r}); sys.stdout.flush(); t = time.perf_counter()\n"
            f"while time.perf_counter() - t < 0.5: pass\nsys.stdout.write('[Step 11/11]' + {after!r})")
    return [sys.executable, "-c", code]


def test_the_cpu_of_the_timed_loop_is_read_only_when_the_window_matches_its_duration() -> None:
    run = run_bench_app(_fake(500.0))
    assert run.report.throughput_fps == 2262.61 and "[Step 11/11]" in run.output
    assert run.cpu_cores is not None and 0.0 < run.cpu_cores <= 1.1  # one busy thread: at most one core
    assert run_bench_app(_fake(2001.23)).cpu_cores is None  # 0.5 s seen, 2 s claimed: the lines came late
