"""make bench-harness: edgebench's timing loop vs a bare `session.run` loop, interleaved, one process.

Prints the overhead ratio (harness median / bare median; target <= 1.01) and the start-up time
of `edgebench --help` (target <= 0.3 s). Ratios, not absolute times: this machine is noisy.

Then, on ResNet-20 (`artifacts/resnet20/model.fp32.onnx` from `make export`, or --model), at 1 thread
(issue #29 item 4; target: edgebench within 5 % of the runtime's own tool):
- OpenVINO at exact f32: edgebench (inputs bound once) vs a bare Python loop (set_input_tensor once, then
  infer()) vs `benchmark_app -api sync` (the Python benchmark_app the openvino wheel ships), interleaved;
- ONNX Runtime: edgebench vs a bare session.run loop vs onnxruntime_perf_test where it is on PATH (the pip
  wheel does not ship it);
and the cold start (process start -> session -> first result, load peak RSS) of ORT, OpenVINO and LiteRT
(the model's `litert/fp32/model.tflite` from `edgebench convert --runtime litert`), each in fresh processes.
About 1.5 min on an idle 2-core machine; --quick: 3 rounds, about 40 s.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
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
from edgebench.runtimes.ort.options import OrtCpuOptions
from edgebench.tools.peers import bench_app_command, run_bench_app
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("artifacts/resnet20/model.fp32.onnx"),
                    help="ResNet-20 FP32 ONNX (make export); its folder's litert/fp32/model.tflite for LiteRT")
    ap.add_argument("--quick", action="store_true", help="3 rounds instead of 7 (a loaded machine)")
    args = ap.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    synthetic()
    if args.model.is_file():
        rounds = 3 if args.quick else ROUNDS
        openvino_vs_peers(args.model, rounds)
        ort_vs_peers(args.model, rounds)
        cold_starts(args.model, 3)
    else:
        print(f"ResNet-20 comparisons skipped: {args.model} does not exist (make export, or --model PATH)")
    print(f"load average after : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


R20_ITERS = 300  # timed runs per round per loop (~0.3 s at 1 ms)
BENCH_APP_S = 1  # seconds of benchmark_app per round (plus its own start-up and compile)


def _ratios(name: str, ours: list[float], peer: list[float]) -> None:
    r = [a / b for a, b in zip(ours, peer, strict=True)]
    print(f"  edgebench / {name:<22}: {statistics.median(r):.4f}  per-round min..max {min(r):.4f}..{max(r):.4f}"
          "  target <= 1.05")


def _median_ms(cmd: list[str], pattern: str) -> float | None:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    m = re.search(pattern, out.stdout + out.stderr)
    if m is None:
        print(f"  {Path(cmd[0]).name} failed (exit {out.returncode}): {(out.stdout + out.stderr).strip()[-300:]}")
    return float(m.group(1)) if m else None


def _bench_app_median_ms(cmd: list[str]) -> float | None:
    """benchmark_app's median latency (its own timing of each infer); None, with its last lines, where it failed."""
    try:
        return run_bench_app(cmd).report.median_ms
    except ValueError as e:
        print(f"  {e}")
        return None


def openvino_vs_peers(model: Path, rounds: int) -> None:
    import openvino as ov
    from edgebench.runtimes.openvino.options import OpenVinoOptions
    from edgebench.runtimes.openvino.session import core_config

    opts = OpenVinoOptions(intra_op_threads=1)
    sess = get_runtime("openvino").load(model, opts)
    shape = (1, *sess.inputs[0].shape[1:])
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    feeds = {sess.inputs[0].name: x}
    req = ov.Core().compile_model(str(model), "CPU", core_config(opts)).create_infer_request()
    req.set_input_tensor(0, ov.Tensor(x, shared_memory=True))
    app = bench_app_command()
    app_cmd = None if app is None else [*app, "-m", str(model), "-d", "CPU", "-hint", "none", "-nstreams", "1",
                                        "-nthreads", "1", "-infer_precision", "f32", "-api", "sync", "-t",
                                        str(BENCH_APP_S), "-data_shape", str(list(shape)).replace(" ", "")]
    cfg = BenchConfig(warmup_iters=50, min_iters=R20_ITERS, min_seconds=0.0, max_iters=R20_ITERS)
    ours, bare, tool = [], [], []
    for r in range(rounds):
        order = ("ours", "bare", "tool") if r % 2 == 0 else ("tool", "bare", "ours")
        for which in order:
            if which == "ours":
                ours.append(statistics.median(measure(sess, feeds, cfg).samples_ns) / 1e6)
            elif which == "bare":
                for _ in range(50):
                    req.infer()
                t = []
                for _ in range(R20_ITERS):
                    t0 = time.perf_counter_ns()
                    req.infer()
                    t.append(time.perf_counter_ns() - t0)
                bare.append(statistics.median(t) / 1e6)
            elif app_cmd is not None:
                ms = _bench_app_median_ms(app_cmd)
                if ms is not None:
                    tool.append(ms)
    print(f"ResNet-20 FP32 on OpenVINO {ov.get_version()} CPU, f32, 1 thread, batch 1; {rounds} rounds x "
          f"{R20_ITERS} runs (benchmark_app: {BENCH_APP_S} s a round), order alternating")
    print(f"  edgebench (bound inputs)  median {statistics.median(ours):.3f} ms")
    print(f"  bare set_input_tensor + infer() {statistics.median(bare):.3f} ms")
    _ratios("bare Python loop", ours, bare)
    if app_cmd is None:
        print("  benchmark_app: not installed here (skipped)")
    elif len(tool) != len(ours):
        print(f"  benchmark_app: gave no 'Median' line in {len(ours) - len(tool)} of {len(ours)} rounds (skipped)")
    else:
        print(f"  benchmark_app -api sync    median {statistics.median(tool):.3f} ms (its own C++ timing of each "
              "infer, Python benchmark_app of the openvino wheel; -data_shape on the dynamic-batch model)")
        _ratios("benchmark_app", ours, tool)


