"""make bench-soak: a 100,000-iteration in-process measurement, watching resident memory.

Targets (issue 17): RSS growth over the timed loop < 1 %; peak RSS including the statistics
(summarize: percentiles and the CI of the median) < 1.2x the RSS after the model is loaded.
The figures come from the result's own memory block (`rss_loop_start_mb`, `rss_end_mb`) and the
process's high-water mark after the statistics. Exit 1 when a target is missed.

    .venv/bin/python scripts/soak.py [--iters 100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from edgebench.bench.harness import BenchConfig
from edgebench.bench.memory import peak_rss_hwm_mb
from edgebench.bench.runner import Job, run_job
from edgebench.tools.synthetic import conv_net

GROWTH_TARGET = 0.01
PEAK_TARGET = 1.2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=100_000)
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        model = conv_net(Path(d) / "soak.onnx")  # [N,3,16,16], two 8-channel convs: ~20 us a run
        cfg = BenchConfig(warmup_iters=100, min_iters=args.iters, max_iters=args.iters, min_seconds=0.0)
        job = Job(model=str(model), batch=1, bench=cfg.__dict__.copy(),
                  runtime_options={"intra_op_threads": 1, "spin_wait": False})
        t0 = time.perf_counter()
        result = run_job(job)
        seconds = time.perf_counter() - t0
    hwm = peak_rss_hwm_mb()  # after the statistics and the samples_ms list of the result
    mem, lat = result.memory.to_dict(), result.latency.to_dict()
    growth = (mem["rss_end_mb"] - mem["rss_loop_start_mb"]) / mem["rss_loop_start_mb"]
    peak_ratio = hwm / mem["rss_after_load_mb"]
    out = {
        "iters": len(lat["samples_ms"]), "seconds": round(seconds, 2), "p50_ms": lat["p50_ms"],
        "p50_ci95_ms": lat["p50_ci95_ms"], "rss_after_load_mb": mem["rss_after_load_mb"],
        "rss_loop_start_mb": mem["rss_loop_start_mb"], "rss_end_mb": mem["rss_end_mb"],
        "peak_rss_sampled_mb": mem["peak_rss_mb"], "peak_rss_hwm_after_stats_mb": hwm,
        "rss_growth_over_loop": growth, "peak_over_after_load": peak_ratio,
    }
    print(f"soak: {out['iters']} timed runs in {seconds:.1f} s (p50 {lat['p50_ms'] * 1000:.1f} us, "
          f"95% CI {lat['p50_ci95_ms'][0] * 1000:.1f}-{lat['p50_ci95_ms'][1] * 1000:.1f} us)")
    print(f"RSS after load {mem['rss_after_load_mb']:.1f} MB, loop start {mem['rss_loop_start_mb']:.1f} MB, "
          f"loop end {mem['rss_end_mb']:.1f} MB")
    print(f"RSS growth over the loop: {growth * 100:+.3f} %  target < {GROWTH_TARGET * 100:.0f} %")
    print(f"peak RSS incl. statistics: {hwm:.1f} MB = {peak_ratio:.3f}x the RSS after load  "
          f"target < {PEAK_TARGET}x")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0 if growth < GROWTH_TARGET and peak_ratio < PEAK_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
