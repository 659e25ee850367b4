"""make bench-imagenet: ImageNet-class classifiers at 224, FP32 vs INT8 on every runtime that can, on this CPU.

Models: EfficientNet-Lite0 with its real weights (`export efficientnet_lite0`), and torchvision MobileNetV2 and
ResNet-18 with random weights (`export tv:NAME`, no weights here: speed and size only, no accuracy rows).
For each model, through the CLI a user types:

1. `edgebench export`, then `edgebench quantize --preset auto` calibrated on the 1,000 ImageNet train images
   (`imagenet/calib1000`, one per class; `--calib N` for fewer);
2. `edgebench convert` for OpenVINO INT8 (NNCF), LiteRT FP32/INT8 and ncnn FP32, each where it is installed and
   where it passes its parity check against ORT FP32 on real validation images (a refusal is reported and the row
   skipped with its reason);
3. accuracy (real weights only): top-1 of every variant on the first `--images` of the 1,300 validation images
   (`imagenet/val1300`), paired against ORT FP32 image by image (delta with its 95 % interval, agreement);
   where the ORT INT8 drop exceeds `--budget` (0.5 points) `quantize --accuracy-budget` runs too and is shown;
4. speed: every variant timed interleaved round by round at 1 thread, batch 1, in one process
   (`scripts/bench_runtimes.run`), speed-up = ORT FP32 / variant as the median of per-round ratios;
5. size: the model files in MB (10^6 bytes).

Absolute top-1 on val1300 reads about 7 points high (see ../shared/data/README.md): the deltas are the result.
The conversions dominate the time (LiteRT's INT8 conversion of Lite0 took ~12 min under a load of 8; the reduced
run `--images 300 --calib 300` of Lite0 and MobileNetV2 took 19 min there); `--runtimes openvino,ncnn` leaves
LiteRT out. Writes artifacts/bench-imagenet/summary.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import bench_runtimes as br  # noqa: E402  (the interleaved multi-runtime timer)

EDGEBENCH = str(Path(sys.executable).parent / "edgebench")
DATA = REPO.parent / "shared" / "data" / "imagenet"
# (export name, folder, real weights: accuracy rows)
MODELS = (("efficientnet_lite0", "lite0", True), ("tv:mobilenet_v2", "mobilenet_v2", False),
          ("tv:resnet18", "resnet18", False))
# (label, runtime, file in the model folder): ORT FP32 first (the baseline)
VARIANTS = (("ort fp32", "ort-cpu", "model.fp32.onnx"), ("ort int8", "ort-cpu", "model.int8.onnx"),
            ("ort int8 acc-aware", "ort-cpu", "accuracy-aware/model.int8.onnx"),
            ("openvino fp32", "openvino", "model.fp32.onnx"),
            ("openvino int8-nncf", "openvino", "openvino/int8/model.xml"),
            ("litert fp32", "litert", "litert/fp32/model.tflite"),
            ("litert int8", "litert", "litert/int8/model.tflite"),
            ("ncnn fp32", "ncnn", "ncnn/fp32/model.param"))
PAIRS = tuple((label, "ort fp32") for label, _, _ in VARIANTS[1:])
CONVERSIONS = {"openvino/int8/model.xml": ("openvino", "int8"), "litert/fp32/model.tflite": ("litert", "fp32"),
               "litert/int8/model.tflite": ("litert", "int8"), "ncnn/fp32/model.param": ("ncnn", "fp32")}


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def edgebench(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [EDGEBENCH, *map(str, args)]
    say("$ edgebench " + " ".join(cmd[1:]))
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0 and check:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.strip()}")
    return r


def prepare(name: str, folder: Path, a: argparse.Namespace, skipped: dict[str, str]) -> None:
    """Export, quantize and convert what is missing; a refused or impossible conversion goes to `skipped`."""
    from edgebench.runtimes import RUNTIMES, runtime_names

    runtime_names()
    calib, val = DATA / "calib1000", DATA / "val1300"
    if not (folder / "model.fp32.onnx").is_file():
        edgebench("export", name, "-o", folder)
    if not (folder / "model.int8.onnx").is_file():
        edgebench("quantize", folder, "--data", calib, "-n", a.calib, "--preset", "auto")
    for rel, (rt, prec) in CONVERSIONS.items():
        label = f"{rt} {prec}-nncf" if rt == "openvino" else f"{rt} {prec}"
        if rt not in a.runtimes.split(","):
            skipped[label] = f"not run (--runtimes {a.runtimes})"
            continue
        if not RUNTIMES.get(rt)().available():
            skipped[label] = f"{rt} is not installed here ({RUNTIMES.get(rt).install_hint})"
            continue
        if (folder / rel).is_file():
            continue
        args: list[object] = ["convert", folder, "-r", rt, "--precision", prec, "--parity-data", val,
                              "--parity-images", min(a.images, 256)]
        if prec == "int8":
            args += ["--data", calib, "-n", a.calib]
        r = edgebench(*args, check=False)
        if r.returncode != 0:
            skipped[label] = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]


def accuracy(folder: Path, a: argparse.Namespace, skipped: dict[str, str]) -> dict[str, Any]:
    """Top-1 of each variant on the first --images val images, paired against ORT FP32."""
    from edgebench.artifact import ModelArtifact
    from edgebench.calibration.evaluate import evaluate, load_eval_dataset
    from edgebench.calibration.metrics import paired_metrics

    base_path = folder / "model.fp32.onnx"
    ds = load_eval_dataset(str(DATA / "val1300"), ModelArtifact.resolve(base_path).manifest, size=a.images)
    ds = ds.require_labels("evaluation").subset(a.images)
    base = evaluate(base_path, ds, threads=a.eval_threads)
    out: dict[str, Any] = {"ort fp32": {"top1_pct": base["top1_pct"], "n": base["n"]}}
    for label, rt, rel in VARIANTS[1:]:
        if label in skipped or not (folder / rel).is_file() or rt not in ("ort-cpu", *a.runtimes.split(",")):
            continue
        r = evaluate(folder / rel, ds, runtime=rt, threads=a.eval_threads)
        out[label] = {"top1_pct": r["top1_pct"], "n": r["n"],
                      "paired": paired_metrics(r["predictions"], base["predictions"], ds.labels)}
    return out


def accuracy_aware(folder: Path, a: argparse.Namespace) -> None:
    """INT8 within --budget points of FP32 (quantize --accuracy-budget) into folder/accuracy-aware/."""
    if (folder / "accuracy-aware" / "model.int8.onnx").is_file():
        return
    edgebench("quantize", folder, "--data", DATA / "calib1000", "-n", a.calib, "--preset", "auto",
              "--accuracy-budget", a.budget, "--eval-data", DATA / "val1300", "--eval-size", a.images,
              "-o", folder / "accuracy-aware")


def sizes(folder: Path, variants: tuple[tuple[str, ...], ...] = VARIANTS) -> dict[str, float]:
    """MB (10^6 bytes) of each variant's files (an OpenVINO IR or ncnn model: both of its files)."""
    out: dict[str, float] = {}
    for label, _, rel, *_ in variants:
        p = folder / rel
        if p.is_file():
            companions = {".xml": ".bin", ".param": ".bin"}
            extra = p.with_suffix(companions[p.suffix]) if p.suffix in companions else None
            out[label] = (p.stat().st_size + (extra.stat().st_size if extra and extra.is_file() else 0)) / 1e6
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| model | variant | size MB | speed-up vs ORT FP32 (1 thread) | paired top-1 delta (95 % CI) | "
             "agreement |", "|---|---|---|---|---|---|"]
    for model, r in results.items():
        for label in r["timing"]["p50_ms"]:
            ratio = r["timing"]["ratios"].get(f"ort fp32 / {label}")
            speed = "1.00x" if label == "ort fp32" else (f"{ratio['median']:.2f}x" if ratio else "")
            acc = r.get("accuracy", {}).get(label)
            if acc is None:
                delta = agree = "(random weights)" if not r["real_weights"] else ""
            elif "paired" in acc:
                p = acc["paired"]
                delta = (f"{p['top1_delta_pts']:+.2f} ({p['top1_delta_ci95_pts'][0]:+.2f} to "
                         f"{p['top1_delta_ci95_pts'][1]:+.2f})")
                agree = f"{p['agreement_pct']:.1f} %"
            else:
                delta, agree = f"FP32 {acc['top1_pct']:.2f} % (reads ~7 points high)", ""
            lines.append(f"| {model} | {label} | {r['size_mb'].get(label, 0):.2f} | {speed} | {delta} | {agree} |")
        for label, why in r["skipped"].items():
            lines.append(f"| {model} | {label} | | skipped: {why[:160]} | | |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1300, help="validation images for accuracy (first N of 1,300)")
    ap.add_argument("--calib", type=int, default=1000, help="calibration images (of the 1,000)")
    ap.add_argument("--budget", type=float, default=0.5, help="largest paired top-1 drop before accuracy-aware PTQ")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20, help="timed runs per variant per round")
    ap.add_argument("--eval-threads", type=int, default=2)
    ap.add_argument("--models", default=",".join(f for _, f, _ in MODELS), help="subset, e.g. lite0")
    ap.add_argument("--runtimes", default="openvino,litert,ncnn",
                    help="runtimes converted to besides ORT (a reduced run: e.g. openvino,ncnn)")
    ap.add_argument("-o", "--output", type=Path, default=REPO / "artifacts" / "bench-imagenet")
    a = ap.parse_args()
    if not DATA.is_dir():
        print(f"bench_imagenet: error: {DATA} is missing (the ImageNet images of ../shared/data)", file=sys.stderr)
        return 2
    wanted = a.models.split(",")
    unknown = set(wanted) - {f for _, f, _ in MODELS}
    bad_rt = set(a.runtimes.split(",")) - {rt for rt, _ in CONVERSIONS.values()}
    if unknown or bad_rt or not 1 <= a.images <= 1300 or not 1 <= a.calib <= 1000:
        print(f"bench_imagenet: error: --models from {[f for _, f, _ in MODELS]}, --runtimes from openvino,litert,"
              "ncnn, --images 1..1300, --calib 1..1000", file=sys.stderr)
        return 2
    from edgebench.cpu import cpu_info

    t0 = time.time()
    a.output.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for name, short, real in MODELS:
        if short not in wanted:
            continue
        folder = a.output / short
        skipped: dict[str, str] = {}
        prepare(name, folder, a, skipped)
        r: dict[str, Any] = {"export": name, "real_weights": real, "skipped": skipped}
        if real:
            r["accuracy"] = accuracy(folder, a, skipped)
            drop = -r["accuracy"]["ort int8"]["paired"]["top1_delta_pts"]
            if drop > a.budget:
                accuracy_aware(folder, a)
                r["accuracy"] = accuracy(folder, a, skipped)
        say(f"[{short}] timing {a.rounds} interleaved rounds x {a.iters} runs at 1 thread")
        asked = tuple(v for v in VARIANTS if v[1] == "ort-cpu" or v[1] in a.runtimes.split(","))
        timing = br.run(folder, 1, 1, a.rounds, a.iters, variants=asked, pairs=PAIRS)
        skipped.update({k: v for k, v in timing.pop("skipped").items()
                        if k not in skipped and "is missing" not in v})
        r["timing"], r["size_mb"] = timing, sizes(folder)
        results[short] = r
        summary = {"cpu": cpu_info(), "images": a.images, "calib": a.calib, "budget_pts": a.budget,
                   "seconds": round(time.time() - t0, 1), "models": results}
        (a.output / "summary.json").write_text(json.dumps(summary, indent=1, default=str))  # after each model
        say(table({short: r}))
    print(table(results))
    print(f"\n{a.images} val images, {a.calib} calibration images, {summary['seconds']:.0f} s; "
          f"wrote {a.output / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
