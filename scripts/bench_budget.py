"""make bench-budget: accuracy-aware PTQ (`--accuracy-budget 0.3`) on ResNet-20, ResNet-56 and a user model.

For each model: FP32 top-1 on the first 1000 CIFAR-10 test images; static INT8 with preset `auto` (1000
calibration train images, seed 0) and its paired drop; the accuracy-aware INT8 with a budget of 0.3 points
measured on the same test images (`calibration.accuracy_aware`, what `edgebench quantize --accuracy-budget 0.3
--eval-data cifar10` runs): its drop, the nodes kept float or at 8 bits and why; file sizes; and FP32 / auto /
budgeted timed in one interleaved run (ORT, 1 thread, batch 1, thread CPU time).

The user model is a `--model-file` network trained here, briefly (8 epochs, one thread, from an init drawn
with seed 0: reproducible),
on the 4000 shared training images (`edgebench train --model-file scripts/user_net.py:build --input-like
resnet20`), then exported: `scripts/user_net.py` (two stems concatenated, inverted residual blocks with
depthwise convs, hardswish and squeeze-excite), the user model of `make bench-prune`, whose `auto` PTQ loses
more than the budget. `--user-model scripts/user_mbv3.py:build` trains a MobileNetV3-style net instead.

    .venv/bin/python scripts/bench_budget.py [--reuse] [--user-model scripts/user_mbv3.py:build] [--user-epochs 8]
Writes artifacts/bench-budget/summary.json (models under artifacts/bench-budget/<name>/).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgebench.atomic import write_json
from edgebench.bench.fingerprint import host_isa_summary
from edgebench.bench.interleave import interleaved_latency
from edgebench.calibration.accuracy_aware import AccuracyBudget
from edgebench.calibration.datasets import load_dataset
from edgebench.calibration.entry import BudgetConfig, StaticConfig, quantize
from edgebench.calibration.evaluate import evaluate
from edgebench.calibration.metrics import paired_metrics
from edgebench.calibration.quantize import CalibrationSettings, quantize_static_model
from edgebench.calibration.recipes import resolve_preset
from edgebench.cpu import cpu_info

REPO = Path(__file__).resolve().parent.parent
EDGEBENCH = str(Path(sys.executable).parent / "edgebench")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str]) -> None:
    say(f"[bench-budget] {' '.join(cmd[1:])}")
    # one thread: training is then deterministic (a thread count changes float sums), so the model is the same
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if r.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed:\n{r.stderr.strip()[-2000:]}")


def zoo_model(name: str, out: Path, reuse: bool) -> Path:
    path = out / "model.fp32.onnx"
    if not (reuse and path.is_file()):
        run([EDGEBENCH, "export", name, "-o", str(out), "--force", "--parity-images", "100"])
    return path


def user_model(spec: str, out: Path, epochs: int, lr: float, reuse: bool) -> tuple[Path, dict[str, Any]]:
    """Train the --model-file network on the 4000 shared training images, export it; its training record."""
    path = out / "model.fp32.onnx"
    train_dir = out.parent / f"{out.name}-train"
    mf = ["--model-file", spec, "--input-like", "resnet20"]
    init = out.parent / f"{out.name}-init.pt"
    if not (reuse and init.is_file()):
        # `edgebench train` seeds shuffling and augmentation but builds the model before seeding, so a random
        # init differs run to run: start from an init drawn here with seed 0 (then training is reproducible)
        import importlib.util

        import torch

        file, factory = spec.rsplit(":", 1)
        mod_spec = importlib.util.spec_from_file_location("bench_budget_user_model", file)
        if mod_spec is None or mod_spec.loader is None or not Path(file).is_file():
            raise SystemExit(f"--user-model {spec}: '{file}' is not a Python file (give path.py:factory)")
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
        torch.manual_seed(0)
        init.parent.mkdir(parents=True, exist_ok=True)
        torch.save(getattr(module, factory)().state_dict(), init)
    if not (reuse and (train_dir / "best.pt").is_file()):
        run([EDGEBENCH, "train", *mf, "-w", str(init), "-e", str(epochs), "--lr", str(lr), "--batch-size", "64",
             "--seed", "0", "--limit-train", "4000", "--limit-test", "1000", "-o", str(train_dir), "--force"])
    if not (reuse and path.is_file()):
        run([EDGEBENCH, "export", *mf, "-w", str(train_dir / "best.pt"), "-o", str(out), "--force",
             "--parity-images", "100"])
    import json

    record = json.loads((train_dir / "train.json").read_text()) if (train_dir / "train.json").is_file() else {}
    return path, {"model_file": spec, "epochs": epochs, "lr": lr, "train_images": 4000,
                  "best_top1_pct": record.get("best_top1_pct")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="accuracy-aware PTQ (budget 0.3) on ResNet-20/56 and a user model")
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench-budget")
    ap.add_argument("--budget", type=float, default=0.3)
    ap.add_argument("--user-model", default=f"{REPO / 'scripts' / 'user_net.py'}:build")
    ap.add_argument("--user-epochs", type=int, default=8)
    ap.add_argument("--user-lr", type=float, default=0.05)
    ap.add_argument("--models", default="resnet20,resnet56,user", help="which of resnet20,resnet56,user")
    ap.add_argument("--calib-size", type=int, default=1000)
    ap.add_argument("--test-limit", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--reuse", action="store_true", help="reuse the trained/exported FP32 models in --out")
    a = ap.parse_args(argv)
    t0 = time.time()
    cpu = cpu_info()
    choice = resolve_preset("auto", cpu=cpu)
    calib = load_dataset("cifar10:train", size=a.calib_size, seed=0)
    test = load_dataset("cifar10:test").subset(a.test_limit)
    rows: list[dict[str, Any]] = []
    for name in [m.strip() for m in a.models.split(",") if m.strip()]:
        root = a.out / name
        t_model = time.time()
        extra: dict[str, Any] = {}
        if name == "user":
            fp32, extra = user_model(a.user_model, root, a.user_epochs, a.user_lr, a.reuse)
        else:
            fp32 = zoo_model(name, root, a.reuse)
        say(f"[bench-budget] {name}: auto INT8 ({choice.preset})")
        auto_path = root / "auto" / "model.int8.onnx"
        quantize_static_model(fp32, calib, choice, output=auto_path, dataset_spec="cifar10:train", seed=0, force=True)
        base = evaluate(fp32, test, threads=1)
        say(f"[bench-budget] {name}: accuracy-aware INT8, budget {a.budget} points")
        budget_path = root / "budget" / "model.int8.onnx"
        static = StaticConfig(choice, "cifar10:train", CalibrationSettings(size=a.calib_size, seed=0), force=True)
        m = quantize(fp32, budget_path, BudgetConfig(static, AccuracyBudget(a.budget, best_effort=True),
                                                     "cifar10:test", a.test_limit), log=say).manifest.to_dict()
        aa = m["accuracy_aware"]
        auto_ev, budget_ev = evaluate(auto_path, test, threads=1), evaluate(budget_path, test, threads=1)
        pa = paired_metrics(auto_ev["predictions"], base["predictions"], test.labels)
        pb = paired_metrics(budget_ev["predictions"], base["predictions"], test.labels)
        say(f"[bench-budget] {name}: latency, {a.rounds} interleaved rounds x {a.iters} runs")
        lat = interleaved_latency({"fp32": fp32, "auto": auto_path, "budget": budget_path}, threads=1, batch=1,
                                  rounds=a.rounds, iters=a.iters)
        rows.append({
            "model": name, **({"user_model": extra} if extra else {}),
            "fp32_top1_pct": base["top1_pct"],
            "auto": {"top1_pct": auto_ev["top1_pct"], "drop_pts": -pa["top1_delta_pts"],
                     "agreement_pct": pa["agreement_pct"], "file_size_mb": auto_path.stat().st_size / 1e6,
                     "cpu_speedup_vs_fp32": lat["auto"]["cpu_speedup_vs_first"], "paired": pa},
            "budget": {"budget_pts": a.budget, "met": aa["met"], "top1_pct": budget_ev["top1_pct"],
                       "drop_pts": -pb["top1_delta_pts"], "agreement_pct": pb["agreement_pct"],
                       "drop_before_pts": aa["drop_before_pts"], "drop_after_pts": aa["drop_after_pts"],
                       "float_nodes": aa["float_nodes"], "int8_nodes": aa.get("int8_nodes", []),
                       "fell_back": aa.get("fell_back", []), "steps": aa["steps"],
                       "file_size_mb": budget_path.stat().st_size / 1e6,
                       "cpu_speedup_vs_fp32": lat["budget"]["cpu_speedup_vs_first"], "paired": pb},
            "fp32_file_size_mb": fp32.stat().st_size / 1e6, "latency": lat, "seconds": time.time() - t_model,
        })

    print(f"\nmake bench-budget: accuracy-aware PTQ, budget {a.budget} points, on {host_isa_summary()}; preset "
          f"{choice.preset}")
    print(f"top-1 on {len(test)} CIFAR-10 test images, drops paired with FP32 (points; the budget is measured on the "
          "same images); latency: ORT 1 thread, batch 1, thread CPU time, x FP32 = median of per-round ratios")
    hdr = (f"{'model':9s} {'FP32 %':>6s} | {'auto drop':>9s} {'agree':>5s} {'MB':>6s} {'x FP32':>6s} | "
           f"{'budget drop':>11s} {'met':>3s} {'agree':>5s} {'MB':>6s} {'x FP32':>6s} | kept float / 8-bit")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        au, bu = r["auto"], r["budget"]
        kept = ", ".join(bu["float_nodes"]) or "none"
        print(f"{r['model']:9s} {r['fp32_top1_pct']:6.2f} | {au['drop_pts']:+9.2f} {au['agreement_pct']:5.1f} "
              f"{au['file_size_mb']:6.3f} {au['cpu_speedup_vs_fp32']:6.2f} | {bu['drop_pts']:+11.2f} "
              f"{'yes' if bu['met'] else 'NO':>3s} {bu['agreement_pct']:5.1f} {bu['file_size_mb']:6.3f} "
              f"{bu['cpu_speedup_vs_fp32']:6.2f} | {kept}")
    print("(drop = FP32 top-1 - INT8 top-1: positive is a loss; FP32 file sizes: "
          + ", ".join(f"{r['model']} {r['fp32_file_size_mb']:.3f} MB" for r in rows) + ")")
    summary = {"schema_version": 1, "kind": "edgebench.bench-budget", "host": cpu, "preset": choice.to_dict(),
               "budget_pts": a.budget, "calibration": {"dataset": "cifar10:train", "size": a.calib_size, "seed": 0},
               "test_images": len(test), "rows": rows, "args": {k: str(v) for k, v in vars(a).items()},
               "seconds": time.time() - t0}
    write_json(a.out / "summary.json", summary)
    print(f"wrote {a.out / 'summary.json'} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
