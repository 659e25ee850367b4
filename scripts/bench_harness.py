"""make bench-harness: edgebench's timing loop vs a bare `session.run` loop, interleaved, one process.

Prints the overhead ratio (harness median / bare median; target <= 1.01) and the start-up time
of `edgebench --help` (target <= 0.3 s). Ratios, not absolute times: this machine is noisy.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from edgebench.bench.harness import BenchConfig, measure
from edgebench.bench.memory import RssSampler
from edgebench.runtimes import get_runtime
from edgebench.runtimes.options import OrtCpuOptions
from edgebench.tools.synthetic import conv_net

ROUNDS = 7
ITERS = 40


def bare_loop(ort_session, feeds: dict[str, np.ndarray], n: int) -> list[int]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        ort_session.run(None, feeds)
        out.append(time.perf_counter_ns() - t0)
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        model = conv_net(Path(d) / "harness.onnx", size=128, channels=64, n_convs=4)
        sess = get_runtime("ort-cpu").load(model, OrtCpuOptions(intra_op_threads=1))
        x = np.random.default_rng(0).standard_normal((1, 3, 128, 128), dtype=np.float32)
        feeds = {"input": x}
        for _ in range(10):
            sess.run(feeds)
        cfg = BenchConfig(warmup_iters=0, min_iters=ITERS, min_seconds=0.0, max_iters=ITERS)
        harness_med, bare_med = [], []
        for r in range(ROUNDS):
            order = ("harness", "bare") if r % 2 == 0 else ("bare", "harness")
            for which in order:
                if which == "harness":
                    with RssSampler():
                        t = measure(sess, feeds, cfg)
                    harness_med.append(statistics.median(t.samples_ns))
                else:
                    bare_med.append(statistics.median(bare_loop(sess.ort_session, feeds, ITERS)))
    h, b = statistics.median(harness_med), statistics.median(bare_med)
    print(f"model: synthetic conv net 3x128x128, 4 convs x 64 ch, ORT 1 thread; {ROUNDS} rounds x {ITERS} runs")
    print(f"bare session.run median   : {b / 1e6:8.3f} ms")
    print(f"edgebench harness median  : {h / 1e6:8.3f} ms  (with the RSS sampler on)")
    ratios = [hh / bb for hh, bb in zip(harness_med, bare_med, strict=True)]
    print(f"overhead ratio (harness/bare): {h / b:.4f}  per-round min..max {min(ratios):.4f}..{max(ratios):.4f}"
          "  target <= 1.01")

    exe = Path(sys.executable).parent / "edgebench"
    times, cpu = [], []
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([str(exe), "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    # CPU time (user + system) is what the start-up costs; wall time adds whatever else the shared machine runs
    load = os.getloadavg()[0]
    print(f"edgebench --help start-up : median {statistics.median(times):.3f} s wall, "
          f"{statistics.median(cpu):.3f} s CPU over 5 runs (load average {load:.1f})  target <= 0.3 s")
    heavy = subprocess.run([sys.executable, "-c", "import sys, edgebench.cli.main; print(','.join(m for m in "
                            "('torch', 'onnxruntime', 'numpy') if m in sys.modules))"],
                           check=True, capture_output=True, text=True).stdout.strip()
    print(f"modules torch/onnxruntime/numpy imported by the CLI: {heavy or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
