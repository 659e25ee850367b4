"""ONNX Runtime vs PyTorch, FP32 vs INT8, timed in one process, interleaved round by round.

Every round times each (runtime, model) once in a rotating order; ratios are taken per round, then
their median is printed with the min-max over rounds. This cancels most of the drift of a shared
machine, which separate `edgebench bench` processes (what `make report` tabulates) cannot.

For models of ONE runtime use the CLI: `edgebench bench A.onnx B.onnx --interleave` (ratio of medians
with a 95 % CI, a JSON result). This script stays for what the CLI mode does not do: mixing runtimes
(ORT and PyTorch, each with its own Options) in one interleaved run.

    .venv/bin/python scripts/bench_runtimes.py artifacts/resnet20 --threads 1 -o artifacts/report/interleaved.json

Every installed runtime x precision found in the folder is timed: ORT FP32/INT8 (model.*.onnx), PyTorch,
OpenVINO on the ONNX files and on its NNCF INT8 IR, LiteRT FP32/INT8 and ncnn FP32 (what `edgebench convert`
wrote). `--eval N` adds top-1 on the first N CIFAR-10 test images per variant; `--prepare` makes the missing
artifacts first (export, quantize, convert). `make bench-runtimes` runs it on ResNet-20 (published weights) and
torchvision ResNet-18 at 224 (random weights).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from edgebench.atomic import write_json
from edgebench.bench.harness import BenchConfig, measure
from edgebench.bench.inputs import random_feeds
from edgebench.bench.interleave import ratio_of_medians
from edgebench.errors import EdgebenchError
from edgebench.runtimes import RUNTIMES, get_runtime, runtime_names

# (label, runtime, model file in the folder[, reduced precision]); the first is the baseline of every ratio.
# bf16/fp16 rows load the FP32 file with the options `--precision` sets (runtimes/precisions.py); a CPU that
# cannot run one (OpenVINO f16 on x86 without fp16 arithmetic) is listed as skipped with the runtime's reason.
VARIANTS: tuple[tuple[str, ...], ...] = (
            ("ort-cpu fp32", "ort-cpu", "model.fp32.onnx"), ("ort-cpu int8", "ort-cpu", "model.int8.onnx"),
            ("torch fp32", "torch", "model.fp32.onnx"), ("torch-int8", "torch-int8", "model.fp32.onnx"),
            ("openvino fp32", "openvino", "model.fp32.onnx"), ("openvino int8-qdq", "openvino", "model.int8.onnx"),
            ("openvino int8-nncf", "openvino", "openvino/int8/model.xml"),
            ("litert fp32", "litert", "litert/fp32/model.tflite"),
            ("litert int8", "litert", "litert/int8/model.tflite"),
            ("ncnn fp32", "ncnn", "ncnn/fp32/model.param"),
            ("ort-cpu fp16", "ort-cpu", "model.fp16.onnx"),
            ("openvino bf16", "openvino", "model.fp32.onnx", "bf16"),
            ("openvino fp16", "openvino", "model.fp32.onnx", "fp16"),
            ("torch bf16", "torch", "model.fp32.onnx", "bf16"),
            ("ncnn bf16", "ncnn", "ncnn/fp32/model.param", "bf16"),
            ("ncnn fp16", "ncnn", "ncnn/fp32/model.param", "fp16"))
PAIRS = (("openvino bf16", "openvino fp32"), ("openvino bf16", "ort-cpu fp32"),
         ("ort-cpu int8", "ort-cpu fp32"), ("torch-int8", "torch fp32"), ("ort-cpu fp32", "torch fp32"),
         ("ort-cpu int8", "torch-int8"), ("ort-cpu int8", "openvino int8-nncf"),
         ("litert int8", "openvino int8-nncf"))
# what --prepare runs for a missing artifact (edgebench convert ARGS)
CONVERSIONS = {"openvino/int8/model.xml": ("openvino", "int8"), "litert/fp32/model.tflite": ("litert", "fp32"),
               "litert/int8/model.tflite": ("litert", "int8"), "ncnn/fp32/model.param": ("ncnn", "fp32")}


def prepare(folder: Path, calib_data: str, calib_size: int) -> None:
    """Make the artifacts VARIANTS expects that are missing (edgebench convert; the FP32 model must exist)."""
    import subprocess

    from edgebench.manifest import find_typed_manifest, sha256_file

    runtime_names()  # registers ort-cpu and the entry-point runtimes
    exe = str(Path(sys.executable).parent / "edgebench")
    parent_sha = sha256_file(folder / "model.fp32.onnx")
    if not (folder / "model.int8.onnx").is_file():
        subprocess.run([exe, "quantize", str(folder), "--data", calib_data, "-n", str(calib_size)], check=True)
    if not (folder / "model.fp16.onnx").is_file():
        subprocess.run([exe, "quantize", str(folder), "--mode", "fp16"], check=True)
    for rel, (rt, prec) in CONVERSIONS.items():
        if not RUNTIMES.get(rt)().available():
            continue
        if (folder / rel).is_file() and getattr(find_typed_manifest(folder / rel), "parent_sha256", None) == parent_sha:
            continue  # made from this very FP32 model
        cmd = [exe, "convert", str(folder), "-r", rt, "--precision", prec, "--parity-images", "64", "--force"]
        if prec == "int8":
            cmd += ["--data", calib_data, "-n", str(calib_size)]
        print(f"[bench-runtimes] {' '.join(cmd[1:])}", file=sys.stderr)
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:  # a refused conversion (parity) is reported and its variant skipped
            print(f"[bench-runtimes] refused: {r.stderr.strip().splitlines()[-1]}", file=sys.stderr)


def _options(rt_name: str, precision: str | None, threads: int) -> Any:
    """The runtime's Options at `threads`, with what selects a reduced `precision` (None: the defaults)."""
    from edgebench.runtimes.precisions import plan_precision

    return plan_precision(rt_name, precision, RUNTIMES.get(rt_name).Options(intra_op_threads=threads))[1]


