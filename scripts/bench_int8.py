"""make bench-int8: every INT8 preset (and the two naive recipes) against FP32, figures from one run.

- Speed: ResNet18-CIFAR (random weights; 0.56 GMAC) and ResNet-56, ORT 1 thread, batch 1, FP32 and every
  preset interleaved round by round in one process; speed-up = median over rounds of FP32 / INT8 in the
  thread's CPU time (wall clock shown too; it is inflated on a busy machine, see bench/interleave.py).
- Accuracy: ResNet-56 (published akamaster weights), calibrated on CIFAR-10 train images (seeded
  subset of train_first4000 / the train split), evaluated on the first 1000 test images; top-1 and
  the paired figures against FP32 (agreement, predictions flipped each way).
- Targets on this host: `auto` >= 2.0x faster than FP32 and <= 0.3 points top-1 drop on ResNet-56.

ARM presets are timed here too: that shows what they cost on this CPU, not on a Raspberry Pi.
Writes artifacts/bench-int8/results.json beside the models.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgebench.atomic import write_json
from edgebench.bench.fingerprint import host_isa_summary
from edgebench.bench.interleave import interleaved_latency
from edgebench.calibration.datasets import load_dataset
from edgebench.calibration.evaluate import evaluate
from edgebench.calibration.metrics import paired_metrics
from edgebench.calibration.quantize import quantize_static_model
from edgebench.calibration.recipes import PRESETS, resolve_preset
from edgebench.cpu import cpu_info

REPO = Path(__file__).resolve().parent.parent
EDGEBENCH = str(Path(sys.executable).parent / "edgebench")
SPEED_MODEL, ACC_MODEL = "resnet18_cifar", "resnet56"
TARGET_SPEEDUP, TARGET_DROP_PTS = 2.0, 0.3


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def export(name: str, out: Path, *extra: str) -> Path:
    say(f"[bench-int8] export {name} -> {out}")
    cmd = [EDGEBENCH, "export", name, "-o", str(out), "--force", "--parity-images", "200", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench-int8: `{' '.join(cmd)}` failed:\n{r.stderr.strip()}")
    return out / "model.fp32.onnx"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="INT8 presets vs FP32 (speed on ResNet18-CIFAR, accuracy on ResNet-56)")
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench-int8")
    ap.add_argument("--calib-size", type=int, default=1000, help="ResNet-56 calibration images (seed 0)")
    ap.add_argument("--speed-calib-size", type=int, default=200, help="ResNet18 calibration images (random weights)")
    ap.add_argument("--test-limit", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--reuse", action="store_true", help="Reuse exported FP32 models in --out if present")
    a = ap.parse_args(argv)
    t_start = time.time()

    cpu = cpu_info()
    auto = resolve_preset("auto", cpu=cpu)
    presets = PRESETS.names()

    fp32 = {}
    for name, extra in ((SPEED_MODEL, ("--random-init",)), (ACC_MODEL, ())):
        path = a.out / name / "model.fp32.onnx"
        fp32[name] = path if a.reuse and path.is_file() else export(name, a.out / name, *extra)

    train = load_dataset("cifar10:train")
    test = load_dataset("cifar10:test").subset(a.test_limit)
    int8: dict[str, dict[str, Path]] = {SPEED_MODEL: {}, ACC_MODEL: {}}
    manifests: dict[str, dict[str, Any]] = {SPEED_MODEL: {}, ACC_MODEL: {}}
    quant_s: dict[str, float] = {}
    for model, size in ((SPEED_MODEL, a.speed_calib_size), (ACC_MODEL, a.calib_size)):
        calib = train.subset(size, seed=0)
        for p in presets:
            say(f"[bench-int8] quantize {model} with {p} ({len(calib)} calibration images)")
            t = time.time()
            m = quantize_static_model(fp32[model], calib, resolve_preset(p), output=a.out / model / p,
                                      dataset_spec="cifar10:train", seed=0, force=True)
            if model == ACC_MODEL:
                quant_s[p] = time.time() - t
            int8[model][p] = a.out / model / p / "model.int8.onnx"
            manifests[model][p] = m.to_dict()

    say(f"[bench-int8] latency: {SPEED_MODEL} and {ACC_MODEL}, 1 thread, batch 1, {a.rounds} interleaved rounds")
    lat = {model: interleaved_latency({"fp32": fp32[model], **int8[model]}, threads=1, batch=1, rounds=a.rounds,
                                      iters=a.iters) for model in (SPEED_MODEL, ACC_MODEL)}

    say(f"[bench-int8] accuracy: {ACC_MODEL} on {len(test)} test images")
    base = evaluate(fp32[ACC_MODEL], test, threads=None)
    acc = {p: evaluate(int8[ACC_MODEL][p], test) for p in presets}
    paired = {p: paired_metrics(acc[p]["predictions"], base["predictions"], test.labels) for p in presets}

    # ---- the tables ----
    r18, r56 = lat[SPEED_MODEL], lat[ACC_MODEL]
    s18 = fp32[SPEED_MODEL].stat().st_size / 1e6
    s56 = fp32[ACC_MODEL].stat().st_size / 1e6
    naive = ("qdq-s8s8-tensor", "u8s8-reduce-range")

    def label(p: str) -> str:
        return p + (" (auto)" if p == auto.preset else "") + (" [naive]" if p in naive else "")

    print(f"\nmake bench-int8 on {host_isa_summary()}")
    print(f"auto picked '{auto.preset}': {auto.reason}")
    print(f"\nSpeed: ORT 1 thread, batch 1, {a.rounds} interleaved rounds x {a.iters} runs, load average "
          f"{r18['fp32']['loadavg_1min']:.1f}. 'x' = FP32 / INT8 in thread CPU time (median of per-round ratios), "
          "'x wall' = the same in wall-clock time (inflated on a busy machine, see bench/interleave.py).")
    hdr = (f"{'recipe':26s} | {'R18 CPU ms':>10s} {'x':>5s} {'x wall':>6s} {'MB':>6s} | "
           f"{'R56 CPU ms':>10s} {'x':>5s} {'x wall':>6s} {'MB':>5s}")
    print(hdr)
    print("-" * len(hdr))
    print(f"{'FP32':26s} | {r18['fp32']['cpu_p50_ms']:10.2f} {1:5.2f} {1:6.2f} {s18:6.2f} | "
          f"{r56['fp32']['cpu_p50_ms']:10.2f} {1:5.2f} {1:6.2f} {s56:5.2f}")
    for p in presets:
        print(f"{label(p):26s} | {r18[p]['cpu_p50_ms']:10.2f} {r18[p]['cpu_speedup_vs_first']:5.2f} "
              f"{r18[p]['speedup_vs_first']:6.2f} {int8[SPEED_MODEL][p].stat().st_size / 1e6:6.2f} | "
              f"{r56[p]['cpu_p50_ms']:10.2f} {r56[p]['cpu_speedup_vs_first']:5.2f} {r56[p]['speedup_vs_first']:6.2f} "
              f"{int8[ACC_MODEL][p].stat().st_size / 1e6:5.2f}")
    print(f"\nAccuracy: {ACC_MODEL} (published weights) on {len(test)} CIFAR-10 test images, calibrated on "
          f"{a.calib_size} train images (seed 0). +fix / -broke: images INT8 gets right / wrong that FP32 got "
          "wrong / right.")
    hdr = f"{'recipe':26s} | {'top-1 %':>7s} {'d pts':>6s} {'agree %':>7s} {'+fix':>5s} {'-broke':>6s} {'quant s':>7s}"
    print(hdr)
    print("-" * len(hdr))
    print(f"{'FP32':26s} | {base['top1_pct']:7.2f}")
    rows = []
    for p in presets:
        pm = paired[p]
        print(f"{label(p):26s} | {acc[p]['top1_pct']:7.2f} {pm['top1_delta_pts']:+6.2f} {pm['agreement_pct']:7.2f} "
              f"{pm['flipped_to_correct']:5d} {pm['flipped_to_wrong']:6d} {quant_s[p]:7.1f}")
        rows.append({"preset": p, "auto": p == auto.preset, "recipe": manifests[ACC_MODEL][p]["recipe"],
                     "speed_model": {**r18[p], "file_size_mb": int8[SPEED_MODEL][p].stat().st_size / 1e6},
                     "accuracy_model": {**r56[p], "file_size_mb": int8[ACC_MODEL][p].stat().st_size / 1e6,
                                        "top1_pct": acc[p]["top1_pct"], "top5_pct": acc[p]["top5_pct"],
                                        "paired": pm, "quantize_s": quant_s[p],
                                        "nodes": manifests[ACC_MODEL][p]["nodes"]}})
    au = r18[auto.preset]
    sp = au["cpu_speedup_vs_first"]
    drop = -paired[auto.preset]["top1_delta_pts"]
    ok_speed, ok_acc = sp >= TARGET_SPEEDUP, drop <= TARGET_DROP_PTS
    print(f"\ntarget: auto ({auto.preset}) on {SPEED_MODEL} >= {TARGET_SPEEDUP:.1f}x faster than FP32: "
          f"{sp:.2f}x CPU time (per-round {au['cpu_speedup_min']:.2f}..{au['cpu_speedup_max']:.2f}; wall clock "
          f"{au['speedup_vs_first']:.2f}x) {'MET' if ok_speed else 'MISSED'}")
    print(f"target: auto ({auto.preset}) on {ACC_MODEL} <= {TARGET_DROP_PTS:.1f} points top-1 drop: {drop:+.2f} points "
          f"(agreement {paired[auto.preset]['agreement_pct']:.1f} %) {'MET' if ok_acc else 'MISSED'}")
    print(f"(ARM presets are timed on this x86 host, not on a Pi; {len(test)} test images carry about "
          f"+/-{100 * (0.93 * 0.07 / len(test)) ** 0.5:.1f} points of sampling error on absolute top-1; the paired "
          "counts are exact)")
    write_json(a.out / "results.json", {
        "schema_version": 1, "kind": "edgebench.bench-int8", "host": cpu, "auto": auto.to_dict(),
        "fp32": {"speed_model": {**r18["fp32"], "file_size_mb": s18},
                 "accuracy_model": {**r56["fp32"], "file_size_mb": s56}, "top1_pct": base["top1_pct"]},
        "presets": rows, "targets": {"cpu_speedup": sp, "wall_speedup": au["speedup_vs_first"],
                                     "speedup_met": ok_speed, "top1_drop_pts": drop,
                                     "top1_drop_met": ok_acc},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
        "seconds": time.time() - t_start,
    })
    print(f"wrote {a.out / 'results.json'} ({time.time() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
