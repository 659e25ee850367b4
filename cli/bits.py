"""`edgebench sweep-bits`: quantize one model at several weight/activation bit widths; size, accuracy, latency."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from edgebench.cli.common import DataDirOpt, DownloadOpt, ForceOpt, JsonOpt, ModelPathArg, say
from edgebench.cli.root import app


@app.command("sweep-bits")
def sweep_bits(
    model: ModelPathArg,
    data: str = typer.Option(..., "--data", "-d", help="Calibration images: cifar10[:train|:test], an .npz or an "
                                                       "image folder."),
    eval_data: str = typer.Option(..., "--eval-data", help="Labelled images for the paired top-1, e.g. cifar10."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o",
                                           help="Folder for the models and sweep-bits.json (default: MODEL's "
                                                "folder/sweep-bits)."),
    weights: str = typer.Option("8,6,4", "--weights", help="Weight bit widths: 8, 6 (int8 holding [-31, 31]), "
                                                           "4 (int4)."),
    activations: str = typer.Option("8,16", "--activations", help="Activation bit widths: 8, 16 (int16/uint16)."),
    threads: int = typer.Option(1, "--threads", "-t", help="ORT intra-op threads for accuracy and latency."),
    preset: str = typer.Option("auto", "--preset", "-p", help="The recipe every setting starts from (auto, "
                                                              "x86-vnni, ...)."),
    target: str | None = typer.Option(None, "--target", help="With --preset auto: choose for this device."),
    calib_size: int = typer.Option(1000, "--calib-size", "-n", help="Calibration images (a seeded subset)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration subset draw."),
    eval_size: int | None = typer.Option(None, "--eval-size", help="Only the first N eval images."),
    rounds: int = typer.Option(7, "--rounds", help="Interleaved latency rounds."),
    iters: int = typer.Option(20, "--iters", help="Timed runs per model per round."),
    reuse: bool = typer.Option(False, "--reuse", help="Keep settings already quantized in the output folder "
                                                      "(same recipe)."),
    data_dir: DataDirOpt = None,
    download: DownloadOpt = True,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Bit-width sweep: weights 8/6/4 x activations 8/16 through ORT QDQ types; file and gzip size, paired top-1,
    interleaved latency vs FP32 and what ORT really runs (INT8 kernels or float on DequantizeLinear)."""
    from edgebench.artifact import ModelArtifact
    from edgebench.atomic import check_writable_dir
    from edgebench.bench.bits_sweep import RESULT_FILE, BitsSweepConfig, check_settings, format_table, parse_bits
    from edgebench.bench.bits_sweep import sweep_bits as run_sweep
    from edgebench.bench.fingerprint import cpu_info
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.recipes import resolve_preset
    from edgebench.errors import UserInputError

    config = BitsSweepConfig(weights=parse_bits(weights, "--weights"),
                             activations=parse_bits(activations, "--activations"), threads=threads, rounds=rounds,
                             iters=iters)
    cpu = cpu_info()
    choice = resolve_preset(preset, target, None if target else cpu)
    check_settings(choice, config)
    if calib_size < 1:
        raise UserInputError(f"--calib-size {calib_size} must be >= 1")
    artifact = ModelArtifact.resolve(model)
    out = output_dir if output_dir is not None else artifact.path.parent / "sweep-bits"
    if (out / RESULT_FILE).exists() and not (force or reuse):
        raise UserInputError(f"'{out / RESULT_FILE}' exists; pass --force to overwrite (or --reuse to keep its "
                             "models), or -o another folder")
    check_writable_dir(out)  # before the data is read and the settings quantized
    info = artifact.manifest.input if artifact.manifest else None
    calib = load_dataset(data, data_dir, download, size=calib_size, seed=seed,
                         preprocessing=info.preprocessing if info else None)
    ev = load_dataset(eval_data, data_dir, download, labelled_for="sweep-bits").subset(eval_size)
    result = run_sweep(artifact, calib, ev, choice, out, config, dataset_spec=data, eval_spec=eval_data, seed=seed,
                       reuse=reuse, host=dict(cpu), log=say)
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    typer.echo(f"sweep-bits: {artifact.path.name}, preset {choice.preset} ({choice.reason})")
    typer.echo(format_table(result))
    typer.echo(f"wrote    {out / RESULT_FILE} ({result['seconds']:.0f} s)")
