"""OpenVINO's benchmark_app as a peer of edgebench's loops (scripts/bench_harness.py, scripts/bench_scenarios.py):
where it is, one run of it with the CPU its timed loop used, and what its report says.

Example::

    cmd = bench_app_command()  # None where openvino is not installed
    run = run_bench_app([*cmd, "-m", "model.onnx", "-hint", "throughput", "-t", "2"])
    run.report.throughput_fps, run.report.streams, run.cpu_cores
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# benchmark_app's INFERENCE_PRECISION_HINT as it prints it -> the value of its -infer_precision
_PRECISIONS = {"float32": "f32", "f32": "f32", "bfloat16": "bf16", "bf16": "bf16", "float16": "f16", "f16": "f16"}
_UNIT_MS = {"ms": 1.0, "us": 1e-3}


def bench_app_command() -> list[str] | None:
    """benchmark_app beside this Python (.venv/bin), on PATH, or the openvino wheel's module; None without it."""
    beside = Path(sys.executable).parent / "benchmark_app"
    if beside.is_file():
        return [str(beside)]
    if shutil.which("benchmark_app"):
        return ["benchmark_app"]
    try:
        import openvino.tools.benchmark.main  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-c", "import sys; from openvino.tools.benchmark.main import main; "
            "sys.argv[0] = 'benchmark_app'; sys.exit(main())"]


@dataclass(frozen=True)
class BenchAppReport:
    """What one benchmark_app run printed: its throughput (items/s: FPS counts a batch's items), the timed loop's
    iterations and duration, the median latency, and the configuration its hint chose (None where not printed)."""

    throughput_fps: float
    count: int
    duration_ms: float
    median_ms: float | None
    streams: int | None
    threads: int | None
    requests: int | None
    inference_precision: str | None
    inference_only: bool | None

    def __post_init__(self) -> None:
        if not (self.throughput_fps > 0 and self.count > 0 and self.duration_ms > 0):
            raise ValueError(f"benchmark_app reported {self.throughput_fps} FPS over {self.count} iterations in "
                             f"{self.duration_ms} ms: not a measurement")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _find(pattern: str, text: str) -> re.Match[str] | None:
    return re.search(pattern, text, re.MULTILINE)


def parse_bench_app(text: str) -> BenchAppReport:
    """benchmark_app's console report (Python or C++ benchmark_app, OpenVINO 2023-2026) -> `BenchAppReport`;
    ValueError, with the end of the text, where its Throughput / Count / Duration lines are missing."""
    tput = _find(r"Throughput:\s+([0-9.]+) FPS", text)
    count = _find(r"Count:\s+([0-9]+) iterations", text)
    duration = _find(r"Duration:\s+([0-9.]+) ms", text)
    if tput is None or count is None or duration is None:
        tail = " | ".join(ln.strip() for ln in text.strip().splitlines()[-4:])
        raise ValueError(f"benchmark_app printed no Throughput / Count / Duration lines (it failed?): ...{tail[-400:]}")
    median = _find(r"Median:\s+([0-9.]+) (ms|us)", text)
    streams = _find(r"^\[ INFO \]\s+NUM_STREAMS: ([0-9]+)", text)
    threads = _find(r"^\[ INFO \]\s+INFERENCE_NUM_THREADS: ([0-9]+)", text)
    requests = _find(r"Measuring performance \(.*?([0-9]+) inference requests?", text)
    precision = _find(r"^\[ INFO \]\s+INFERENCE_PRECISION_HINT: (?:<Type: ')?([a-z0-9]+)", text)
    mode = _find(r"Benchmarking in (inference only|full) mode", text)
    return BenchAppReport(
        throughput_fps=float(tput.group(1)), count=int(count.group(1)), duration_ms=float(duration.group(1)),
        median_ms=float(median.group(1)) * _UNIT_MS[median.group(2)] if median else None,
        streams=int(streams.group(1)) if streams else None, threads=int(threads.group(1)) if threads else None,
        requests=int(requests.group(1)) if requests else None,
        inference_precision=_PRECISIONS.get(precision.group(1), precision.group(1)) if precision else None,
        inference_only=mode.group(1) == "inference only" if mode else None)


@dataclass(frozen=True)
class BenchAppRun:
    """One benchmark_app run: its report, and the CPU cores its process used during its timed loop (CPU seconds
    per wall second from its "First inference took" line to its "[Step 11/11]" line; None where /proc or those
    lines are missing, or where that window is more than 10 % off the Duration it reports: buffered output)."""

    report: BenchAppReport
    cpu_cores: float | None
    output: str


def _cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_bench_app(cmd: list[str], timeout_s: float = 300.0) -> BenchAppRun:
    """Run benchmark_app (`cmd`: `bench_app_command()` and its arguments), reading its output line by line to take
    its CPU time at the start and end of the timed loop; ValueError where it printed no report."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the Python benchmark_app's lines as they are printed
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    killer = threading.Timer(timeout_s, proc.kill)
    killer.start()
    lines: list[str] = []
    marks: list[tuple[float, float | None]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "First inference took" in line or line.startswith("[Step 11/11]"):
                marks.append((time.perf_counter(), _cpu_s(proc.pid)))
            lines.append(line)
        proc.wait()
    finally:
        killer.cancel()
    text = "".join(lines)
    report = parse_bench_app(text)
    cores = None
    if len(marks) == 2 and marks[0][1] is not None and marks[1][1] is not None:
        wall = marks[1][0] - marks[0][0]
        if wall > 0 and abs(wall * 1e3 / report.duration_ms - 1) <= 0.1:
            cores = (marks[1][1] - marks[0][1]) / wall
    return BenchAppRun(report, cores, text)
