"""`edgebench export` (PyTorch -> ONNX + manifest) and `edgebench models` (the zoo). torch loads lazily."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from edgebench.cli.common import (
    MODEL_SOURCE,
    DataDirOpt,
    DownloadOpt,
    ForceOpt,
    JsonOpt,
    model_source,
    say,
    with_options,
)
from edgebench.cli.root import app
from edgebench.units import format_mb

if TYPE_CHECKING:
    from edgebench.manifest import Manifest


def summary_lines(manifest: Manifest, onnx_path: Path, seconds: float) -> list[str]:
    from edgebench.parity import degenerate_warning

    m = manifest
    p = m.parity or {}
    lines = [
        f"{m.name} -> {onnx_path}",
        f"  params {(m.params or 0) / 1e6:.3f} M, MACs {(m.macs or 0) / 1e6:.1f} M, "
        f"file {format_mb(m.file_size_mb)}, opset {m.opset}, {m.exporter} exporter, "
        f"batch {m.batch}, onnxslim {'yes' if (m.simplify or {}).get('applied') else 'no'}",
        f"  parity: random max|diff| {p['random']['max_abs_diff']:.1e} (bound {p['random']['bound']:.1e})",
    ]
    if "real" in p:
        r = p["real"]
        lines[-1] += f"; {r['n']} real images max|diff| {r['max_abs_diff']:.1e}"
        if "top1_agreement" in r:
            lines[-1] += f", top-1 agreement {r['top1_agreement'] * 100:.1f} %"
    if (warning := degenerate_warning(p)) is not None:  # a match on a signal-free output proves nothing
        lines.append(f"  {warning}")
    acc = m.fp32_accuracy
    if acc:
        pub = m.published_top1_pct
        lines.append(f"  top-1 (ONNX Runtime) {acc['top1_pct']:.2f} %, top-5 {acc['top5_pct']:.2f} % on {acc['n']} "
                     f"images of {acc['dataset']}" + (f" (published: {pub:.2f} % on the full test set)" if pub else ""))
    w = m.weights
    lines.append(f"  weights: {(w.file if w else None) or 'random init'} ({w.source if w else 'random-init'}); "
                 f"done in {seconds:.1f} s")
    return lines


@app.command()
@with_options(MODEL_SOURCE)
def export(
    num_classes: int | None = typer.Option(None, "--num-classes", help="Classifier size, if not the zoo's."),
    random_init: bool = typer.Option(False, "--random-init", help="Export random weights on purpose."),
    opset: int | None = typer.Option(None, "--opset",
                                     help="ONNX opset: torchscript 9..20 (default 17), dynamo 18..23 (default 18)."),
    batch: str = typer.Option("dynamic", "--batch", "-b", help="'dynamic' or a fixed batch size."),
    exporter: str = typer.Option("torchscript", "--exporter", help="torchscript (default) or dynamo."),
    simplify: bool = typer.Option(True, "--simplify/--no-simplify", help="onnxslim, kept only if parity holds."),
    parity_data: str = typer.Option("auto", "--parity-data",
                                    help="Real images for parity: auto (the model's dataset if local), none, "
                                         "cifar10, a .npz or an image folder."),
    parity_images: int = typer.Option(256, "--parity-images", help="How many real images parity compares."),
    accuracy_images: int = typer.Option(1000, "--accuracy-images",
                                        help="ONNX top-1 on this many of the parity data's images (0: skip)."),
    data_dir: DataDirOpt = None,
    download: DownloadOpt = True,
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Default: artifacts/<model>."),
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    **src: Any,
) -> None:
    """Export a PyTorch model to DIR/model.fp32.onnx with its manifest, after checker and parity checks."""
    from edgebench.exporter.export import ONNX_FILE
    from edgebench.exporter.export_run import ExportJob, ExportOptions, run_export
    from edgebench.exporter.loading import WeightsRequest

    t0 = time.perf_counter()
    spec, weights = model_source(**src)
    job = ExportJob(options=ExportOptions(opset=opset, batch=batch, exporter=exporter, simplify=simplify,
                                          parity_data=parity_data, parity_images=parity_images,
                                          accuracy_images=accuracy_images, num_classes=num_classes),
                    spec=spec, output_dir=output_dir, force=force,
                    weights=WeightsRequest(weights=weights, random_init=random_init, data_dir=data_dir,
                                           download=download))
    manifest = run_export(job, notes=say, progress=None if as_json else say)
    if as_json:
        typer.echo(json.dumps(manifest.to_dict(), indent=2))
        return
    for line in summary_lines(manifest, job.out / ONNX_FILE, time.perf_counter() - t0):
        typer.echo(line)


@app.command()
def models(
    torchvision: bool = typer.Option(False, "--torchvision", help="List torchvision's classification models."),
    as_json: JsonOpt = False,
) -> None:
    """List the model zoo with parameters, MACs and input size."""
    from edgebench.exporter.export_run import zoo_rows

    rows = zoo_rows(torchvision=torchvision)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'name':<22} {'params':>9} {'MACs':>10} {'input':<12} weights")
    for r in rows:
        shape = "x".join(str(d) for d in r["input"][1:])
        macs = f"{r['macs'] / 1e6:.1f} M" if r.get("macs") is not None else "-"
        w = r.get("weights") or "none (--weights)"
        if r.get("published_top1_pct"):
            w += f" ({r['published_top1_pct']:.2f} %)"
        typer.echo(f"{r['name']:<22} {r['params'] / 1e6:>7.2f} M {macs:>10} {shape:<12} {w}")
    if not torchvision:
        typer.echo("\nAlso: tv:<name> for any torchvision classifier (`edgebench models --torchvision`), "
                   "--model-file path.py:factory for your own.")