def top1(folder: Path, n: int, threads: int, labels: list[str]) -> tuple[dict[str, float], dict[str, Any]]:
    """Top-1 % of each variant on the first n CIFAR-10 test images (the same images for all), and each one's
    paired figures against ORT FP32 on those images (agreement, flips: `paired_metrics`, as eval --baseline)."""
    from edgebench.calibration.evaluate import evaluate, load_eval_dataset
    from edgebench.calibration.metrics import paired_metrics

    ds = load_eval_dataset("cifar10:test", None, size=n).subset(n)
    out: dict[str, float] = {}
    preds: dict[str, Any] = {}
    for label, rt_name, file, *reduced in VARIANTS:
        if label in labels:
            r = evaluate(folder / file, ds, runtime=rt_name, threads=threads,
                         runtime_options=_options(rt_name, reduced[0], threads) if reduced else None)
            out[label], preds[label] = r["top1_pct"], r["predictions"]
    ref = preds.get("ort-cpu fp32")
    paired = {k: paired_metrics(v, ref, ds.labels) for k, v in preds.items() if ref is not None and k != "ort-cpu fp32"}
    return out, paired


def run(folder: Path, threads: int, batch: int, rounds: int, iters: int,
        only: tuple[str, ...] = (), variants: tuple[tuple[str, ...], ...] = VARIANTS,
        pairs: tuple[tuple[str, str], ...] = PAIRS) -> dict[str, Any]:
    """Time every variant found in `folder` interleaved (the first, ORT FP32, is the baseline); ratios of `pairs`;
    `only`: just these labels (and the baseline)."""
    runtime_names()  # registers ort-cpu and the entry-point runtimes
    sessions: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    executed: dict[str, str] = {}  # what each runtime reports it ran (OpenVINO bf16: its runtime model)
    for label, rt_name, file, *reduced in variants:
        if only and label not in only and label != variants[0][0]:
            continue
        path = folder / file
        if not path.is_file():
            how = "edgebench convert (--prepare)" if "/" in file else "make export and edgebench quantize"
            skipped[label] = f"{path} is missing (run {how})"
            continue
        if not RUNTIMES.get(rt_name)().available():
            skipped[label] = f"{rt_name} is not installed: {RUNTIMES.get(rt_name).install_hint}"
            continue
        rt = get_runtime(rt_name)
        try:
            sessions[label] = rt.load(path, _options(rt_name, reduced[0] if reduced else None, threads)
                                      or rt.Options(intra_op_threads=threads))
        except EdgebenchError as e:  # e.g. torch cannot rebuild a model exported without a weights file
            skipped[label] = str(e)
            continue
        ran = (getattr(sessions[label], "info", None) or {}).get("execution_precision")
        if ran:
            executed[label] = ran
    if variants[0][0] not in sessions:
        raise EdgebenchError(f"no FP32 model in '{folder}'; run make export first")
    base = sessions[variants[0][0]]
    shapes = [s.resolve(batch) for s in base.inputs]
    x = random_feeds(base.inputs, shapes, seed=0)[base.inputs[0].name]
    feeds = {k: {s.inputs[0].name: x} for k, s in sessions.items()}
    names = list(sessions)
    first = BenchConfig(warmup_iters=20, min_iters=iters, min_seconds=0.0, max_iters=iters)
    cfg = BenchConfig(warmup_iters=3, min_iters=iters, min_seconds=0.0, max_iters=iters)
    per_round: dict[str, list[float]] = {k: [] for k in names}
    per_round_min: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            t = measure(sessions[k], feeds[k], first if r == 0 else cfg)
            per_round[k].append(statistics.median(t.samples_ns) / 1e6)
            per_round_min[k].append(min(t.samples_ns) / 1e6)
    out: dict[str, Any] = {"threads": threads, "batch": batch, "rounds": rounds, "iters_per_round": iters,
                           "p50_ms": {k: statistics.median(v) for k, v in per_round.items()},
                           "min_ms": {k: min(v) for k, v in per_round_min.items()},
                           "round_p50_ms": per_round, "round_min_ms": per_round_min, "ratios": {}, "skipped": skipped,
                           "execution_precision": executed}
    for fast, slow in pairs:
        if fast in per_round and slow in per_round:
            rs = [a / b for a, b in zip(per_round[slow], per_round[fast], strict=True)]
            out["ratios"][f"{slow} / {fast}"] = {
                "median": statistics.median(rs), "min": min(rs), "max": max(rs),
                # the ratio of the fastest runs: what is left when other processes preempt the slower model more
                "of_min_ms": min(per_round_min[slow]) / min(per_round_min[fast]),
                # median(slow) / median(fast) over rounds, with its paired-bootstrap 95 % interval
                "ratio_of_medians": ratio_of_medians(per_round[fast], per_round[slow]),
            }
    return out