def ort_vs_peers(model: Path, rounds: int) -> None:
    import onnxruntime as ort

    sess = get_runtime("ort-cpu").load(model, OrtCpuOptions(intra_op_threads=1))
    shape = (1, *sess.inputs[0].shape[1:])
    feeds = {sess.inputs[0].name: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}
    cfg = BenchConfig(warmup_iters=50, min_iters=R20_ITERS, min_seconds=0.0, max_iters=R20_ITERS)
    ours, bare = [], []
    for r in range(rounds):
        for which in (("ours", "bare") if r % 2 == 0 else ("bare", "ours")):
            if which == "ours":
                ours.append(statistics.median(measure(sess, feeds, cfg).samples_ns) / 1e6)
            else:
                bare.append(statistics.median(bare_loop(sess.ort_session, feeds, R20_ITERS)) / 1e6)
    print(f"ResNet-20 FP32 on ONNX Runtime {ort.__version__} CPU, 1 thread, batch 1; {rounds} rounds x "
          f"{R20_ITERS} runs, order alternating")
    print(f"  edgebench (IOBinding)     median {statistics.median(ours):.3f} ms")
    print(f"  bare session.run loop     median {statistics.median(bare):.3f} ms")
    _ratios("bare session.run", ours, bare)
    if shutil.which("onnxruntime_perf_test") is None:
        print("  onnxruntime_perf_test: not on PATH (the onnxruntime pip wheel does not ship it; skipped)")
    else:
        ms = _median_ms(["onnxruntime_perf_test", "-e", "cpu", "-x", "1", "-t", str(BENCH_APP_S * rounds),
                         "-I", str(model)], r"P50 Latency:\s+([0-9.e-]+) s")
        print(f"  onnxruntime_perf_test p50 {ms * 1e3:.3f} ms (one run after the rounds, not interleaved)"
              if ms is not None else "  onnxruntime_perf_test: no 'P50 Latency' line (skipped)")


def cold_starts(model: Path, reps: int) -> None:
    from edgebench.bench.runner import Job, run_job_isolated

    tflite = model.parent / "litert" / "fp32" / "model.tflite"
    jobs = {"ort-cpu": model, "openvino": model, "litert": tflite}
    fields = ("process_to_session_ms", "session_to_first_result_ms", "total_ms", "load_peak_rss_mb")
    got: dict[str, list[dict[str, float]]] = {k: [] for k in jobs}
    for _ in range(reps):  # interleaved: each repetition starts every runtime once
        for name, path in jobs.items():
            if not path.is_file():
                continue
            rt_opts = get_runtime(name).Options(intra_op_threads=1)
            bench = {"warmup_iters": 0, "min_iters": 1, "min_seconds": 0.0}
            got[name].append(run_job_isolated(Job(model=str(path), runtime=name, options=rt_opts,
                                                  bench=bench)).to_dict()["cold_start"])
    print(f"cold start, ResNet-20 FP32, 1 thread, a fresh process each (median of {reps}, interleaved)")
    print("  runtime    process->session ms  session->first result ms  total ms  load peak RSS MB")
    for name, runs in got.items():
        if not runs:
            print(f"  {name:<10} skipped: {jobs[name]} does not exist (edgebench convert --runtime {name})")
            continue
        med = {f: statistics.median(r[f] for r in runs) for f in fields}
        print(f"  {name:<10} {med[fields[0]]:19.1f}  {med[fields[1]]:24.2f}  {med[fields[2]]:8.1f}  "
              f"{med[fields[3]]:16.1f}")


def synthetic() -> None:
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


if __name__ == "__main__":
    sys.exit(main())
