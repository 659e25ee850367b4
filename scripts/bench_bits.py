"""make bench-bits: a fixed-point bit-width sweep through ORT QDQ types, with size, paired accuracy and latency.

Exports ResNet-56 (published weights) once, then runs `edgebench.bench.bits_sweep.sweep_bits` (the code behind
`edgebench sweep-bits`): weights 8/6/4 x activations 8/16 with preset `auto`, calibrated on 1000 train images
(seed 0), paired top-1 on the first 1000 test images, all settings timed against FP32 in one interleaved run
(ORT, 1 thread, batch 1, thread CPU time), and what ORT's CPU provider really computes with.

    .venv/bin/python scripts/bench_bits.py [--model resnet56] [--reuse] [--test-limit 1000]
Writes artifacts/bench-bits/sweep-bits.json (the models under artifacts/bench-bits/w{W}a{A}/).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from edgebench.bench.bits_sweep import BitsSweepConfig, format_table, ort_runs, sweep_bits
from edgebench.bench.fingerprint import host_isa_summary
from edgebench.calibration.datasets import load_dataset
from edgebench.calibration.recipes import resolve_preset
from edgebench.cpu import cpu_info

REPO = Path(__file__).resolve().parent.parent
EDGEBENCH = str(Path(sys.executable).parent / "edgebench")
__all__ = ["export", "ort_runs", "say"]  # bench_quant.py reuses these


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
    cpu = cpu_info()
    auto = resolve_preset("auto", cpu=cpu)
    fp32 = export(a.model, a.out / a.model, a.reuse)
    calib = load_dataset("cifar10:train").subset(a.calib_size, seed=0)
    test = load_dataset("cifar10:test").subset(a.test_limit)
    result = sweep_bits(fp32, calib, test, auto, a.out, BitsSweepConfig(rounds=a.rounds, iters=a.iters),
                        dataset_spec="cifar10:train", eval_spec="cifar10:test", seed=0, reuse=a.reuse, host=dict(cpu),
                        log=say)
    print(f"\nmake bench-bits: {a.model} on {host_isa_summary()}; preset {auto.preset}; load average "
          f"{result['latency']['loadavg_1min']:.1f}")
    print(format_table(result))
    print(f"wrote {a.out / 'sweep-bits.json'} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
