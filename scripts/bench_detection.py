"""make bench-detection: FastestDet FP32 vs INT8 (plain, and accuracy-aware with mAP budgets) on ONNX Runtime.

On the 128 COCO val2017 images of ../shared/data/coco/val2017_first128 (the only labelled COCO images here;
the INT8 models are calibrated on the same images, which flatters them slightly):

- FP32 mAP@0.5:0.95 and mAP@0.5 (must reproduce the data README's 19.1 / 35.7 within 0.3 points);
- each INT8: `edgebench quantize DIR --data .../images` (preset auto) and `--accuracy-budget B --eval-data DIR`
  for each budget; its mAP, the paired mAP delta against FP32 and the box agreement (`eval --baseline`);
- model-only and end-to-end (640x480 frame: pre-process + model + decode + NMS) p50 of every model, all in
  one interleaved run (`bench.interleave`, ORT, 1 thread, batch 1, thread CPU time as well as wall);
- the other runtimes (`--runtimes`, each where installed): OpenVINO on the FP32 ONNX file, and what
  `edgebench convert` makes of the FP32 model, each checked by its decoded-box parity against ORT FP32 on the
  COCO sample (a refusal is reported, its row skipped): OpenVINO INT8 (NNCF, calibrated on the COCO images),
  LiteRT FP32/INT8, ncnn FP32; their mAP, paired mAP delta and box agreement (both ways) against ORT FP32, and
  the model-only wall p50 of every model of every runtime in a second interleaved run
  (`scripts/bench_runtimes.run`, as `make bench-imagenet` times its runtimes);
- model file sizes (MB = 10^6 bytes; an IR or ncnn model: both of its files).

Goal of issue #27: INT8 within 1.0 mAP point of FP32 at >= 1.5x model-only speed-up; printed as met or not.
About 10 min on a shared 2-core x86 VM (load 1.5-3.3): the budget searches, then the conversions (LiteRT's
INT8 attempt, refused for FastestDet, alone takes 1-3 min). `--reuse` keeps the models already written and
does not retry a conversion the last summary.json records as refused for the same FP32 file; `--budgets 1.0`
halves the searches; `--runtimes ''` leaves the other runtimes out.

    .venv/bin/python scripts/bench_detection.py [--reuse] [--budgets 1.0,0.5] [--rounds 7] [--iters 30]
                                                [--runtimes openvino,litert,ncnn]
Writes artifacts/bench-detection/summary.json (models under artifacts/bench-detection/<variant>/, the converted
ones under artifacts/bench-detection/fp32/<runtime>/<precision>/).
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
from edgebench.bench.interleave import interleaved_latency
from edgebench.calibration.detection_data import COCO_SAMPLE, find_coco_sample
from edgebench.calibration.evaluate_detection import evaluate_detection, load_detection
from edgebench.calibration.tasks import TASKS
from edgebench.manifest import Manifest, find_typed_manifest
from edgebench.task import DETECTION
from edgebench.units import to_mb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import bench_imagenet as bi  # noqa: E402  (file sizes of every runtime's model)
import bench_runtimes as br  # noqa: E402  (the interleaved multi-runtime timer)

EDGEBENCH = str(Path(sys.executable).parent / "edgebench")
README_FP32 = (19.1, 35.7)  # the data README's FastestDet figures (mAP@0.5:0.95, mAP@0.5)
GOAL_DROP_PTS, GOAL_SPEEDUP = 1.0, 1.5


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str]) -> None:
    say(f"[bench-detection] {' '.join(cmd[1:])}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed:\n{r.stderr.strip()[-2000:]}")


def manifest_of(path: Path) -> Manifest:
    m = find_typed_manifest(path)
    if m is None:
        raise SystemExit(f"'{path}' has no manifest beside it; re-run without --reuse")
    return m


# (label, runtime, file in the FP32 model's folder): OpenVINO reads the ONNX file, the rest is what
# `edgebench convert` writes there (br.CONVERSIONS: the runtime and precision of each converted file)
RUNTIME_ROWS = (("openvino fp32", "openvino", "model.fp32.onnx"),
                ("openvino int8-nncf", "openvino", "openvino/int8/model.xml"),
                ("litert fp32", "litert", "litert/fp32/model.tflite"),
                ("litert int8", "litert", "litert/int8/model.tflite"),
                ("ncnn fp32", "ncnn", "ncnn/fp32/model.param"))


def convert_all(fp32_dir: Path, runtimes: list[str], reuse: bool, skipped: dict[str, str]) -> dict[str, Path]:
    """The model of each runtime row (`edgebench convert` where it is converted, its parity on the COCO sample by
    default); a runtime not installed or a refused conversion goes to `skipped` with its one line (`reuse`: a
    conversion refused in the previous run of this FP32 model is not tried again)."""
    from edgebench.runtimes import RUNTIMES, runtime_names

    runtime_names()
    refused = previous_refusals(fp32_dir) if reuse else {}
    out: dict[str, Path] = {}
    for label, rt, rel in RUNTIME_ROWS:
        if rt not in runtimes:
            continue
        if not RUNTIMES.get(rt)().available():
            skipped[label] = f"{rt} is not installed here ({RUNTIMES.get(rt).install_hint})"
            continue
        if label in refused:
            skipped[label] = refused[label]
            continue
        conversion = br.CONVERSIONS.get(rel)
        if conversion is not None and not (reuse and (fp32_dir / rel).is_file()):
            cmd = [EDGEBENCH, "convert", str(fp32_dir), "-r", conversion[0], "--precision", conversion[1], "--force"]
            say(f"[bench-detection] {' '.join(cmd[1:])}")
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                skipped[label] = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
                continue
        out[label] = fp32_dir / rel
    return out


def previous_refusals(fp32_dir: Path) -> dict[str, str]:
    """The conversions the last summary.json beside `fp32_dir` records as refused, when made from this FP32 file."""
    import json

    from edgebench.manifest import sha256_file

    try:
        last = json.loads((fp32_dir.parent / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    if last.get("runtimes", {}).get("fp32_sha256") != sha256_file(fp32_dir / "model.fp32.onnx"):
        return {}
    return {k: v for k, v in last["runtimes"].get("refused", {}).items() if isinstance(v, str)}


def runtime_rows(fp32_dir: Path, models: dict[str, Path], ds: Any, evals: dict[str, Any], a: argparse.Namespace,
                 skipped: dict[str, str]) -> dict[str, Any]:
    """Every runtime's rows: mAP, paired against ORT FP32 (mAP delta, box agreement both ways), model-only wall p50
    of all of them (ORT's too) in one interleaved run, sizes."""
    from edgebench.calibration.detection import box_agreement
    from edgebench.calibration.tasks import AGREEMENT_SCORE

    converted = convert_all(fp32_dir, [x for x in a.runtimes.split(",") if x], a.reuse, skipped)
    refused = {k: v for k, v in skipped.items() if "is not installed" not in v}
    runtime_of = {label: rt for label, rt, _ in RUNTIME_ROWS}
    variants = tuple((k, "ort-cpu", os.path.relpath(p, fp32_dir)) for k, p in models.items()) + tuple(
        (label, runtime_of[label], os.path.relpath(p, fp32_dir)) for label, p in converted.items())
    task, base = TASKS.get(DETECTION), evals["fp32"]
    rows: dict[str, Any] = {}
    for label, rt, rel in variants:
        e = evals[label] if label in evals else evaluate_detection(fp32_dir / rel, ds, runtime=rt, threads=1)
        rows[label] = {"runtime": rt, "path": str(fp32_dir / rel), "map_pct": e["map_pct"],
                       "map50_pct": e["map50_pct"]}
        if label != "fp32":
            rows[label]["paired"] = task.paired(e["predictions"], base["predictions"], ds, e, base)
            rows[label]["box_agreement_reverse_pct"] = box_agreement(
                base["predictions"], e["predictions"], AGREEMENT_SCORE)["box_agreement_pct"]
    say(f"[bench-detection] timing {len(variants)} models of every runtime interleaved (model only, wall)")
    timing = br.run(fp32_dir, 1, 1, a.rounds, a.iters, variants=variants,
                    pairs=tuple((label, "fp32") for label, _, _ in variants[1:]))
    skipped.update(timing.pop("skipped"))
    size = bi.sizes(fp32_dir, variants)
    for label, r in rows.items():
        ratio = timing["ratios"].get(f"fp32 / {label}")
        r.update(model_wall_p50_ms=timing["p50_ms"].get(label), file_size_mb=size.get(label),
                 speedup_vs_ort_fp32=1.0 if label == "fp32" else (ratio["median"] if ratio else None))
    from edgebench.manifest import sha256_file

    return {"rows": rows, "timing": timing, "skipped": skipped, "refused": refused,
            "fp32_sha256": sha256_file(fp32_dir / "model.fp32.onnx")}


def runtime_table(res: dict[str, Any]) -> str:
    lines = ["| model | runtime | mAP@0.5:0.95 | mAP@0.5 | paired mAP delta | box agreement | reverse | "
             "model p50 ms (wall) | x ORT FP32 | MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in res["rows"].items():
        p = r.get("paired")
        pair = (f"{round(p['map_delta_pts'], 2) + 0.0:+.2f} | {p['box_agreement_pct']:.1f} % | "
                f"{r['box_agreement_reverse_pct']:.1f} %" if p else "- | - | -")
        p50, x, mb = r["model_wall_p50_ms"], r["speedup_vs_ort_fp32"], r["file_size_mb"]
        lines.append(f"| {label} | {r['runtime']} | {r['map_pct']:.2f} | {r['map50_pct']:.2f} | {pair} | "
                     f"{'-' if p50 is None else f'{p50:.3f}'} | {'-' if x is None else f'{x:.2f}x'} | "
                     f"{'-' if mb is None else f'{mb:.3f}'} |")
    lines += [f"| {label} | skipped: {why.removeprefix('edgebench: error: ')[:300]} | | | | | | | | |"
              for label, why in res["skipped"].items()]
    return "\n".join(lines)


def loadavg() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench-detection")
    ap.add_argument("--reuse", action="store_true",
                    help="keep models already written under --out (and conversions refused for the same FP32 file)")
    ap.add_argument("--budgets", default="1.0,0.5", help="mAP budgets of the accuracy-aware INT8 (comma list)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--runtimes", default="openvino,litert,ncnn",
                    help="runtimes besides ORT (comma list; '' for the ORT rows only)")
    a = ap.parse_args()
    t0 = time.time()
    coco = find_coco_sample()
    if coco is None:
        raise SystemExit(f"no {COCO_SAMPLE} under $EDGEBENCH_DATA or ../shared/data: the benchmark needs it")
    load0 = loadavg()
    sysinfo = subprocess.run([EDGEBENCH, "sysinfo", "--text"], capture_output=True, text=True).stdout.strip()
    fp32_dir = a.out / "fp32"
    fp32 = fp32_dir / "model.fp32.onnx"
    if not (a.reuse and fp32.is_file()):
        run([EDGEBENCH, "export", "fastestdet", "-o", str(fp32_dir), "--force"])
    models: dict[str, Path] = {"fp32": fp32}
    quant = {"int8": []} | {f"int8-budget{b}": ["--accuracy-budget", b, "--eval-data", str(coco)]
                            for b in (x.strip() for x in a.budgets.split(",")) if b}
    for name, extra in quant.items():
        path = a.out / name / "model.int8.onnx"
        if not (a.reuse and path.is_file()):
            run([EDGEBENCH, "quantize", str(fp32_dir), "--data", str(coco / "images"), "-o", str(path), "--force",
                 *extra])
        models[name] = path

    ds = load_detection(coco)
    task = TASKS.get(DETECTION)
    evals = {k: evaluate_detection(p, ds, threads=1) for k, p in models.items()}
    rows: dict[str, dict[str, Any]] = {}
    for k, p in models.items():
        e = evals[k]
        m = manifest_of(p).to_dict()  # plain JSON types (the manifest's own fields are read-only mappings)
        aa = m.get("accuracy_aware") or {}
        rows[k] = {"path": str(p), "file_size_mb": to_mb(p.stat().st_size), "map_pct": e["map_pct"],
                   "map50_pct": e["map50_pct"], "float_nodes": aa.get("float_nodes", []),
                   "search": {x: aa[x] for x in ("budget_pts", "met", "drop_before_pts", "drop_after_pts", "steps")
                              if x in aa},
                   "nodes": {x: (m.get("nodes") or {}).get(x) for x in ("int8", "float")}}
        if k != "fp32":
            rows[k]["paired"] = task.paired(e["predictions"], evals["fp32"]["predictions"], ds, e, evals["fp32"])

    from edgebench.bench.end_to_end import EndToEnd

    def wrap(label: str, sess: Any, feeds: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        if not label.endswith(" e2e"):
            return sess, feeds
        e2e = EndToEnd(sess, manifest_of(models[label[:-4]]))
        return e2e, e2e.feeds()

    timed = {**models, **{f"{k} e2e": p for k, p in models.items()}}
    say(f"[bench-detection] timing {len(timed)} paths interleaved ({a.rounds} rounds x {a.iters} runs)")
    lat = interleaved_latency(timed, threads=1, batch=1, rounds=a.rounds, iters=a.iters, same_inputs=True, wrap=wrap)

    def speedup(base: str, other: str, key: str) -> float:
        import statistics

        return float(statistics.median(x / y for x, y in zip(lat[base][key], lat[other][key], strict=True)))

    for k in models:
        rows[k].update({
            "model_p50_ms": lat[k]["p50_ms"], "model_cpu_p50_ms": lat[k].get("cpu_p50_ms"),
            "e2e_p50_ms": lat[f"{k} e2e"]["p50_ms"], "e2e_cpu_p50_ms": lat[f"{k} e2e"].get("cpu_p50_ms"),
            "model_speedup_vs_fp32": speedup("fp32", k, "round_p50_ms"),
            "model_cpu_speedup_vs_fp32": speedup("fp32", k, "round_cpu_ms"),
            "e2e_speedup_vs_fp32": speedup("fp32 e2e", f"{k} e2e", "round_p50_ms"),
            "e2e_cpu_speedup_vs_fp32": speedup("fp32 e2e", f"{k} e2e", "round_cpu_ms"),
        })
    runtimes = runtime_rows(fp32_dir, models, ds, evals, a, {})
    load1 = loadavg()
    fp = rows["fp32"]
    reproduces = all(abs(x - y) <= 0.3 for x, y in zip((fp["map_pct"], fp["map50_pct"]), README_FP32, strict=True))
    for k in models:
        if k != "fp32":
            r = rows[k]
            r["goal_met"] = (-r["paired"]["map_delta_pts"] <= GOAL_DROP_PTS
                             and r["model_cpu_speedup_vs_fp32"] >= GOAL_SPEEDUP)
    summary = {"cpu": sysinfo, "loadavg_1min_before": load0, "loadavg_1min_after": load1, "data": str(coco),
               "images": len(ds), "runtime": "ort-cpu, 1 thread, batch 1", "rounds": a.rounds, "iters": a.iters,
               "fp32_reproduces_readme": reproduces, "readme_fp32": README_FP32, "models": rows,
               "runtimes": {**runtimes, "timing": {k: v for k, v in runtimes["timing"].items()
                                                   if k in ("p50_ms", "min_ms", "ratios", "rounds")}},
               "seconds": round(time.time() - t0, 1)}
    write_json(a.out / "summary.json", summary)
    print(f"\nmake bench-detection: FastestDet on {len(ds)} images of {coco.name}; {sysinfo}")
    print(f"load average (1 min) {load0:.1f} before, {load1:.1f} after; ORT 1 thread, batch 1, {a.rounds} rounds x "
          f"{a.iters} runs interleaved (speed-ups: median over rounds of thread-CPU-time ratios; wall in summary)")
    print(f"FP32 reproduces the README's {README_FP32[0]} / {README_FP32[1]} within 0.3: {reproduces}\n")
    print("| model | mAP@0.5:0.95 | mAP@0.5 | paired mAP delta | box agreement | model p50 ms (CPU) | "
          "speed-up | e2e p50 ms (CPU) | e2e speed-up | MB | float nodes | goal |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k, r in rows.items():
        p = r.get("paired")
        delta = f"{p['map_delta_pts']:+.2f}" if p else "-"
        agree = f"{p['box_agreement_pct']:.1f} %" if p else "-"
        goal = "-" if k == "fp32" else ("met" if r["goal_met"] else "NOT met")
        floats = "-" if r["nodes"]["float"] is None else r["nodes"]["float"]
        print(f"| {k} | {r['map_pct']:.2f} | {r['map50_pct']:.2f} | {delta} | {agree} | "
              f"{r['model_cpu_p50_ms']:.3f} | {r['model_cpu_speedup_vs_fp32']:.2f}x | {r['e2e_cpu_p50_ms']:.3f} | "
              f"{r['e2e_cpu_speedup_vs_fp32']:.2f}x | {r['file_size_mb']:.3f} | {floats} | {goal} |")
    print(f"\nEvery runtime against ORT FP32 (model only, wall p50 of all {len(runtimes['rows'])} models in one "
          f"interleaved run, 1 thread, batch 1; box agreement: ORT FP32's boxes reproduced, reverse: the model's "
          "boxes ORT FP32 has; score >= 0.3, IoU >= 0.5):\n")
    print(runtime_table(runtimes))
    print(f"\n{summary['seconds']:.0f} s; wrote {a.out / 'summary.json'}")


if __name__ == "__main__":
    main()
