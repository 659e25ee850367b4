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
    PpChannelOrderOpt,
    PpInputLikeOpt,
    PpLayoutOpt,
    PpMeanOpt,
    PpPresetOpt,
    PpResizeOpt,
    PpScaleOpt,
    PpSizeOpt,
    PpStdOpt,
    artifact_with_manifest,
    preprocessing_choice,
    say,
)
from edgebench.cli.options import FINITE
from edgebench.cli.root import app
from edgebench.units import format_mb


def _split(s: str | None) -> tuple[str, ...] | None:
    if s is None:
        return None
    return tuple(x.strip() for x in s.split(",") if x.strip())


@app.command()
def quantize(
    model: ModelPathArg,
    data: str | None = typer.Option(None, "--data", "-d",
                                    help="Calibration data: cifar10[:train|:test], an .npz (images, labels) or "
                                         "an image folder. Required for --mode static."),
    preset: str = typer.Option("auto", "--preset", "-p",
                               help="auto (from this CPU's ISA flags, or --target), x86-vnni, x86-avx2, "
                                    "arm64-dotprod, arm64-neon, qdq-s8s8-tensor, u8s8-reduce-range."),
    target: str | None = typer.Option(None, "--target",
                                      help="With --preset auto: choose for this device instead of the host "
                                           "(pi5, pi4, zen3, zen4, cortex-a76, ...)."),
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
    preprocessing: PpPresetOpt = None,
    input_like: PpInputLikeOpt = None,
    mean: PpMeanOpt = None,
    std: PpStdOpt = None,
    scale: PpScaleOpt = None,
    size: PpSizeOpt = None,
    resize: PpResizeOpt = None,
    layout: PpLayoutOpt = None,
    channel_order: PpChannelOrderOpt = None,
    labels: LabelsOpt = None,
    labels_file: LabelsFileOpt = None,
) -> None:
    """Quantize a model with a manifest (exported or described); writes model.int8.onnx (or .int8-dynamic /
    .fp16) + manifest. A model without a manifest takes the preprocessing options (as `edgebench describe`)."""
    from edgebench.bench.fingerprint import cpu_info
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.labels import classes_for
    from edgebench.calibration.quantize import (
        MODES,
        CalibrationSettings,
        check_output,
        convert_fp16_model,
        quantize_dynamic_model,
        quantize_static_model,
        resolve_output,
    )
    from edgebench.calibration.recipes import resolve_preset
    from edgebench.errors import UserInputError, suggest

    if mode not in MODES:
        raise UserInputError(f"--mode '{mode}' is not one of {', '.join(MODES)}.{suggest(mode, MODES)}")
    given = {"--method": method, "--exclude-nodes": exclude_nodes, "--exclude-ops": exclude_ops,
             "--weight-bits": weight_bits, "--activation-bits": activation_bits}
    ignored = [k for k, v in given.items()
               if v is not None and (mode == "fp16" or (mode == "dynamic" and k == "--method"))]
    if ignored:  # silently ignored before: --mode fp16 --weight-bits 4 wrote an fp16 model
        why = ("converts every weight to float16 and quantizes nothing" if mode == "fp16"
               else "quantizes activations at run time, with no calibration")
        raise UserInputError(f"{', '.join(ignored)}: not used by --mode {mode}, which {why}; drop "
                             f"{' and '.join(ignored)}, or use --mode static")
    settings = CalibrationSettings(size=calib_size, seed=None if first else seed, batch_size=batch_size)
    choice = resolve_preset(preset, target, None if target else cpu_info())
    overrides = {"method": method, "nodes_to_exclude": _split(exclude_nodes),
                 "op_types_to_exclude": _split(exclude_ops), "weight_bits": weight_bits,
                 "activation_bits": activation_bits}
    if any(v is not None for v in overrides.values()):
        from dataclasses import replace

        choice = replace(choice, recipe=choice.recipe.with_overrides(**overrides))
    budget = None
    if accuracy_budget is not None or eval_data is not None or best_effort or fallback is not None:
        from edgebench.calibration.accuracy_aware import AccuracyBudget, resolve_fallback

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
    # once, here; the library gets the resolved file and its manifest (built in memory from the preprocessing
    # options for a model that has none)
    choice_pp = preprocessing_choice(preprocessing, input_like, mean, std, scale, size, resize, layout, channel_order)
    artifact = artifact_with_manifest(model, choice_pp, labels, "quantizing")
    model_path = artifact.path
    # the output before the calibration data is read (an existing file or an unwritable -o: refused now)
    check_output(model_path, output, mode, force)  # type: ignore[arg-type]
    if mode == "static":
        if not data:
            raise UserInputError("--mode static needs calibration data: --data cifar10:train, an .npz or an image "
                                 "folder")
        info = artifact.manifest.input if artifact.manifest else None
        classes = classes_for(info.dataset, info.class_names, artifact.manifest.num_classes) if info else None
        ds = load_dataset(data, data_dir, download, size=settings.size, seed=settings.seed,
                          preprocessing=info.preprocessing if info else None, classes=classes,
                          labels_file=labels_file)
        if budget is None:
            manifest = quantize_static_model(artifact, ds, choice, output=output, batch_size=settings.batch_size,
                                             dataset_spec=data, seed=settings.seed,
                                             preprocess_model=preprocess_model, force=force, log=say,
                                             requested_size=settings.size)
        else:
            manifest = _accuracy_aware(artifact, ds, choice, budget, data, eval_data, eval_size, data_dir, download,
                                       output=output, batch_size=settings.batch_size, seed=settings.seed,
                                       preprocess_model=preprocess_model, force=force, requested_size=settings.size)
    else:
        if data:
            typer.echo(f"note: --data is not used by --mode {mode}", err=True)
        if mode == "dynamic":
            manifest = quantize_dynamic_model(artifact, choice, output=output, preprocess_model=preprocess_model,
                                              force=force, log=say)
        else:
            manifest = convert_fp16_model(artifact, output=output, force=force)

    if as_json:
        typer.echo(json.dumps(manifest.to_dict(), indent=2))
        return
    out_path = resolve_output(model_path, output, mode)  # type: ignore[arg-type]
    parent_mb, child_mb = manifest.parent_file_size_mb or 0.0, manifest.file_size_mb or 0.0
    ratio = parent_mb / child_mb if child_mb else float("nan")
    if mode != "fp16":
        typer.echo(f"preset   {choice.preset}: {choice.reason}")
        r = manifest.recipe or {}
        bits = f" bits w{r.get('weight_bits', 8)}/a{r.get('activation_bits', 8)}" if mode == "static" else ""
        typer.echo(f"recipe   {r['quant_format']} act={r['activation_type']} weight={r['weight_type']} "
                   f"per_channel={r['per_channel']} reduce_range={r['reduce_range']} method={r['method']}{bits}")
    if mode == "static":
        c = manifest.calibration or {}
        how = "first" if c["seed"] is None else f"seed {c['seed']}"
        asked = f" (of {c['requested_size']} asked for)" if c.get("requested_size", c["size"]) > c["size"] else ""
        typer.echo(f"calib    {c['size']} images{asked} of {c['dataset']} ({how}), sha256 {c['sha256'][:12]}")
    if manifest.accuracy_aware:
        a = manifest.accuracy_aware
        kept = ", ".join(a["float_nodes"]) or "none"
        at8 = f"; 8-bit: {', '.join(a.get('int8_nodes', [])) or 'none'}" if a.get("fallback") == "int8" else ""
        typer.echo(f"budget   {a['budget_pts']} points on {a['eval_images']} images of {a['eval_data']}: drop "
                   f"{a['drop_before_pts']:+.2f} -> {a['drop_after_pts']:+.2f} ({'met' if a['met'] else 'NOT met'}); "
                   f"float: {kept}{at8}")
    if manifest.nodes:
        n = manifest.nodes
        left = ", ".join(f"{k} x{v}" for k, v in n["float_op_types"].items()) or "none"
        typer.echo(f"nodes    {n['int8']} INT8, {n['float']} float ({left})")
        by_reason: dict[str, list[str]] = {}
        for node, why in (n.get("float_nodes") or {}).items():
            by_reason.setdefault(why, []).append(node)
        for why, names in by_reason.items():
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            typer.echo(f"float    {shown}: {why}")
        if "ort_cpu" in n:
            e = n["ort_cpu"]
            how = ", ".join(f"{k} x{v}" for k, v in e["float_compute"].items()) or "none"
            typer.echo(f"ORT CPU  integer kernels: {', '.join(e['integer_compute']) or 'none'}; float compute on "
                       f"dequantized tensors: {how}")
    typer.echo(f"wrote    {out_path} ({format_mb(child_mb)}; FP32 {format_mb(parent_mb)}, {ratio:.2f}x smaller)")


