"""`edgebench eval`: top-1/top-5 of an ONNX model on a labelled dataset, through a runtime (torch-free)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from edgebench.cli.root import app


@app.command(name="eval")
def eval_cmd(
    model: Path = typer.Argument(..., help="An .onnx file with its manifest, or a model folder."),
    data: str = typer.Option("cifar10", "--data", "-d",
                             help="cifar10[:test|:train], an .npz (images, labels) or an image folder."),
    limit: int | None = typer.Option(None, "--limit", "-n", help="Evaluate the first N images only."),
    runtime: str = typer.Option("ort-cpu", "--runtime", "-r", help="Runtime name (see `edgebench runtimes`)."),
    precision: str | None = typer.Option(None, "--precision",
                                         help="fp32|int8: the folder's model for this runtime (as bench --precision)."),
    threads: int | None = typer.Option(None, "--threads", "-t", help="Intra-op threads. Default: usable cores."),
    batch_size: int = typer.Option(100, "--batch-size", help="Images per run (a fixed-batch model uses its own)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Folder with the dataset (else EDGEBENCH_DATA)."),
    download: bool = typer.Option(True, "--download/--no-download",
                                  help="Download CIFAR-10 (with its checksum) when no local copy exists."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (without the per-image predictions)."),
    baseline: Path | None = typer.Option(None, "--baseline", "-b",
                                         help="Another model (e.g. the FP32 parent) evaluated on the same images: "
                                              "prints both and the paired figures (agreement, flips each way)."),
) -> None:
    """Accuracy of a model on a labelled dataset, preprocessed as its manifest says."""
    from edgebench.bench.evaluate import evaluate
    from edgebench.runtimes.artifacts import resolve_for_runtime

    model = resolve_for_runtime(model, runtime, precision)
    if baseline is not None:
        _eval_with_baseline(model, baseline, data, limit=limit, runtime=runtime, threads=threads,
                            batch_size=batch_size, data_dir=data_dir, download=download, as_json=as_json)
        return

    r = evaluate(model, data, runtime=runtime, batch_size=batch_size, limit=limit, threads=threads,
                 data_dir=data_dir, download=download)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in r.items() if k != "predictions"}, indent=2))
        return
    typer.echo(f"{Path(r['model']).name}: top-1 {r['top1_pct']:.2f} %  top-5 {r['top5_pct']:.2f} %  "
               f"on {r['n']} images of {r['dataset']} ({r['runtime']}, {r['threads']} threads, {r['seconds']:.1f} s)")


def _eval_with_baseline(model: Path, baseline: Path, data: str, *, limit: int | None, as_json: bool,
                        data_dir: Path | None, download: bool, **kwargs: Any) -> None:
    """`eval --baseline`: both models on the same images, then the paired comparison."""
    from edgebench.bench.evaluate import evaluate_pair

    r = evaluate_pair(model, baseline, data, limit=limit, data_dir=data_dir, download=download, **kwargs)
    m, b, p = r["model"], r["baseline"], r["paired"]
    if as_json:
        typer.echo(json.dumps({"model": {k: v for k, v in m.items() if k != "predictions"},
                               "baseline": {k: v for k, v in b.items() if k != "predictions"},
                               "paired": p}, indent=2))
        return
    typer.echo(f"on {p['n']} images of {m['dataset']} ({m['runtime']}, {m['threads']} threads)")
    for tag, x in (("model", m), ("baseline", b)):
        typer.echo(f"{tag:9s} {Path(x['model']).name}: top-1 {x['top1_pct']:.2f} %  top-5 {x['top5_pct']:.2f} %")
    typer.echo(f"paired    top-1 {p['top1_delta_pts']:+.2f} points; agreement {p['agreement_pct']:.2f} % "
               f"({p['agree']}/{p['n']}); flipped to correct {p['flipped_to_correct']}, "
               f"to wrong {p['flipped_to_wrong']}, changed but both wrong {p['changed_both_wrong']}")
