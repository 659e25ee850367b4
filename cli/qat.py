"""`edgebench qat` (quantization-aware training -> QDQ INT8) and `edgebench sparsify` (magnitude sparsity)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from edgebench.cli.common import (
    MODEL_SOURCE,
    DataDirOpt,
    DownloadOpt,
    ForceOpt,
    JsonOpt,
    OptionGroup,
    OutputDirOpt,
    PresetOpt,
    TargetOpt,
    model_source,
    say,
    with_options,
)
from edgebench.cli.options import FRACTION, POSITIVE, UNIT, float_option
from edgebench.cli.root import app
from edgebench.units import format_mb

if TYPE_CHECKING:
    from edgebench.calibration.recipes import PresetChoice
    from edgebench.exporter.loading import FinetuneRequest
    from edgebench.manifest import Manifest

# the images qat and sparsify fine-tune on and evaluate, and where they write, before --json
FINETUNE = OptionGroup({
    "data": (Annotated[str, typer.Option("--data", "-d", help="Fine-tuning images (qat: calibration too).")],
             "cifar10:train"),
    "eval_data": (Annotated[str | None, typer.Option(
        "--eval-data", help="Test images for top-1 before/after ('none' to skip).")], "cifar10"),
    "data_dir": (DataDirOpt, None), "download": (DownloadOpt, True),
    "output_dir": (OutputDirOpt, inspect.Parameter.empty), "force": (ForceOpt, False)}, at="as_json")
DistillOpt = typer.Option(False, "--distill/--no-distill", help="Distil from the FP32 model (KD loss, alpha 0.5, T 4).")


@app.command()
@with_options(MODEL_SOURCE, FINETUNE)
def qat(
    epochs: int = typer.Option(3, "--epochs", "-e", help="Fine-tuning epochs with fake quantization."),
    lr: float = typer.Option(5e-4, "--lr", callback=POSITIVE,
                             help="Learning rate (cosine to 0; the weights start trained)."),
    batch_size: int = typer.Option(64, "--batch-size"),
    preset: PresetOpt = "auto",
    target: TargetOpt = None,
    distill: bool = typer.Option(True, "--distill/--no-distill", help="Distil from the FP32 model (KD loss, "
                                 "alpha 0.5, T 4); on by default: it keeps the held-out curve closest to FP32."),
    distill_alpha: float = typer.Option(0.5, "--distill-alpha", callback=UNIT,
                                        help="Weight of the teacher's soft targets."),
    distill_temperature: float = typer.Option(4.0, "--distill-temperature", callback=POSITIVE),
    val_fraction: float = typer.Option(0.1, "--val-fraction", callback=float_option(0, 0.5),
                                       help="Training images held out (seeded draw) to "
                                       "pick the best epoch; 0 keeps the last epoch."),
    keep_ptq: bool = typer.Option(True, "--keep-ptq/--no-keep-ptq", help="When no fine-tuned epoch beats the "
                                  "calibrated start on validation, write ORT's PTQ model (the start itself)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the calibration draw, the validation split and the "
                             "batch order."),
    as_json: JsonOpt = False,
    **kw: Any,
) -> None:
    """Quantization-aware training: fine-tune with fake quantization mirroring the preset, export QDQ INT8."""
    import torch
    from edgebench.calibration.recipes import resolve_preset
    from edgebench.cpu import cpu_info
    from edgebench.exporter.train.distill import DistillConfig
    from edgebench.exporter.train.qat import QATConfig, QATJob, run_qat_job

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    job = QATJob(config=QATConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, val_fraction=val_fraction,
                                  keep_ptq=keep_ptq),
                 distill=DistillConfig(distill_alpha, distill_temperature) if distill else None,
                 choice=resolve_preset(preset, target, None if target else cpu_info()),
                 request=_finetune_request(kw))
    manifest = run_qat_job(job, log=say)
    if as_json:
        typer.echo(json.dumps(manifest.to_dict(), indent=2))
        return
    _print_qat(manifest, job.choice, job.request.out_dir)


def _finetune_request(kw: dict[str, Any]) -> FinetuneRequest:
    """The options qat and sparsify share (MODEL_SOURCE, FINETUNE) -> their `FinetuneRequest` (a trained model is
    required)."""
    from edgebench.exporter.loading import FinetuneRequest, WeightsRequest

    spec, weights = model_source(**MODEL_SOURCE.take(kw))
    f = FINETUNE.take(kw)
    return FinetuneRequest(out_dir=f["output_dir"], data=f["data"], eval_data=f["eval_data"], force=f["force"],
                           spec=spec, weights=WeightsRequest(weights=weights, require_trained=True,
                                                             data_dir=f["data_dir"], download=f["download"]))


def _print_qat(manifest: Manifest, choice: PresetChoice, output_dir: Path) -> None:
    """The text summary of a QAT run: preset, epoch selection, top-1, parity, what ORT runs, the file."""
    q = manifest.qat or {}
    par = q.get("parity_vs_fake_quant", {})
    e = (manifest.nodes or {}).get("ort_cpu", {})
    typer.echo(f"preset   {choice.preset}: {choice.reason}")
    v = q.get("validation")
    if v:
        curve = ", ".join(f"{r['epoch']}: {r['val_top1_pct']:.2f}" for r in v["curve"])
        typer.echo(f"select   validation top-1 % on {v['images']} held-out training images by epoch ({curve}); "
                   f"kept epoch {q['selected_epoch']}" + (" -> PTQ model written" if
                                                          str(q.get("exported", "")).startswith("ptq") else ""))
    if q.get("top1_pct_torch_before") is not None:
        last = q.get("top1_pct_torch_last_epoch")
        typer.echo(f"top-1    fake-quant {q['top1_pct_torch_before']:.2f} % before -> "
                   f"{q['top1_pct_torch_after']:.2f} % at epoch {q['selected_epoch']} of {q['epochs']}"
                   + (f" (last epoch {last:.2f} %, not kept)" if last is not None else "")
                   + (" (distilled)" if q.get("distill") else ""))
    typer.echo(f"parity   ORT INT8 vs fake-quant: top-1 agreement {100 * par.get('top1_agreement', 0):.1f} % on "
               f"{par.get('n')} images, max|diff| {par.get('max_abs_diff', 0):.3g} (logits up to "
               f"{par.get('logit_range', 0):.3g})")
    typer.echo(f"ORT CPU  integer: {', '.join(f'{k} x{v}' for k, v in e.get('integer_compute', {}).items()) or 'none'}"
               f"; float: {', '.join(f'{k} x{v}' for k, v in e.get('float_compute', {}).items()) or 'none'}")
    typer.echo(f"wrote    {output_dir / 'model.int8.onnx'} ({format_mb(manifest.file_size_mb)}) beside its FP32 "
               "parent")


@app.command()
@with_options(MODEL_SOURCE, FINETUNE)
def sparsify(
    sparsity: float = typer.Option(..., "--sparsity", "-s", callback=FRACTION,
                                   help="Fraction of Conv/Linear weights set to zero, in [0, 1), e.g. 0.5, 0.75, 0.9."),
    scope: str = typer.Option("global", "--scope", help="global (one |w| threshold) or layer (each layer alike)."),
    epochs: int = typer.Option(3, "--epochs", "-e", help="Fine-tuning epochs (masks kept)."),
    lr: float = typer.Option(0.01, "--lr", callback=POSITIVE),
    batch_size: int = typer.Option(64, "--batch-size"),
    distill: bool = DistillOpt,
    distill_alpha: float = typer.Option(0.5, "--distill-alpha", callback=UNIT),
    distill_temperature: float = typer.Option(4.0, "--distill-temperature", callback=POSITIVE),
    seed: int = typer.Option(0, "--seed"),
    as_json: JsonOpt = False,
    **kw: Any,
) -> None:
    """Unstructured magnitude sparsity + fine-tuning -> a sparse FP32 ONNX model (then `quantize` it to INT8)."""
    import torch
    from edgebench.exporter.prune.sparsity import SparsifyJob, SparsityConfig, run_sparsify_job
    from edgebench.exporter.train.distill import DistillConfig

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    job = SparsifyJob(config=SparsityConfig(sparsity, scope, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed),
                      distill=DistillConfig(distill_alpha, distill_temperature) if distill else None,
                      request=_finetune_request(kw))
    manifest = run_sparsify_job(job, log=say)
    if as_json:
        typer.echo(json.dumps(manifest.to_dict(), indent=2))
        return
    sp = manifest.sparsity or {}
    typer.echo(f"sparsity {100 * sp['zero_fraction_onnx']:.1f} % zeros in the ONNX weights ({sp['scope']}; target "
               f"{100 * sp['target']:.0f} %)")
    if sp.get("top1_pct_torch_finetuned") is not None:
        typer.echo(f"top-1    dense {sp['top1_pct_torch_dense']:.2f} % -> pruned {sp['top1_pct_torch_pruned']:.2f} % "
                   f"-> fine-tuned {sp['top1_pct_torch_finetuned']:.2f} %")
    typer.echo(f"wrote    {job.request.out_dir / 'model.fp32.onnx'} ({format_mb(manifest.file_size_mb)}, gzip "
               f"{format_mb(sp['gzip_mb'])}); next: edgebench quantize {job.request.out_dir} --data {job.request.data}")
