"""`edgebench quantize`: static INT8 (calibrated, CPU-aware preset), dynamic INT8 or FP16."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from edgebench.cli.common import (
    DataDirOpt,
    DownloadOpt,
    ForceOpt,
    JsonOpt,
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
from edgebench.cli.root import app


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
) -> None:
    """Quantize a model with a manifest (exported or described); writes model.int8.onnx (or .int8-dynamic /
    .fp16) + manifest. A model without a manifest takes the preprocessing options (as `edgebench describe`)."""
    from edgebench.bench.fingerprint import cpu_info
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.quantize import (
        MODES,
        CalibrationSettings,
        convert_fp16_model,
        quantize_dynamic_model,
        quantize_static_model,
        resolve_output,
    )
    from edgebench.calibration.recipes import resolve_preset
    from edgebench.errors import UserInputError, suggest

    if mode not in MODES:
        raise UserInputError(f"--mode '{mode}' is not one of {', '.join(MODES)}.{suggest(mode, MODES)}")
    settings = CalibrationSettings(size=calib_size, seed=None if first else seed, batch_size=batch_size)
    choice = resolve_preset(preset, target, None if target else cpu_info())
    overrides = {"method": method, "nodes_to_exclude": _split(exclude_nodes),
                 "op_types_to_exclude": _split(exclude_ops)}
    if any(v is not None for v in overrides.values()):
        from dataclasses import replace

        choice = replace(choice, recipe=choice.recipe.with_overrides(**overrides))
    # once, here; the library gets the resolved file and its manifest (built in memory from the preprocessing
    # options for a model that has none)
    choice_pp = preprocessing_choice(preprocessing, input_like, mean, std, scale, size, resize, layout, channel_order)
    artifact = artifact_with_manifest(model, choice_pp, labels, "quantizing")
    model_path = artifact.path

    if mode == "static":
        if not data:
            raise UserInputError("--mode static needs calibration data: --data cifar10:train, an .npz or an image "
                                 "folder")
        info = artifact.manifest.input if artifact.manifest else None
        ds = load_dataset(data, data_dir, download, size=settings.size, seed=settings.seed,
                          preprocessing=info.preprocessing if info else None)
        manifest = quantize_static_model(artifact, ds, choice, output=output, batch_size=settings.batch_size,
                                         dataset_spec=data, seed=settings.seed, preprocess_model=preprocess_model,
                                         force=force, log=say)
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
        typer.echo(f"recipe   {r['quant_format']} act={r['activation_type']} weight={r['weight_type']} "
                   f"per_channel={r['per_channel']} reduce_range={r['reduce_range']} method={r['method']}")
    if mode == "static":
        c = manifest.calibration or {}
        how = "first" if c["seed"] is None else f"seed {c['seed']}"
        typer.echo(f"calib    {c['size']} images of {c['dataset']} ({how}), sha256 {c['sha256'][:12]}")
    if manifest.nodes:
        n = manifest.nodes
        left = ", ".join(f"{k} x{v}" for k, v in n["float_op_types"].items()) or "none"
        typer.echo(f"nodes    {n['int8']} INT8, {n['float']} float ({left})")
    typer.echo(f"wrote    {out_path} ({child_mb:.3f} MB; FP32 {parent_mb:.3f} MB, {ratio:.2f}x smaller)")
