"""`edgebench describe`: write the manifest of an ONNX file another tool exported (workstation: needs onnx)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from edgebench.cli.common import ForceOpt, JsonOpt, LabelsOpt, preprocessing_choice, with_preprocessing_options
from edgebench.cli.root import app


@app.command()
@with_preprocessing_options
def describe(
    model: Path = typer.Argument(..., help="The .onnx file (exported by any tool)."),
    labels: LabelsOpt = None,
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="Manifest path (default: beside the model, MODEL.json, where quantize, "
                                            "eval and bench find it)."),
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    task: str = typer.Option("classification", "--task",
                             help="classification, or detection: the output layout (FastestDet grid, YOLOv5 "
                                  "[1,N,5+C], YOLOv8 [1,4+C,N], NMS inside [1,K,6]) is recorded for eval/bench."),
    **pp: Any,
) -> None:
    """Inspect a third-party ONNX graph and write the manifest quantize, eval, bench and compare use."""
    from edgebench.artifact import check_model_file
    from edgebench.calibration.describe import describe as describe_model
    from edgebench.calibration.describe import describe_target
    from edgebench.cli.common import say
    from edgebench.manifest import manifest_path, resolve_model_arg

    path = check_model_file(resolve_model_arg(model))
    m = describe_model(path, preprocessing_choice(**pp), labels, out=output, force=force, task=task)
    target = describe_target(path, output)
    if target.resolve() != manifest_path(path).resolve():
        say(f"note: quantize, eval and bench read the manifest beside the model ({manifest_path(path).name}); "
            f"move {target} there to use it")
    if as_json:
        typer.echo(json.dumps(m.to_dict(), indent=2))
        return
    g, i, o = m.graph or {}, m.input, m.output or {}
    if i is None:  # describe always sets the input; a guard for the type checker
        raise RuntimeError("describe wrote a manifest without an input")
    pp = i.preprocessing
    typer.echo(f"model    {path.name}: {g.get('producer')}, opset {m.opset}, {g.get('nodes')} nodes, "
               f"sha256 {(m.onnx_sha256 or '')[:12]}")
    typer.echo(f"input    {i.name} {list(i.shape)} {pp.layout} {pp.channel_order}; scale {pp.scale:.6g}, "
               f"mean {list(pp.mean)}, std {list(pp.std)}"
               + (f", resize {pp.resize} + crop {pp.crop}" if pp.resize else "")
               + (", letterboxed (aspect kept, gray 114 padding)" if pp.resize_mode == "letterbox" else ""))
    typer.echo(f"output   {o.get('name')} {list(o.get('shape') or [])}: {o.get('kind')} ({o.get('note')})")
    ops = ", ".join(f"{k} x{v}" for k, v in sorted((g.get("op_counts") or {}).items(), key=lambda kv: -kv[1])[:8])
    typer.echo(f"ops      {ops}")
    macs = f"{m.macs / 1e6:.2f} M" if m.macs is not None else f"unknown ({g.get('macs_note')})"
    typer.echo(f"size     {m.params or 0:,} parameters, {macs} MACs per image")
    classes = f"{len(i.class_names)} names" if i.class_names else "no names"
    count = m.num_classes if m.num_classes is not None else "unknown (the output does not say: --labels names them)"
    typer.echo(f"classes  {count} ({i.dataset or 'dataset not named'}, {classes})")
    typer.echo(f"wrote    {target} (described, not exported: no parity or accuracy claimed)")
