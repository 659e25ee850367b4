"""make bench-bits: a fixed-point bit-width sweep through ORT QDQ types, with size, paired accuracy and latency.

Settings (weights / activations): 8/8 (the `auto` preset), 6/8 (int8 storage, values in [-31, 31]),
4/8 (int4 weights, opset 21), 8/16 and 4/16 (int16/uint16 activations). Each is a static QDQ model
calibrated like `auto` (same images), evaluated on the first 1000 CIFAR-10 test images paired with FP32, and
timed against FP32 in one interleaved run (ORT, 1 thread, batch 1, thread CPU time). The table also says what
ORT's CPU provider really computes with (`calibration.bits.executed_ops`): its kernels are 8-bit, so 4-bit
weights and 16-bit activations run as DequantizeLinear -> float Conv, i.e. smaller or finer but not faster.

    .venv/bin/python scripts/bench_bits.py [--model resnet56] [--reuse] [--test-limit 1000]
Writes artifacts/bench-bits/results.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgebench.atomic import write_json
from edgebench.bench.evaluate import evaluate, paired_metrics
from edgebench.bench.fingerprint import cpu_info, host_isa_summary
from edgebench.bench.interleave import interleaved_latency
from edgebench.calibration.bits import gzip_size_mb
from edgebench.calibration.datasets import load_dataset
from edgebench.calibration.quantize import quantize_static_model
from edgebench.calibration.recipes import resolve_preset

REPO = Path(__file__).resolve().parent.parent
EDGEBENCH = str(Path(sys.executable).parent / "edgebench")
SETTINGS = ((8, 8), (6, 8), (4, 8), (8, 16), (4, 16))


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def export(name: str, out: Path, reuse: bool) -> Path:
    path = out / "model.fp32.onnx"
    if reuse and path.is_file():
        return path
    say(f"[bench] export {name} -> {out}")
    cmd = [EDGEBENCH, "export", name, "-o", str(out), "--force", "--parity-images", "200"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed:\n{r.stderr.strip()}")
    return path


def ort_runs(nodes: dict[str, Any]) -> str:
    e = nodes.get("ort_cpu")
    if e is None:
        return "INT8 kernels"
    flt = ", ".join(f"{k} x{v}" for k, v in e["float_compute"].items() if k in ("Conv", "Gemm", "MatMul"))
    return "INT8 kernels" if e["all_integer"] else f"float on DQ ({flt})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="bit-width sweep: weights 8/6/4, activations 8/16, through ORT QDQ")
    ap.add_argument("--model", default="resnet56")
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench-bits")
    ap.add_argument("--calib-size", type=int, default=1000)
    ap.add_argument("--test-limit", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--reuse", action="store_true", help="reuse models already in --out")
    a = ap.parse_args(argv)
    t0 = time.time()
    cpu = cpu_info()
    auto = resolve_preset("auto", cpu=cpu)
    fp32 = export(a.model, a.out / a.model, a.reuse)
    calib = load_dataset("cifar10:train").subset(a.calib_size, seed=0)
    test = load_dataset("cifar10:test").subset(a.test_limit)
    models: dict[str, Path] = {}
    manifests: dict[str, dict[str, Any]] = {}
    for w, act in SETTINGS:
        key = f"w{w}a{act}"
        out = a.out / a.model / key / "model.int8.onnx"
        if not (a.reuse and out.is_file()):
            say(f"[bench-bits] quantize {a.model} {key} ({auto.preset})")
            choice = replace(auto, recipe=auto.recipe.with_overrides(weight_bits=w, activation_bits=act))
            quantize_static_model(fp32, calib, choice, output=out, dataset_spec="cifar10:train", seed=0, force=True)
        models[key] = out
        from edgebench.manifest import load_manifest

        manifests[key] = load_manifest(out.with_suffix(".json"))
    say(f"[bench-bits] accuracy on {len(test)} test images")
    base = evaluate(fp32, test)
    acc = {k: evaluate(p, test) for k, p in models.items()}
    paired = {k: paired_metrics(acc[k]["predictions"], base["predictions"], test.labels) for k in models}
    say(f"[bench-bits] latency: {a.rounds} interleaved rounds x {a.iters} runs, 1 thread, batch 1")
    lat = interleaved_latency({"fp32": fp32, **models}, threads=1, batch=1, rounds=a.rounds, iters=a.iters)

    print(f"\nmake bench-bits: {a.model} on {host_isa_summary()}; preset {auto.preset}; load average "
          f"{lat['fp32']['loadavg_1min']:.1f}")
    print(f"accuracy: {len(test)} CIFAR-10 test images, paired with FP32; latency: ORT 1 thread, batch 1, thread CPU "
          "time, ratio = FP32 / setting (median of per-round ratios)")
    hdr = (f"{'w/a bits':9s} {'ONNX types (w, a)':18s} | {'MB':>6s} {'gzip MB':>7s} | {'top-1':>6s} {'d pts':>6s} "
           f"{'agree':>6s} | {'CPU ms':>7s} {'x FP32':>6s} | ORT CPU runs")
    print(hdr)
    print("-" * len(hdr))
    print(f"{'FP32':9s} {'float, float':18s} | {fp32.stat().st_size / 1e6:6.3f} {gzip_size_mb(fp32):7.3f} | "
          f"{base['top1_pct']:6.2f} {'':>6s} {'':>6s} | {lat['fp32']['cpu_p50_ms']:7.2f} {1:6.2f} | float")
    rows = []
    for (w, act), (k, p) in zip(SETTINGS, models.items(), strict=True):
        m = manifests[k]
        types = f"{','.join(m['nodes']['weight_types'])}, {','.join(m['nodes']['activation_types'])}"
        pm = paired[k]
        print(f"{w}/{act:<7d} {types:18s} | {p.stat().st_size / 1e6:6.3f} {gzip_size_mb(p):7.3f} | "
              f"{acc[k]['top1_pct']:6.2f} {pm['top1_delta_pts']:+6.2f} {pm['agreement_pct']:6.1f} | "
              f"{lat[k]['cpu_p50_ms']:7.2f} {lat[k]['cpu_speedup_vs_first']:6.2f} | {ort_runs(m['nodes'])}")
        rows.append({"weight_bits": w, "activation_bits": act, "file_size_mb": p.stat().st_size / 1e6,
                     "gzip_mb": gzip_size_mb(p), "top1_pct": acc[k]["top1_pct"], "paired": pm, "latency": lat[k],
                     "nodes": m["nodes"], "recipe": m["recipe"]})
    print("(6-bit weights are int8 tensors holding [-31, 31]: the file is not smaller, gzip is; 4-bit weights are "
          "packed int4 (opset 21). ORT's CPU INT8 kernels take 8-bit inputs only.)")
    write_json(a.out / "results.json", {
        "schema_version": 1, "kind": "edgebench.bench-bits", "host": cpu, "model": a.model, "preset": auto.to_dict(),
        "fp32": {"top1_pct": base["top1_pct"], "latency": lat["fp32"], "file_size_mb": fp32.stat().st_size / 1e6},
        "settings": rows, "args": {k: str(v) for k, v in vars(a).items()}, "seconds": time.time() - t0})
    print(f"wrote {a.out / 'results.json'} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
