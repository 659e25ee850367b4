"""`edgebench sweep-bits`: quantize one model at several weight/activation bit widths; size, accuracy, latency."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from edgebench.cli.common import DataDirOpt, DownloadOpt, ForceOpt, JsonOpt, ModelPathArg, PresetOpt, TargetOpt, say
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
    preset: PresetOpt = "auto",
    target: TargetOpt = None,
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
    from edgebench.bench.bits_sweep import (
        RESULT_FILE,
        BitsSweepConfig,
        BitsSweepRun,
        format_table,
        parse_bits,
        run_bits_sweep,
    )

    run = BitsSweepRun(model=model, data=data, eval_data=eval_data, output_dir=output_dir, preset=preset,
                       target=target, calib_size=calib_size, seed=seed, eval_size=eval_size, data_dir=data_dir,
                       download=download, reuse=reuse, force=force,
                       grid=BitsSweepConfig(weights=parse_bits(weights, "--weights"),
                                            activations=parse_bits(activations, "--activations"), threads=threads,
                                            rounds=rounds, iters=iters))
    outcome = run_bits_sweep(run, log=say)
    result = outcome.result
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    typer.echo(f"sweep-bits: {outcome.artifact.path.name}, preset {outcome.choice.preset} ({outcome.choice.reason})")
    typer.echo(format_table(result))
    typer.echo(f"wrote    {outcome.out_dir / RESULT_FILE} ({result['seconds']:.0f} s)")
