"""`edgebench eval`: top-1/top-5 of an ONNX model on a labelled dataset, through a runtime (torch-free)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from bench.app import app


@app.command(name="eval")
def eval_cmd(
    model: Path = typer.Argument(..., help="An .onnx file with its manifest, or a model folder."),
    data: str = typer.Option("cifar10", "--data", "-d",
                             help="cifar10[:test|:train], an .npz (images, labels) or an image folder."),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Evaluate the first N images only."),
    runtime: str = typer.Option("ort-cpu", "--runtime", "-r", help="Runtime name (see `edgebench runtimes`)."),
    threads: int | None = typer.Option(None, "--threads", "-t", help="Intra-op threads. Default: usable cores."),
    batch_size: int = typer.Option(100, "--batch-size", help="Images per run (a fixed-batch model uses its own)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder with the dataset (else EDGEBENCH_DATA)."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Download CIFAR-10 (with its checksum) when no local copy exists."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (without the per-image predictions)."),
) -> None:
    """Accuracy of a model on a labelled dataset, preprocessed as its manifest says."""
    from bench.evaluate import evaluate

    r = evaluate(model, data, runtime=runtime, batch_size=batch_size, limit=limit, threads=threads,
                 data_dir=data_dir, download=download)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in r.items() if k != "predictions"}, indent=2))
        return
    typer.echo(f"{Path(r['model']).name}: top-1 {r['top1_pct']:.2f} %  top-5 {r['top5_pct']:.2f} %  "
               f"on {r['n']} images of {r['dataset']} ({r['runtime']}, {r['threads']} threads, {r['seconds']:.1f} s)")
