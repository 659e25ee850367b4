"""`edgebench convert`: a runtime's model (OpenVINO INT8, LiteRT FP32/INT8, ncnn FP32) beside the ONNX model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from edgebench.cli.root import app
from edgebench.units import format_mb


@app.command()
def convert(
    model: Path = typer.Argument(..., help="The FP32 model: its folder or model.fp32.onnx (with its manifest)."),
    runtime: str = typer.Option(..., "--runtime", "-r", help="openvino (int8), litert (fp32, int8), ncnn (fp32)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 or int8 (bf16/fp16 need no conversion: "
                                                              "bench --precision selects them)."),
    data: str | None = typer.Option(None, "--data", "-d",
                                    help="INT8 calibration data: cifar10[:train], an .npz or an image folder "
                                         "[default: the ONNX Runtime INT8 model's, else cifar10:train; a "
                                         "detector: the COCO sample's images]."),
    calib_size: int | None = typer.Option(None, "--calib-size", "-n", help="Calibration images [default: 300]."),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration subset draw and the random parity inputs."),
    parity_data: str = typer.Option("auto", "--parity-data",
                                    help="Real images for the parity check vs ONNX Runtime FP32 (auto: cifar10:test "
                                         "for a classifier, the COCO sample coco/val2017_first128 for a detector)."),
    parity_images: int = typer.Option(256, "--parity-images", help="How many real images the parity check uses."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Folder to write <runtime>/<precision>/ into [default: the model's]."),
    threads: int = typer.Option(1, "--threads", "-t", help="Threads for the parity runs."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace an existing artifact."),
    as_json: bool = typer.Option(False, "--json", help="Print the written manifest as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the converters' own output (TFLite, NNCF, "
                                                                 "pnnx logs) instead of writing it to convert.log."),
) -> None:
    """Convert for another runtime; refused (nothing written) when parity with ONNX Runtime FP32 fails."""
    from edgebench.calibration.convert import ConvertConfig, convert_model
    from edgebench.cli.common import say
    from edgebench.exporter.rebuild import build_module
    from edgebench.manifest import find_typed_manifest
    from edgebench.parity import degenerate_warning

    cfg = ConvertConfig(runtime=runtime, precision=precision, data=data, calib_size=calib_size, seed=seed,
                        parity_data=parity_data or None, parity_images=parity_images, out=output, force=force,
                        threads=threads, verbose=verbose)
    path = convert_model(model, cfg, log=say, build_module=build_module)
    typed = find_typed_manifest(path)
    man = typed.to_dict() if typed is not None else {}
    if as_json:
        typer.echo(json.dumps(man, indent=2))
        return
    p, c = man.get("parity") or {}, man.get("converter") or {}
    typer.echo(f"wrote    {path} ({format_mb(man.get('file_size_mb'))}) by {c.get('name')} ({c.get('version')}) "
               f"in {c.get('seconds', 0):.1f} s")
    typer.echo(_parity_line(p))
    if (warning := degenerate_warning(p)) is not None:  # a match on a signal-free output proves nothing
        typer.echo(warning)
    cal = typed.calibration if typed is not None else None
    if cal is not None:
        typer.echo(f"calib    {cal.images} images of {cal.dataset} (seed {cal.seed}), sha256 {(cal.sha256 or '')[:12]}")


def _parity_line(p: dict[str, Any]) -> str:
    """The parity summary: max|diff|, then the task's agreement (top-1 or the decoded boxes) on the real images."""
    rnd, real = p.get("random") or {}, p.get("real") or {}
    line = f"parity   vs ONNX Runtime FP32: random max|diff| {rnd.get('max_abs_diff', float('nan')):.2e}"
    if "top1_agreement" in real:
        line += (f"; {real['n']} real images max|diff| {real['max_abs_diff']:.2e}, top-1 agreement "
                 f"{100 * real['top1_agreement']:.1f} %")
        if "top1_pct" in real:
            line += f", top-1 {real['top1_pct']:.2f} % (FP32 {real['reference_top1_pct']:.2f} %)"
    if "box_agreement_pct" in real:
        line += (f"; {real['n']} real images max|diff| {real['max_abs_diff']:.2e}, box agreement "
                 f"{real['box_agreement_pct']:.1f} % of FP32's {real['reference_boxes']} boxes, reverse "
                 f"{real['box_agreement_reverse_pct']:.1f} % of its {real['boxes']}")
        if "map_pct" in real:
            line += f", mAP {real['map_pct']:.2f} (FP32 {real['reference_map_pct']:.2f})"
    return line
