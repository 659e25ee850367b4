"""make bench-detection: FastestDet FP32 vs INT8 (plain, and accuracy-aware with mAP budgets) on ONNX Runtime.

On the 128 COCO val2017 images of ../shared/data/coco/val2017_first128 (the only labelled COCO images here;
the INT8 models are calibrated on the same images, which flatters them slightly):

- FP32 mAP@0.5:0.95 and mAP@0.5 (must reproduce the data README's 19.1 / 35.7 within 0.3 points);
- each INT8: `edgebench quantize DIR --data .../images` (preset auto) and `--accuracy-budget B --eval-data DIR`
  for each budget; its mAP, the paired mAP delta against FP32 and the box agreement (`eval --baseline`);
- model-only and end-to-end (640x480 frame: pre-process + model + decode + NMS) p50 of every model, all in
  one interleaved run (`bench.interleave`, ORT, 1 thread, batch 1, thread CPU time as well as wall);
- model file sizes (MB = 10^6 bytes).

Goal of issue #27: INT8 within 1.0 mAP point of FP32 at >= 1.5x model-only speed-up; printed as met or not.
About 6 min on an idle 2-core x86 machine (mostly the budget searches; `--budgets 1.0` halves it).

    .venv/bin/python scripts/bench_detection.py [--reuse] [--budgets 1.0,0.5] [--rounds 7] [--iters 30]
Writes artifacts/bench-detection/summary.json (models under artifacts/bench-detection/<variant>/).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgebench.atomic import write_json
from edgebench.bench.interleave import interleaved_latency
from edgebench.calibration.datasets import default_data_dirs
from edgebench.calibration.detection_data import COCO_SAMPLE
from edgebench.calibration.evaluate_detection import evaluate_detection, load_detection
from edgebench.calibration.tasks import TASKS
from edgebench.manifest import Manifest, find_typed_manifest
from edgebench.task import DETECTION
from edgebench.units import to_mb

REPO = Path(__file__).resolve().parent.parent
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


def loadavg() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench-detection")
    ap.add_argument("--reuse", action="store_true", help="keep models already written under --out")
    ap.add_argument("--budgets", default="1.0,0.5", help="mAP budgets of the accuracy-aware INT8 (comma list)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=30)
    a = ap.parse_args()
    found = [d / COCO_SAMPLE for d in default_data_dirs(None) if (d / COCO_SAMPLE).is_dir()]
    if not found:
        raise SystemExit(f"no {COCO_SAMPLE} under $EDGEBENCH_DATA or ../shared/data: the benchmark needs it")
    coco = found[0]
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
               "fp32_reproduces_readme": reproduces, "readme_fp32": README_FP32, "models": rows}
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
    print(f"\nwrote {a.out / 'summary.json'}")


if __name__ == "__main__":
    main()
