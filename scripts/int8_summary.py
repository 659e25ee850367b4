"""`make export`, last step: FP32 vs INT8 of one model folder: file size, latency ratio, top-1 (paired).

Usage: python scripts/int8_summary.py artifacts/resnet20 [--data cifar10:test] [--limit 1000]

Latency: ORT, 1 thread, batch 1, both models interleaved in one process (ratios, not absolute times);
the speed-up is taken from the thread's CPU time (robust on a shared machine), wall clock shown too.
Accuracy: both models on the same images, with the paired figures (agreement, flips each way).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgebench.bench.interleave import interleaved_latency
from edgebench.calibration.evaluate import evaluate_pair
from edgebench.errors import EdgebenchError
from edgebench.manifest import load_manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--data", default="cifar10:test")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=30)
    a = ap.parse_args(argv)
    fp32, int8 = a.folder / "model.fp32.onnx", a.folder / "model.int8.onnx"
    try:
        m8 = load_manifest(a.folder / "model.int8.json")
        acc = evaluate_pair(int8, fp32, a.data, limit=a.limit)
        lat = interleaved_latency({"fp32": fp32, "int8": int8}, threads=1, batch=1, rounds=a.rounds, iters=a.iters)
    except EdgebenchError as e:
        print(f"int8_summary: error: {e}", file=sys.stderr)
        return e.exit_code
    p = acc["paired"]
    size32, size8 = m8["parent_file_size_mb"], m8["file_size_mb"]
    pr = m8["preset"]
    print(f"\n{m8.get('name', a.folder.name)}: FP32 vs INT8 (preset {pr['preset']}: {pr['reason']})")
    f, i = lat["fp32"], lat["int8"]
    print(f"  {'':6s} {'size MB':>9s} {'CPU ms':>8s} {'wall ms':>8s} {'top-1 %':>8s}   (1 thread, batch 1)")
    print(f"  {'FP32':6s} {size32:9.3f} {f['cpu_p50_ms']:8.3f} {f['p50_ms']:8.3f} {acc['baseline']['top1_pct']:8.2f}")
    print(f"  {'INT8':6s} {size8:9.3f} {i['cpu_p50_ms']:8.3f} {i['p50_ms']:8.3f} {acc['model']['top1_pct']:8.2f}")
    print(f"  INT8 is {size32 / size8:.2f}x smaller and {i['cpu_speedup_vs_first']:.2f}x faster in thread CPU time "
          f"(per-round {i['cpu_speedup_min']:.2f}..{i['cpu_speedup_max']:.2f}; "
          f"wall clock {i['speedup_vs_first']:.2f}x; "
          f"{a.rounds} interleaved rounds, load average {f['loadavg_1min']:.1f})")
    print(f"  top-1 {p['top1_delta_pts']:+.2f} points on {p['n']} images of {acc['model']['dataset']}; "
          f"agreement {p['agreement_pct']:.1f} %, flipped to correct {p['flipped_to_correct']}, "
          f"to wrong {p['flipped_to_wrong']}")
    n = m8["nodes"]
    print(f"  {n['int8']} nodes INT8, {n['float']} float; calibrated on {m8['calibration']['size']} images of "
          f"{m8['calibration']['dataset']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