def main() -> int:
    from edgebench.exporter import provide_torch_runtimes

    provide_torch_runtimes()  # the torch rows load in this process and in the measurement processes it starts
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="model folder with model.fp32.onnx (+ model.int8.onnx) and manifests")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("-o", "--output", type=Path, help="also write the figures as JSON")
    ap.add_argument("--prepare", action="store_true", help="make missing artifacts (quantize, convert) first")
    ap.add_argument("--calib-data", default="cifar10:train", help="INT8 calibration set for --prepare")
    ap.add_argument("--calib-size", type=int, default=300, help="INT8 calibration images for --prepare")
    ap.add_argument("--eval", type=int, default=0, metavar="N", help="also top-1 on the first N CIFAR-10 test images")
    ap.add_argument("--only", default="", metavar="LABELS",
                    help="a reduced run: these variants only, comma-separated (ort-cpu fp32 is always kept), e.g. "
                         "'openvino fp32,openvino bf16'")
    a = ap.parse_args()
    only = tuple(x.strip() for x in a.only.split(",") if x.strip())
    known = [v[0] for v in VARIANTS]
    if any(x not in known for x in only):
        print(f"bench_runtimes: error: --only {a.only!r}: known variants are {', '.join(known)}", file=sys.stderr)
        return 2
    only = (("ort-cpu fp32", *only) if only and "ort-cpu fp32" not in only else only)
    try:
        if a.prepare:
            prepare(a.folder, a.calib_data, a.calib_size)
        res = run(a.folder, a.threads, a.batch, a.rounds, a.iters, only)
        res["top1_pct"], res["paired_vs_ort_fp32"] = top1(a.folder, a.eval, a.threads, list(res["p50_ms"])) \
            if a.eval else ({}, {})
    except EdgebenchError as e:
        print(f"bench_runtimes: error: {e}", file=sys.stderr)
        return 2
    print(f"{a.folder}: batch {a.batch}, {a.threads} thread(s), {a.rounds} interleaved rounds x {a.iters} runs")
    base = res["p50_ms"]["ort-cpu fp32"]
    print(f"  {'variant':20s} {'p50 ms':>9s} {'min ms':>9s} {'vs ORT FP32':>12s} {'top-1 %':>8s}  ran   paired vs ORT "
          "FP32 (top-1 points, agreement)")
    for k, v in res["p50_ms"].items():
        acc, p = res["top1_pct"].get(k), res["paired_vs_ort_fp32"].get(k)
        pair = f"{p['top1_delta_pts']:+.2f} pts, {p['agreement_pct']:.1f} % agree" if p else ""
        print(f"  {k:20s} {v:9.3f} {res['min_ms'][k]:9.3f} {base / v:11.2f}x {'' if acc is None else f'{acc:8.2f}'}"
              f"  {res['execution_precision'].get(k, ''):5s} {pair}")
    for k, v in res["ratios"].items():
        rm = v["ratio_of_medians"]
        print(f"  {k:30s} {v['median']:5.2f}x  (rounds {v['min']:.2f}-{v['max']:.2f}; ratio of medians "
              f"{rm['median']:.2f}x, 95% CI {rm['ci95'][0]:.2f}-{rm['ci95'][1]:.2f}; ratio of minimums "
              f"{v['of_min_ms']:.2f}x)")
    for k, why in res["skipped"].items():
        print(f"  skipped {k}: {why}")
    if a.output:  # marked as edgebench's own non-result file: compare/recommend skip it in a folder, with a note
        write_json(a.output, {"kind": "edgebench.bench-runtimes", **res})
        print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
