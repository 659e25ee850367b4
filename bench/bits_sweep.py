"""A fixed-point bit-width sweep through ORT QDQ types: size, paired accuracy and latency per setting.

For each (weight bits, activation bits) of the grid the float model is quantized with the preset (static QDQ,
same calibration images), evaluated on labelled images paired with FP32, and all settings are timed against
FP32 in one interleaved run (ORT, `threads`, batch 1). Each row also says what ORT's CPU provider really
computes with (`nodes.ort_cpu` as `quantize` records it): its kernels are 8-bit, so 4-bit weights and 16-bit
activations run as DequantizeLinear -> float Conv (smaller or finer, not faster).

    result = sweep_bits(Path("artifacts/resnet56"), calib, test, resolve_preset("auto", cpu=cpu_info()),
                        Path("artifacts/bench-bits"), BitsSweepConfig(weights=(8, 4), activations=(8,)))
    print(format_table(result))    # result was also written to artifacts/bench-bits/sweep-bits.json

Used by `edgebench sweep-bits` and `make bench-bits`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgebench.artifact import ModelArtifact
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.recipes import ACTIVATION_BITS, WEIGHT_BITS, PresetChoice
from edgebench.errors import UserInputError

SWEEP_BITS_SCHEMA_VERSION = 1
RESULT_FILE = "sweep-bits.json"


def parse_bits(text: str, option: str) -> tuple[int, ...]:
    """'8,6,4' -> (8, 6, 4); a non-integer names the option.

    >>> parse_bits("8, 4", "--weights")
    (8, 4)
    """
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(int(part))
        except ValueError:
            raise UserInputError(f"{option} '{text}': '{part}' is not a bit width; give a comma list, e.g. "
                                 "8,6,4") from None
    if not out:
        raise UserInputError(f"{option} '{text}' names no bit width; e.g. {option} 8,6,4")
    return tuple(out)


@dataclass(frozen=True)
class BitsSweepConfig:
    """The grid (every weight width x every activation width) and how latency is measured."""

    weights: tuple[int, ...] = (8, 6, 4)
    activations: tuple[int, ...] = (8, 16)
    threads: int = 1
    rounds: int = 7
    iters: int = 20

    def __post_init__(self) -> None:
        for option, values, allowed, why in (
            ("--weights", self.weights, WEIGHT_BITS,
             "ONNX has int8/int4 weight types (6 = int8 holding [-31, 31]); ORT's only CPU op taking other widths "
             "is DequantizeLinear, and its compute kernels (QLinearConv, QGemm, MatMulInteger) are 8-bit"),
            ("--activations", self.activations, ACTIVATION_BITS,
             "QuantizeLinear/DequantizeLinear take 8- and 16-bit activations; no CPU kernel (QLinearConv, QGemm, "
             "QLinearAdd) computes on 4-bit activations"),
        ):
            if not values:
                raise UserInputError(f"{option}: give at least one bit width ({', '.join(map(str, allowed))})")
            bad = [v for v in values if isinstance(v, bool) or v not in allowed]
            if bad:
                raise UserInputError(f"{option} {','.join(map(str, bad))}: not a width ORT can run; choose from "
                                     f"{','.join(map(str, allowed))} ({why})")
            if len(set(values)) != len(values):
                raise UserInputError(f"{option} {','.join(map(str, values))} repeats a width; give each once")
        for name in ("threads", "rounds", "iters"):
            if getattr(self, name) < 1:
                raise UserInputError(f"--{name} {getattr(self, name)} must be >= 1")

    def settings(self) -> list[tuple[int, int]]:
        """(weight bits, activation bits) of every setting, widest first."""
        return [(w, a) for w in self.weights for a in self.activations]


def check_settings(choice: PresetChoice, config: BitsSweepConfig) -> list[PresetChoice]:
    """The preset with each setting's widths (validated before any work: a QOperator recipe cannot take them)."""
    out = []
    for w, a in config.settings():
        try:
            out.append(replace(choice, recipe=choice.recipe.with_overrides(weight_bits=w, activation_bits=a)))
        except UserInputError as e:
            raise UserInputError(f"setting w{w}/a{a} with preset {choice.preset}: {e}") from None
    return out


def ort_runs(nodes: dict[str, Any] | None) -> str:
    """'INT8 kernels' or 'float on DQ (Conv x19, Gemm x1)' from a manifest's `nodes` (its `ort_cpu`)."""
    e = (nodes or {}).get("ort_cpu")
    if e is None:
        return "INT8 kernels"
    flt = ", ".join(f"{k} x{v}" for k, v in e["float_compute"].items() if k in ("Conv", "FusedConv", "Gemm",
                                                                                 "MatMul"))
    return "INT8 kernels" if e["all_integer"] else f"float on DQ ({flt})"


