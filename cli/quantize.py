"""`edgebench quantize`: static INT8 (calibrated, CPU-aware preset), dynamic INT8 or FP16."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from edgebench.cli.common import (
    DataDirOpt,
    DownloadOpt,
    ForceOpt,
    JsonOpt,
    LabelsFileOpt,
    LabelsOpt,
    ModelPathArg,
    PresetOpt,
    TargetOpt,
    artifact_with_manifest,
    preprocessing_choice,
    say,
    with_preprocessing_options,
)
from edgebench.cli.options import FINITE
from edgebench.cli.root import app


def _split(s: str | None) -> tuple[str, ...] | None:
    if s is None:
        return None
    return tuple(x.strip() for x in s.split(",") if x.strip())


@app.command()
@with_preprocessing_options
def quantize(
    model: ModelPathArg,
    data: str | None = typer.Option(None, "--data", "-d",
                                    help="Calibration data: cifar10[:train|:test], an .npz (images, labels) or "
                                         "an image folder. Required for --mode static."),
    preset: PresetOpt = "auto",
    target: TargetOpt = None,
    mode: str = typer.Option("static", "--mode", "-m", help="static (calibrated INT8), dynamic (INT8 weights), fp16."),
    calib_size: int = typer.Option(1000, "--calib-size", "-n", help="Calibration images (a deterministic subset)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration subset draw."),
    first: bool = typer.Option(False, "--first", help="Take the first --calib-size images instead of a seeded draw."),
    batch_size: int = typer.Option(32, "--batch-size", help="Calibration batch size (fixed-batch models use theirs)."),
    method: str | None = typer.Option(None, "--method", help="Override the preset's calibration: minmax, entropy, "
                                                             "percentile."),
    exclude_nodes: str | None = typer.Option(None, "--exclude-nodes", help="Node names kept in FP32 (comma list)."),
    exclude_ops: str | None = typer.Option(None, "--exclude-ops", help="Op types kept in FP32, e.g. Gemm,Add."),
    weight_bits: int | None = typer.Option(None, "--weight-bits",
                                           help="8 (default), 6 (int8 storage, values in [-31, 31]) or 4 (int4)."),
    activation_bits: int | None = typer.Option(None, "--activation-bits", help="8 (default) or 16 (int16/uint16)."),
    accuracy_budget: float | None = typer.Option(
        None, "--accuracy-budget", callback=FINITE,
        help="Largest paired top-1 drop vs FP32 accepted (points, e.g. 0.3; mAP@0.5:0.95 points for a detector): "
             "nodes that quantization damages most stay float until it holds. Needs --eval-data."),
    eval_data: str | None = typer.Option(None, "--eval-data", help="Labelled images the budget is measured on, e.g. "
                                                                   "cifar10 (the test split); a detector: a COCO/YOLO "
                                                                   "folder (DIR/images + instances.json or labels/)."),
    eval_size: int | None = typer.Option(None, "--eval-size", help="With --eval-data: its first N images."),
    max_float: int = typer.Option(8, "--max-float", help="With --accuracy-budget: steps (tensors or nodes kept "
                                                          "float) tried at most."),
    try_methods: str | None = typer.Option(None, "--try-methods", help="With --accuracy-budget: calibration methods "
                                                                       "to try in turn, e.g. minmax,percentile."),
    best_effort: bool = typer.Option(False, "--best-effort", help="With --accuracy-budget: write the best model "
                                                                  "reached even when the budget is not met."),
    fallback: str | None = typer.Option(None, "--fallback", help="With --accuracy-budget: what rescued nodes fall "
                                                                 "back to: int8 (the preset's 8-bit weights, then "
                                                                 "float if not enough; default for --weight-bits "
                                                                 "6/4) or float."),
    data_dir: DataDirOpt = None,
    download: DownloadOpt = True,
    preprocess_model: bool = typer.Option(True, "--preprocess/--no-preprocess",
                                          help="Run ORT's quant_pre_process (shape inference + fusions) first."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Output .onnx file or folder (default: beside the model)."),
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    labels: LabelsOpt = None,
    labels_file: LabelsFileOpt = None,
    **pp: Any,
) -> None:
    """Quantize a model with a manifest (exported or described); writes model.int8.onnx (or .int8-dynamic /
    .fp16) + manifest. A model without a manifest takes the preprocessing options (as `edgebench describe`)."""
    from edgebench.calibration.entry import DynamicConfig, Fp16Config
    from edgebench.calibration.entry import quantize as run_quantize
    from edgebench.calibration.quantize import CalibrationSettings

    _check_mode(mode, {"--method": method, "--exclude-nodes": exclude_nodes, "--exclude-ops": exclude_ops,
                       "--weight-bits": weight_bits, "--activation-bits": activation_bits})
    settings = CalibrationSettings(size=calib_size, seed=None if first else seed, batch_size=batch_size)
    choice = _choice(preset, target, method, exclude_nodes, exclude_ops, weight_bits, activation_bits)
    budget = _budget(accuracy_budget, eval_data, best_effort, fallback, max_float, try_methods, choice, mode)
    # once, here; the library gets the resolved file and its manifest (built in memory from the preprocessing
    # options for a model that has none)
    artifact = artifact_with_manifest(model, preprocessing_choice(**pp), labels, "quantizing")
    if mode == "static":
        config = _static_config(choice, data, settings, data_dir, download, labels_file, preprocess_model, force,
                                weight_bits, activation_bits)
        if budget is not None:
            config = _budget_config(config, budget, eval_data, eval_size)
    else:
        if data:
            typer.echo(f"note: --data is not used by --mode {mode}", err=True)
        config = DynamicConfig(choice, preprocess_model, force) if mode == "dynamic" else Fp16Config(force)
    result = run_quantize(artifact, output, config, log=say)
    if as_json:
        typer.echo(json.dumps(result.manifest.to_dict(), indent=2))
        return
    for line in result.lines():
        typer.echo(line)


def _check_mode(mode: str, given: dict[str, Any]) -> None:
    """--mode is known, and no option it does not use was given."""
    from edgebench.calibration.quantize import MODES
    from edgebench.errors import UserInputError, check_one_of

    check_one_of("--mode", mode, MODES)
    ignored = [k for k, v in given.items()
               if v is not None and (mode == "fp16" or (mode == "dynamic" and k == "--method"))]
    if ignored:  # silently ignored before: --mode fp16 --weight-bits 4 wrote an fp16 model
        why = ("converts every weight to float16 and quantizes nothing" if mode == "fp16"
               else "quantizes activations at run time, with no calibration")
        raise UserInputError(f"{', '.join(ignored)}: not used by --mode {mode}, which {why}; drop "
                             f"{' and '.join(ignored)}, or use --mode static")


def _choice(preset: str, target: str | None, method: str | None, exclude_nodes: str | None,
            exclude_ops: str | None, weight_bits: int | None, activation_bits: int | None) -> Any:
    """The preset for this host (or --target) with the recipe options applied (a bad width refused now)."""
    from dataclasses import replace

    from edgebench.calibration.recipes import resolve_preset
    from edgebench.cpu import cpu_info

    choice = resolve_preset(preset, target, None if target else cpu_info())
    recipe = choice.recipe.with_overrides(method=method, nodes_to_exclude=_split(exclude_nodes),
                                          op_types_to_exclude=_split(exclude_ops), weight_bits=weight_bits,
                                          activation_bits=activation_bits)
    return replace(choice, recipe=recipe)


def _budget(accuracy_budget: float | None, eval_data: str | None, best_effort: bool, fallback: str | None,
            max_float: int, try_methods: str | None, choice: Any, mode: str) -> Any:
    """The --accuracy-budget options as an AccuracyBudget (None without a budget), checked before any work."""
    if accuracy_budget is None and eval_data is None and not best_effort and fallback is None:
        return None
    from edgebench.calibration.accuracy_aware import AccuracyBudget, resolve_fallback
    from edgebench.errors import UserInputError

    if accuracy_budget is None:
        raise UserInputError("--eval-data/--best-effort/--fallback go with --accuracy-budget P (points of top-1, "
                             "e.g. 0.3)")
    budget = AccuracyBudget(accuracy_budget, max_steps=max_float, methods=_split(try_methods) or (),
                            best_effort=best_effort, fallback=fallback)
    resolve_fallback(budget, choice.recipe)  # --fallback int8 on 8-bit weights: refused before any work
    if not eval_data:
        raise UserInputError(f"--accuracy-budget {accuracy_budget} needs labelled images to measure the drop on: "
                             "--eval-data cifar10 (test split), an .npz with labels or a class-folder tree")
    if mode != "static":
        raise UserInputError(f"--accuracy-budget applies to --mode static, not --mode {mode}")
    return budget


def _static_config(choice: Any, data: str | None, settings: Any, data_dir: Path | None, download: bool,
                   labels_file: Path | None, preprocess_model: bool, force: bool, weight_bits: int | None,
                   activation_bits: int | None) -> Any:
    """StaticConfig, or BitsConfig when --weight-bits/--activation-bits are given."""
    from edgebench.calibration.entry import BitsConfig, StaticConfig

    common = {"calib": settings, "data_dir": data_dir, "download": download, "labels_file": labels_file,
              "preprocess_model": preprocess_model, "force": force}
    if weight_bits is None and activation_bits is None:
        return StaticConfig(choice, data or "", **common)
    return BitsConfig(choice, data or "", **common, weight_bits=weight_bits, activation_bits=activation_bits)


def _budget_config(static: Any, budget: Any, eval_data: str, eval_size: int | None) -> Any:
    """The accuracy-aware config: the budget search evaluates `eval_data` through the model's task itself."""
    from edgebench.calibration.entry import BudgetConfig

    return BudgetConfig(static, budget, eval_data, eval_size)