def _accuracy_aware(artifact: Any, calib: Any, choice: Any, budget: Any, data: str, eval_spec: str,
                    eval_size: int | None, data_dir: Path | None, download: bool, **kwargs: Any) -> Any:
    """Accuracy-aware PTQ with predictions from `bench.evaluate` (a detector: `bench.evaluate_detection`) and the
    metric of the manifest's task (the library stays below bench)."""
    from edgebench.bench.tasks import task_of
    from edgebench.calibration.accuracy_aware import accuracy_aware_quantize
    from edgebench.cli.common import say
    from edgebench.errors import UserInputError
    from edgebench.task import DETECTION

    task = task_of(artifact.manifest)
    predict: Any
    if task.name == DETECTION:
        from edgebench.bench.evaluate_detection import evaluate_detection, load_detection

        if eval_size is not None and eval_size < 1:
            raise UserInputError(f"--eval-size {eval_size} must be >= 1")
        ev: Any = load_detection(eval_spec, None, eval_size)

        def predict(path: Path) -> list[Any]:
            return evaluate_detection(path, ev, threads=1, manifest=artifact.manifest)["predictions"]
    else:
        from edgebench.bench.evaluate import evaluate, load_eval_dataset

        ev = load_eval_dataset(eval_spec, artifact.manifest, data_dir, download).require_labels(
            "--accuracy-budget").subset(eval_size)

        def predict(path: Path) -> list[Any]:
            return evaluate(path, ev, threads=1)["predictions"]
    if str(Path(eval_spec)) == str(Path(data)) or str(Path(eval_spec) / "images") == str(Path(data)):
        say(f"note: --eval-data is the calibration data ({data}); the budget then holds on images the ranges "
            "were fitted to")
    metric = "mAP@0.5:0.95 points" if task.name == DETECTION else "points"
    say(f"accuracy-aware PTQ: budget {budget.budget_pts} {metric} on {len(ev)} images of {eval_spec}")
    return accuracy_aware_quantize(artifact, calib, choice, ev, predict, budget, task=task, dataset_spec=data,
                                   eval_spec=eval_spec, log=say, **kwargs)