def sweep_bits(model: Path | ModelArtifact, calib: Dataset, eval_data: Dataset, choice: PresetChoice, out_dir: Path,
               config: BitsSweepConfig | None = None, *, dataset_spec: str | None = None,
               eval_spec: str | None = None, seed: int | None = None, batch_size: int = 32, reuse: bool = False,
               host: dict[str, Any] | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Quantize `model` at every setting of `config` into `out_dir/w{W}a{A}/`, evaluate and time them; write
    `out_dir/sweep-bits.json` (atomically) and return it.

    `reuse`: keep a setting's model already in `out_dir` (its manifest must say the same widths and preset).
    """
    from edgebench.atomic import write_json
    from edgebench.bench.interleave import interleaved_latency
    from edgebench.calibration.bits import gzip_size_mb
    from edgebench.calibration.evaluate import evaluate
    from edgebench.calibration.metrics import paired_metrics
    from edgebench.calibration.quantize import as_artifact, quantize_static_model
    from edgebench.manifest import load_manifest, read_manifest

    config = config or BitsSweepConfig()
    log = log or (lambda _m: None)
    t0 = time.time()
    choices = check_settings(choice, config)
    eval_data.require_labels("sweep-bits")
    artifact = as_artifact(model)
    fp32 = artifact.path
    models: dict[str, Path] = {}
    manifests: dict[str, dict[str, Any]] = {}
    for ch in choices:
        r = ch.recipe
        key = f"w{r.weight_bits}a{r.activation_bits}"
        out = out_dir / key / "model.int8.onnx"
        old = read_manifest(out.with_suffix(".json")) if reuse and out.is_file() and out.with_suffix(
            ".json").is_file() else None
        if old is None or old.recipe is None or old.recipe.to_dict() != r.to_dict():
            log(f"[sweep-bits] quantize {fp32.name} {key} ({ch.preset})")
            quantize_static_model(artifact, calib, ch, output=out, batch_size=batch_size, dataset_spec=dataset_spec,
                                  seed=seed, force=True)
        models[key] = out
        manifests[key] = load_manifest(out.with_suffix(".json"))
    log(f"[sweep-bits] accuracy on {len(eval_data)} images, paired with FP32")
    base = evaluate(fp32, eval_data, threads=config.threads)
    acc = {k: evaluate(p, eval_data, threads=config.threads) for k, p in models.items()}
    log(f"[sweep-bits] latency: {config.rounds} interleaved rounds x {config.iters} runs, {config.threads} "
        "thread(s), batch 1")
    lat = interleaved_latency({"fp32": fp32, **models}, threads=config.threads, batch=1, rounds=config.rounds,
                              iters=config.iters)
    # one thread: ORT runs on the calling thread, whose CPU time a busy machine inflates least (bench.interleave)
    cpu_key = "cpu_p50_ms" if config.threads == 1 else "p50_ms"
    speed_key = "cpu_speedup_vs_first" if config.threads == 1 else "speedup_vs_first"

    def p50(k: str) -> float:
        return float(lat[k].get(cpu_key) or lat[k]["p50_ms"])

    rows = []
    for ch, (k, p) in zip(choices, models.items(), strict=True):
        m = manifests[k]
        pm = paired_metrics(acc[k]["predictions"], base["predictions"], eval_data.labels)
        rows.append({
            "weight_bits": ch.recipe.weight_bits, "activation_bits": ch.recipe.activation_bits,
            "path": str(p), "onnx_types": {"weights": m["nodes"]["weight_types"],
                                           "activations": m["nodes"]["activation_types"]},
            "file_size_mb": p.stat().st_size / 1e6, "gzip_mb": gzip_size_mb(p),
            "top1_pct": acc[k]["top1_pct"], "drop_pts": -pm["top1_delta_pts"], "agreement_pct": pm["agreement_pct"],
            "p50_ms": p50(k), "speedup_vs_fp32": float(lat[k][speed_key]),
            "ort_cpu": m["nodes"].get("ort_cpu"), "ort_runs": ort_runs(m["nodes"]),
            "paired": pm, "latency": lat[k],
        })
    result = {
        "schema_version": SWEEP_BITS_SCHEMA_VERSION, "kind": "edgebench.sweep-bits", "model": str(fp32),
        "preset": choice.to_dict(), "recipe": choice.recipe.to_dict(), "host": host,
        "calibration": {"dataset": dataset_spec or calib.name, "size": len(calib), "seed": seed},
        "eval": {"dataset": eval_spec or eval_data.name, "images": len(eval_data),
                 "sha256": eval_data.fingerprint()},
        "latency": {"threads": config.threads, "batch": 1, "rounds": config.rounds, "iters": config.iters,
                    "clock": "thread CPU time" if config.threads == 1 else "wall",
                    "loadavg_1min": lat["fp32"].get("loadavg_1min")},
        "fp32": {"top1_pct": base["top1_pct"], "file_size_mb": fp32.stat().st_size / 1e6,
                 "gzip_mb": gzip_size_mb(fp32), "p50_ms": p50("fp32"), "latency": lat["fp32"]},
        "rows": rows, "seconds": time.time() - t0,
    }
    write_json(out_dir / RESULT_FILE, result)
    return result


def format_table(result: dict[str, Any]) -> str:
    """The sweep as a text table (one line per setting, FP32 first)."""
    lat = result["latency"]
    f = result["fp32"]
    lines = [f"accuracy: {result['eval']['images']} images of {result['eval']['dataset']}, paired with FP32; "
             f"latency: ORT {lat['threads']} thread(s), batch 1, {lat['clock']}, x FP32 = median of per-round "
             "FP32 / setting ratios (interleaved)"]
    hdr = (f"{'w/a bits':9s} {'ONNX types (w, a)':18s} | {'MB':>6s} {'gzip MB':>7s} | {'top-1':>6s} {'drop':>6s} "
           f"{'agree':>6s} | {'p50 ms':>7s} {'x FP32':>6s} | ORT CPU runs")
    lines += [hdr, "-" * len(hdr)]
    lines.append(f"{'FP32':9s} {'float, float':18s} | {f['file_size_mb']:6.3f} {f['gzip_mb']:7.3f} | "
                 f"{f['top1_pct']:6.2f} {'':>6s} {'':>6s} | {f['p50_ms']:7.3f} {1:6.2f} | float")
    for r in result["rows"]:
        t = r["onnx_types"]
        types = f"{','.join(t['weights']) or 'float'}, {','.join(t['activations']) or 'float'}"
        lines.append(f"{r['weight_bits']}/{r['activation_bits']:<7d} {types:18s} | {r['file_size_mb']:6.3f} "
                     f"{r['gzip_mb']:7.3f} | {r['top1_pct']:6.2f} {r['drop_pts']:+6.2f} {r['agreement_pct']:6.1f} | "
                     f"{r['p50_ms']:7.3f} {r['speedup_vs_fp32']:6.2f} | {r['ort_runs']}")
    lines.append("(drop = FP32 top-1 - setting top-1, points; 6-bit weights are int8 tensors holding [-31, 31]: the "
                 "file is not smaller, gzip is; 4-bit weights are packed int4 (opset 21). ORT's CPU INT8 kernels "
                 "take 8-bit inputs only.)")
    return "\n".join(lines)



@dataclass(frozen=True)
class BitsSweepRun:
    """`edgebench sweep-bits`: the model, its data, the grid and where to write (default MODEL's
    folder/sweep-bits); the option values are checked on construction."""

    model: Path
    data: str
    eval_data: str
    grid: BitsSweepConfig = BitsSweepConfig()
    output_dir: Path | None = None
    preset: str = "auto"
    target: str | None = None
    calib_size: int = 1000
    seed: int = 0
    eval_size: int | None = None
    data_dir: Path | None = None
    download: bool = True
    reuse: bool = False
    force: bool = False

    def __post_init__(self) -> None:
        if self.calib_size < 1:
            raise UserInputError(f"--calib-size {self.calib_size} must be >= 1")


@dataclass(frozen=True)
class BitsSweepOutcome:
    """What `run_bits_sweep` measured: the model, the preset it started from, the output folder and the result."""

    artifact: ModelArtifact
    choice: PresetChoice
    out_dir: Path
    result: dict[str, Any]


def run_bits_sweep(run: BitsSweepRun, log: Callable[[str], None] | None = None) -> BitsSweepOutcome:
    """The preset and every setting checked, the output folder checked, the data read, then `sweep_bits`."""
    from edgebench.atomic import check_writable_dir
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.recipes import resolve_preset
    from edgebench.cpu import cpu_info

    cpu = cpu_info()
    choice = resolve_preset(run.preset, run.target, None if run.target else cpu)
    check_settings(choice, run.grid)
    artifact = ModelArtifact.resolve(run.model)
    out = run.output_dir if run.output_dir is not None else artifact.path.parent / "sweep-bits"
    if (out / RESULT_FILE).exists() and not (run.force or run.reuse):
        raise UserInputError(f"'{out / RESULT_FILE}' exists; pass --force to overwrite (or --reuse to keep its "
                             "models), or -o another folder")
    check_writable_dir(out)  # before the data is read and the settings quantized
    info = artifact.manifest.input if artifact.manifest else None
    calib = load_dataset(run.data, run.data_dir, run.download, size=run.calib_size, seed=run.seed,
                         preprocessing=info.preprocessing if info else None, input_hw=info.image_hw() if info else None)
    ev = load_dataset(run.eval_data, run.data_dir, run.download, labelled_for="sweep-bits").subset(run.eval_size)
    result = sweep_bits(artifact, calib, ev, choice, out, run.grid, dataset_spec=run.data, eval_spec=run.eval_data,
                        seed=run.seed, reuse=run.reuse, host=dict(cpu), log=log)
    return BitsSweepOutcome(artifact, choice, out, result)
