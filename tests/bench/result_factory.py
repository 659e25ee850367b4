"""Hand-made result files for the report tests: two machines (an x86 server and a Raspberry Pi 4)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

X86 = {
    "id": "x86aaaaaaaaa",
    "hostname": "workstation",
    "cpu": {"arch": "x86_64", "model": "AMD EPYC", "vendor": "AuthenticAMD", "logical_cores": 2,
            "physical_cores": 2, "isa": {"avx2": True, "fma": True, "avx512f": True, "avx512_vnni": True},
            "max_freq_mhz": None, "cur_freq_mhz": 2600.0},
    "board": {"model": None, "is_raspberry_pi": False},
    "emulated": False,
}
PI4 = {
    "id": "pi4bbbbbbbbb",
    "hostname": "raspberrypi",
    "cpu": {"arch": "aarch64", "model": "Cortex-A72", "vendor": "ARM implementer 0x41", "arm_core": "Cortex-A72",
            "logical_cores": 4, "physical_cores": 4,
            "isa": {"asimd": True, "asimddp": False, "i8mm": False}, "max_freq_mhz": 1800.0, "cur_freq_mhz": 1800.0},
    "board": {"model": "Raspberry Pi 4 Model B Rev 1.5", "is_raspberry_pi": True},
    "emulated": False,
}


def result(machine: dict[str, Any], *, name: str = "resnet20", precision: str | None = "fp32",
           runtime: str = "ort-cpu", p50: float = 2.0, batch: int = 1, threads: int = 2,
           top1: float | None = 91.5, macs: int | None = 40_813_184, params: int | None = 269_722,
           runtime_precision: str | None = None, sha: str | None = None, created: str = "2026-01-01T00:00:00Z",
           noisy: bool = False, version: int = 1, drop: tuple[str, ...] = (),
           prune_round: int | None = None) -> dict[str, Any]:
    """One result dict following bench/schema.py; `drop` removes optional top-level blocks or model fields."""
    samples = [p50 * f for f in (0.98, 0.99, 1.0, 1.0, 1.01, 1.02)]
    model: dict[str, Any] = {
        "path": f"/m/{name}/model.{precision or 'x'}.onnx", "name": f"{name}-{precision}" if precision else name,
        "sha256": sha or f"{name}{precision}{prune_round}".ljust(64, "0")[:64],
        "file_size_mb": 1.05 if precision == "fp32" else 0.3,
        "precision": precision, "arch": name, "params": params, "macs": macs, "manifest": True,
        "prune_round": prune_round,
        "inputs": [{"name": "input", "shape": ["batch", 3, 32, 32], "dtype": "float32"}],
    }
    rt: dict[str, Any] = {"name": runtime, "version": "1.31.1" if runtime.startswith("ort") else "2.14.1",
                          "options": {"intra_op_threads": threads}}
    if runtime_precision:
        rt["precision"] = runtime_precision
    r: dict[str, Any] = {
        "schema_version": version, "kind": "bench", "created_utc": created, "model": model, "runtime": rt,
        "options": {"batch": batch, "threads": threads, "graph_optimization": "all"},
        "latency": {"first_run_ms": p50 * 3, "p50_ms": p50, "p90_ms": p50 * 1.02, "p95_ms": p50 * 1.03,
                    "p99_ms": p50 * 1.05, "mean_ms": p50, "std_ms": p50 * 0.01, "min_ms": p50 * 0.98,
                    "max_ms": p50 * 1.05, "p50_ci95_ms": [p50 * 0.99, p50 * 1.01], "samples_ms": samples,
                    "noisy": noisy, "throughput_items_per_s": batch * 1000.0 / p50, "n": len(samples)},
        "memory": {"rss_before_load_mb": 30.0, "rss_after_load_mb": 60.0, "peak_rss_mb": 70.0},
        "machine": copy.deepcopy(machine),
        "warnings": [],
    }
    if top1 is not None:
        r["accuracy"] = {"dataset": "cifar10", "n": 1000, "top1_pct": top1, "top5_pct": 99.6}
    for d in drop:
        if d.startswith("model."):
            r["model"].pop(d.split(".", 1)[1])
        else:
            r.pop(d)
    return r


def detector_result(machine: dict[str, Any], *, map_pct: float | None, map_delta: float | None = None,
                    baseline: bool = False, n: int = 128, **kw: Any) -> dict[str, Any]:
    """`result` of a detector (`model.task` detection, name fastestdet) with `accuracy.map_pct`; `map_delta`: the
    paired block a sweep writes (sweep/stages.py stage_evaluate: mAP differences and box agreement, no CI)."""
    r = result(machine, name="fastestdet", top1=None, **kw)
    r["model"]["task"] = "detection"
    if map_pct is not None:
        r["accuracy"] = {"dataset": "val2017_first128", "n": n, "map_pct": map_pct, "map50_pct": map_pct + 16.0}
    if map_delta is not None:
        r["accuracy"]["paired"] = {"baseline": "evaluate fastestdet-fp32/ort-cpu", "is_baseline": baseline, "n": n,
                                   "map_delta_pts": map_delta, "map50_delta_pts": map_delta * 1.5,
                                   "baseline_boxes": 1916, "matched_boxes": 1587, "box_agreement_pct": 82.8,
                                   "score_threshold": 0.3, "iou_threshold": 0.5}
    return r


def write(folder: Path, results: list[dict[str, Any]]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, r in enumerate(results):
        p = folder / f"r{i:02d}.{r['machine']['id']}.{r['runtime']['name']}.json"
        p.write_text(json.dumps(r), encoding="utf-8")
        paths.append(p)
    return paths


def two_devices() -> list[dict[str, Any]]:
    """x86: ORT FP32/INT8 and torch FP32/INT8 at 2 threads; Pi 4: ORT FP32/INT8 at 4 threads."""
    return [
        result(X86, precision="fp32", runtime="ort-cpu", p50=2.0, top1=91.5),
        result(X86, precision="int8", runtime="ort-cpu", p50=1.0, top1=91.2),
        result(X86, precision="fp32", runtime="torch", p50=4.0, top1=91.5),
        result(X86, precision="fp32", runtime="torch-int8", runtime_precision="int8", p50=2.5, top1=91.0),
        result(PI4, precision="fp32", runtime="ort-cpu", p50=8.0, threads=4, top1=91.5),
        result(PI4, precision="int8", runtime="ort-cpu", p50=6.0, threads=4, top1=91.2),
    ]


def prune_summary(rounds: int = 2) -> dict[str, Any]:
    """A hand-made `edgebench prune` summary.json (kind edgebench.prune-run)."""
    rows = []
    for k in range(rounds + 1):
        rows.append({"round": k, "macs": int(40.8e6 * (1 - 0.25 * k)), "params": int(269_722 * (1 - 0.25 * k)),
                     "macs_reduction_pct": 25.0 * k, "params_reduction_pct": 25.0 * k,
                     "top1_before_finetune_pct": 91.5 - 6 * k, "final_top1_pct": 91.5 - 1.0 * k,
                     "best_top1_pct": 91.5 - 0.8 * k, "onnx_size_mb": 1.05 * (1 - 0.25 * k)})
    return {"schema_version": 1, "kind": "edgebench.prune-run", "arch": "resnet20", "importance": "l1",
            "scope": "internal", "rounds": rows}
