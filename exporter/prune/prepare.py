"""What `prune` sets up before the rounds: a latency-aware plan, and the probe pack `latency-table` measures
(probes.json + the model's ONNX at the shipped precision). The distillation teacher is `train.distill.resolve_teacher`.

Example::

    plan, table = latency_plan(model, spec, LatencyTarget(Path("table.json"), speedup=2.0), sens_data)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.atomic import ensure_writable_dir, write_json
from edgebench.calibration.dataset import Dataset
from edgebench.errors import UserInputError, check_one_of
from edgebench.exporter.prune.latency import (
    LatencyPlan,
    check_reachable,
    choose_plan,
    latency_probes,
    width_sensitivity,
)
from edgebench.exporter.train.distill import example_input
from edgebench.latency_table import PRECISIONS, PROBES_FILE, check_table, load_table
from edgebench.manifest import sha256_file
from torch import nn

Log = Callable[[str], None]


@dataclass(frozen=True)
class LatencyTarget:
    """`--latency-table T` with `--target-speedup S` or `--target-latency-ms MS` (and what the table must be for)."""

    table: Path
    speedup: float | None = None
    latency_ms: float | None = None
    runtime: str | None = None
    precision: str | None = None
    threads: int | None = None
    sensitivity_images: int = 500
    allow_remove: bool = True

    def __post_init__(self) -> None:
        if self.speedup is not None and self.latency_ms is not None:
            raise UserInputError("give one of --target-speedup and --target-latency-ms, not both")
        if self.speedup is not None and not self.speedup > 1.0:
            raise UserInputError(f"--target-speedup {self.speedup} must be > 1 (e.g. 2 for twice as fast)")
        if self.latency_ms is not None and not self.latency_ms > 0:
            raise UserInputError(f"--target-latency-ms {self.latency_ms} must be > 0")
        if self.precision is not None:
            check_one_of("--precision", self.precision, PRECISIONS)
        if self.sensitivity_images < 10:
            raise UserInputError(f"sensitivity_images {self.sensitivity_images} must be >= 10 (the latency plan's "
                                 "sensitivity needs at least 10 images)")

    @classmethod
    def from_options(cls, table: Path | None, speedup: float | None = None, latency_ms: float | None = None,
                     **kwargs: Any) -> LatencyTarget | None:
        """The `--latency-table/--target-speedup/--target-latency-ms` options -> a target, or None without a table
        (a target without a table is refused)."""
        if table is None:
            if speedup is not None or latency_ms is not None:
                raise UserInputError("--target-speedup/--target-latency-ms need --latency-table (edgebench "
                                     "latency-table)")
            return None
        return cls(table, speedup, latency_ms, **kwargs)

    @property
    def has_target(self) -> bool:
        """A speedup or latency to reach (else the table only predicts each round's latency)."""
        return self.speedup is not None or self.latency_ms is not None

    def target_ms(self, table: dict[str, Any]) -> float:
        if self.speedup is None and self.latency_ms is None:
            raise UserInputError("give --target-speedup or --target-latency-ms to choose widths on the table")
        return self.latency_ms if self.latency_ms is not None else float(table["full_model_ms"]) / float(self.speedup)


def check_model_table(model: nn.Module, spec: Any, target: LatencyTarget) -> tuple[dict[str, Any], dict[str, Any]]:
    """(table, probes of `model`): the table loaded and checked against this model, runtime, precision, threads."""
    table = load_table(target.table)
    probes = latency_probes(model, example_input(spec), arch=spec.name,
                            channel_block=int(table.get("channel_block") or 8))
    check_table(table, arch=spec.name, model_hash=probes["model"]["hash"], runtime=target.runtime,
                precision=target.precision, threads=target.threads, source=f"latency table '{target.table}'")
    if target.speedup is not None or target.latency_ms is not None:
        check_reachable(table, target.target_ms(table), allow_remove=target.allow_remove)
    return table, probes


def latency_plan(model: nn.Module, spec: Any, target: LatencyTarget, sens_data: Dataset, *,
                 sensitivity: dict[str, Any] | None = None, importance: str = "l1", out_dir: Path | None = None,
                 log: Log | None = None) -> tuple[LatencyPlan, dict[str, Any], dict[str, Any]]:
    """(plan, table, sensitivity) for `target`; the sensitivity is computed unless given (and saved in `out_dir`)."""
    from edgebench.exporter.train.loop import reference_divergence

    log = log or (lambda _m: None)
    table, probes = check_model_table(model, spec, target)
    target_ms = target.target_ms(table)
    if sensitivity is None:
        data = sens_data.subset(target.sensitivity_images)
        log(f"sensitivity of {len(probes['units'])} units at their candidate widths on {len(data)} images")
        # the cost of a choice: how far it moves the outputs from the unpruned model's (KL at the distillation
        # temperature); cross-entropy on memorised training images hardly moves (ResNet-56: +0.016 for 6 blocks
        # removed, which then cost 1.4 points on the test images)
        sensitivity = width_sensitivity(model, example_input(spec), probes,
                                        reference_divergence(model, data, spec.input.preprocessing),
                                        importance=importance, log=log)
        sensitivity["data"] = {"name": data.name, "n": len(data)}
        sensitivity["loss"] = "kl_to_unpruned_t4"
        if out_dir is not None:
            write_json(ensure_writable_dir(out_dir) / "latency_sensitivity.json", sensitivity)
    elif (sensitivity.get("model") or {}).get("hash") != probes["model"]["hash"]:
        raise UserInputError("the latency sensitivity file was made for another model structure; drop it to recompute")
    plan = choose_plan(table, sensitivity, target_ms=target_ms, allow_remove=target.allow_remove)
    greedy = (f"; the greedy alone {plan.full_model_ms / plan.greedy_predicted_ms:.2f}x, its last move on "
              f"'{plan.back_off['unit']}' shrunk" if plan.back_off and plan.greedy_predicted_ms else "")
    log(f"plan: {len(plan.removed_blocks)} blocks removed, predicted {plan.predicted_ms:.3f} ms "
        f"({plan.predicted_speedup:.2f}x for a {plan.target_speedup:.2f}x target{greedy}; of {plan.full_model_ms:.3f} "
        f"ms, {table['precision']}, {table['threads']} thread(s), table from {table.get('machine')})")
    return plan, table, sensitivity


def probe_pack(model: nn.Module, spec: Any, out_dir: Path, *, precision: str, cpu: Mapping[str, Any],
               channel_block: int = 8) -> Path:
    """`out_dir/probes.json` + `model.fp32.onnx` (+ `model.int8.onnx`): what `latency-table --probes` measures;
    returns the ONNX file to measure.

    The INT8 model is quantized with the `auto` preset of `cpu` (the device's `cpu` fingerprint section) on
    random images: latency depends on the graph, not on the calibration values.
    """
    from edgebench.exporter.export import export_model

    check_one_of("--precision", precision, PRECISIONS)
    out = ensure_writable_dir(out_dir)
    probes = latency_probes(model, example_input(spec), arch=spec.name, channel_block=channel_block)
    export_model(model, spec, out, parity_dataset=None, force=True, weights={"source": "latency-probe"})
    onnx_path = out / "model.fp32.onnx"
    if precision == "int8":
        from edgebench.calibration.quantize import quantize_static_model
        from edgebench.calibration.recipes import resolve_preset
        h, w = spec.input_hw
        imgs = np.random.default_rng(0).integers(0, 256, (32, h, w, 3), dtype=np.uint8)
        calib = Dataset(imgs, np.zeros(32, np.int64), "random")
        quantize_static_model(onnx_path, calib, resolve_preset("auto", None, cpu), force=True)
        onnx_path = out / "model.int8.onnx"
    probes["model_file"] = onnx_path.name
    probes["model_sha256"] = sha256_file(onnx_path)  # `latency-table --probes` verifies the model it times
    probes["precision"] = precision
    (out / PROBES_FILE).write_text(json.dumps(probes, indent=2) + "\n", encoding="utf-8")
    return onnx_path
