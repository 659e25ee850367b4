"""`edgebench train`, `edgebench sensitivity`, `edgebench prune` (torch imported inside the commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from edgebench.cli.common import (
    MODEL_SOURCE,
    DataDirOpt,
    OptionGroup,
    OutputDirOpt,
    model_source,
    parse_floats,
    say,
    with_options,
)
from edgebench.cli.options import NON_NEGATIVE, OPEN_FRACTION, POINTS, POSITIVE, UNIT
from edgebench.cli.root import app

# distillation options of train and prune (qat and sparsify word theirs otherwise)
DistillAlphaOpt = Annotated[float, typer.Option("--distill-alpha", callback=UNIT,
                                                help="Weight of the soft targets (labels: 1-alpha).")]
DistillTemperatureOpt = Annotated[float, typer.Option("--distill-temperature", callback=POSITIVE,
                                                      help="Softmax temperature.")]
# the images train and prune (fine-)tune and evaluate on, before --data-dir
TRAIN_DATA = OptionGroup({
    "train_data": (Annotated[str, typer.Option("--train-data", help="Training images (dataset spec).")],
                   "cifar10:train"),
    "data": (Annotated[str, typer.Option("--data", help="Test images, evaluated after every epoch.")], "cifar10"),
    "limit_train": (Annotated[int | None, typer.Option("--limit-train", help="Use only the first N training images.")],
                    None),
    "limit_test": (Annotated[int | None, typer.Option("--limit-test", help="Use only the first N test images.")],
                   None)}, at="data_dir")


def _data_request(kw: dict[str, Any], data_dir: Path | None) -> Any:
    """The TRAIN_DATA options and --data-dir -> a `DataRequest`."""
    from edgebench.exporter.loading import DataRequest

    d = TRAIN_DATA.take(kw)
    return DataRequest(test=d["data"], train=d["train_data"], data_dir=data_dir, limit_train=d["limit_train"],
                       limit_test=d["limit_test"])


@app.command("train")
@with_options(MODEL_SOURCE, TRAIN_DATA)
def train_cmd(
    output_dir: OutputDirOpt,
    epochs: int = typer.Option(200, "--epochs", "-e", help="Epochs."),
    lr: float = typer.Option(0.1, "--lr", callback=POSITIVE, help="Initial learning rate (cosine decay to 0)."),
    batch_size: int = typer.Option(128, "--batch-size", help="Mini-batch size."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", callback=NON_NEGATIVE, help="SGD weight decay."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random crop (pad 4) + horizontal flip."),
    seed: int = typer.Option(0, "--seed", help="Seed of shuffling, augmentation and init."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    data_dir: DataDirOpt = None,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in DIR from its last.pt."),
    force: bool = typer.Option(False, "--force", help="Start over even if DIR holds a run."),
    distill: bool = typer.Option(False, "--distill", help="Learn from --teacher's soft targets too."),
    teacher: str | None = typer.Option(None, "--teacher", help="Teacher: a model name (published weights) or a "
                                       "checkpoint / pruned round of this model."),
    distill_alpha: DistillAlphaOpt = 0.9,
    distill_temperature: DistillTemperatureOpt = 4.0,
    **kw: Any,
) -> None:
    """Train or fine-tune a model (SGD momentum 0.9, cosine lr, crop + flip), evaluating every epoch."""
    from edgebench.exporter.loading import WeightsRequest
    from edgebench.exporter.train.distill import DistillConfig, TeacherRequest
    from edgebench.exporter.train.loop import TrainConfig, TrainingRun, run_training

    spec, weights = model_source(**MODEL_SOURCE.take(kw))
    run = TrainingRun(
        config=TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, augment=augment,
                           seed=seed, device=device),
        data=_data_request(kw, data_dir),
        teacher=TeacherRequest(distill or teacher is not None, teacher, data_dir),
        distill=DistillConfig(distill_alpha, distill_temperature), resume=resume, force=force,
        out_dir=output_dir, weights=WeightsRequest(weights=weights, data_dir=data_dir),
        spec=spec)
    summary = run_training(run, log=say)
    if summary.get("epochs"):
        typer.echo(f"{summary['arch']}: best top-1 {summary['best_top1_pct']:.2f} % (epoch {summary['best_epoch']}), "
                   f"mean of last {summary['mean_over_epochs']} {summary['mean_top1_pct']:.2f} %, final "
                   f"{summary['final_top1_pct']:.2f} % -> {output_dir / 'best.pt'}")


@app.command()
@with_options(MODEL_SOURCE)
def sensitivity(
    output_dir: OutputDirOpt,
    data: str = typer.Option("cifar10", "--data", help="Images the pruned copies are evaluated on."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate on the first N images only (faster)."),
    grid: str = typer.Option("0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", "--grid", help="Ratios tried per layer."),
    scope: str = typer.Option("internal", "--scope", help="internal (block-internal convs) or coupled."),
    importance: str = typer.Option("l1", "--importance", help="Filter ranking: l1, l2, random, bn-scale."),
    target_macs: float | None = typer.Option(None, "--target-macs", callback=OPEN_FRACTION,
                                             help="Also derive per-layer ratios removing this fraction of MACs."),
    acc_budget: float | None = typer.Option(None, "--acc-budget", callback=POINTS,
                                            help="Also derive per-layer ratios losing at most this many points."),
    from_table: Path | None = typer.Option(None, "--from-table", help="Reuse a sensitivity.json instead of "
                                           "re-evaluating (with --target-macs / --acc-budget)."),
    data_dir: DataDirOpt = None,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing sensitivity.json."),
    **src: Any,
) -> None:
    """Prune each layer alone at each ratio (no fine-tuning), evaluate: the table, plot and derived ratios."""
    from edgebench.exporter.loading import DataRequest, WeightsRequest
    from edgebench.exporter.prune.sensitivity import SensitivityRun, run_sensitivity

    spec, weights = model_source(**src)
    run = SensitivityRun(
        grid=tuple(parse_floats(grid, "--grid")), scope=scope, importance=importance, target_macs=target_macs,
        acc_budget=acc_budget, from_table=from_table, force=force, out_dir=output_dir,
        data=DataRequest(test=data, data_dir=data_dir, limit_test=limit),
        weights=WeightsRequest(weights=weights, data_dir=data_dir, require_trained=True),
        spec=spec)
    result = run_sensitivity(run, log=say)
    if result.table_path is not None:
        skipped = result.table.get("skipped_layers") or []
        typer.echo(f"{len(result.table['layers'])} layers x {len(run.grid)} ratios -> {result.table_path}, "
                   f"sensitivity.csv, sensitivity.png ({result.table['seconds']:.0f} s)"
                   + (f"; {len(skipped)} conv layers left alone (reasons in 'skipped_layers')" if skipped else ""))
    if result.derived is not None:
        d = result.derived
        typer.echo(f"derived ratios ({d['criterion']}, drop threshold {d['threshold_drop_pts']:.2f} "
                   f"points): MACs -{d['macs_reduction'] * 100:.1f} % -> {result.ratios_path} "
                   f"(use: edgebench prune {result.arch} --ratios {result.ratios_path})")


@app.command()
@with_options(MODEL_SOURCE, TRAIN_DATA)
def prune(
    output_dir: OutputDirOpt,
    ratios: str | None = typer.Option(None, "--ratios", "-r",
                               help="0.3 (uniform), 0.1,0.1,0.2 (one per block), layer1=0.2,layer3.8.conv1=0.5 "
                                    "(by name; *=default), global:0.5, or a .json file (e.g. sensitivity's "
                                    "ratios.json)."),
    global_mode: bool = typer.Option(False, "--global", help="Treat a single ratio as a global budget."),
    importance: str = typer.Option("l1", "--importance", help="Filter ranking: l1, l2, random, bn-scale."),
    rounds: int = typer.Option(1, "--rounds", help="Iterative rounds (round k reaches k/R of the ratios)."),
    finetune_epochs: int = typer.Option(0, "--finetune-epochs", "-e", help="Fine-tuning epochs after each round."),
    lr: float = typer.Option(0.01, "--lr", callback=POSITIVE, help="Fine-tuning learning rate (cosine decay)."),
    batch_size: int = typer.Option(128, "--batch-size", help="Fine-tuning mini-batch size."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", callback=NON_NEGATIVE, help="Fine-tuning weight decay."),
    scope: str = typer.Option("internal", "--scope",
                              help="internal: block-internal convs only (Li et al.); coupled: also residual groups."),
    round_to: int = typer.Option(1, "--round-to",
                                 help="Keep a multiple of N filters per layer (8 suits INT8/SIMD kernels)."),
    seed: int = typer.Option(0, "--seed", help="Seed of random importance and fine-tuning."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto (fine-tuning)."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Export each round to ONNX (size, edge benchmarks)."),
    data_dir: DataDirOpt = None,
    resume: bool = typer.Option(False, "--resume", help="Skip complete rounds, resume an interrupted fine-tune."),
    force: bool = typer.Option(False, "--force", help="Overwrite a previous run in DIR."),
    distill: bool = typer.Option(False, "--distill", help="Fine-tune against the model before pruning (soft targets)."),
    teacher: str | None = typer.Option(None, "--teacher", help="Another teacher: a model name or a checkpoint."),
    distill_alpha: DistillAlphaOpt = 0.9,
    distill_temperature: DistillTemperatureOpt = 4.0,
    latency_table: Path | None = typer.Option(None, "--latency-table", help="Table from `edgebench latency-table`."),
    target_speedup: float | None = typer.Option(None, "--target-speedup", callback=POSITIVE,
                                                help="Choose widths/blocks to be S x faster on the table."),
    target_latency_ms: float | None = typer.Option(None, "--target-latency-ms", callback=POSITIVE,
                                                   help="Or reach this latency."),
    runtime: str | None = typer.Option(None, "--runtime", help="Refuse a table of another runtime (default: table's)."),
    precision: str | None = typer.Option(None, "--precision", help="Refuse a table of another precision (fp32/int8)."),
    threads: int | None = typer.Option(None, "--threads", help="Refuse a table measured at other threads."),
    no_remove: bool = typer.Option(False, "--no-remove-blocks", help="Latency-aware: widths only, no depth pruning."),
    **kw: Any,
) -> None:
    """Structured filter pruning in rounds: prune -> fine-tune -> evaluate -> save, with per-round metrics."""
    from edgebench.exporter.loading import WeightsRequest
    from edgebench.exporter.prune.config import RatioConfig
    from edgebench.exporter.prune.prepare import LatencyTarget
    from edgebench.exporter.prune.run import PruneJob, PruneRunConfig, run_prune
    from edgebench.exporter.train.distill import DistillConfig, TeacherRequest
    from edgebench.exporter.train.loop import TrainConfig

    spec, weights = model_source(**MODEL_SOURCE.take(kw))
    job = PruneJob(
        latency=LatencyTarget.from_options(latency_table, target_speedup, target_latency_ms, runtime=runtime,
                                           precision=precision, threads=threads, allow_remove=not no_remove),
        ratios=RatioConfig.parse(ratios, global_mode=global_mode) if ratios else None,
        run=PruneRunConfig(importance=importance, rounds=rounds, scope=scope, seed=seed, export_onnx=onnx,
                           round_to=round_to),
        finetune=TrainConfig(epochs=finetune_epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay,
                             seed=seed, device=device),
        data=_data_request(kw, data_dir),
        teacher=TeacherRequest(distill or teacher is not None, teacher, data_dir),
        distill=DistillConfig(distill_alpha, distill_temperature), resume=resume, force=force, out_dir=output_dir,
        weights=WeightsRequest(weights=weights, data_dir=data_dir, require_trained=True),
        spec=spec)
    summary = run_prune(job, log=say)
    typer.echo(f"{'round':>5} {'MACs M':>8} {'params M':>9} {'top-1 pre-ft':>12} {'best':>6} {'mean':>6} "
               f"{'final':>6} {'onnx MB':>8}")
    for r in summary["rounds"]:
        onnx_mb = f"{r['onnx_size_mb']:.2f}" if r.get("onnx_size_mb") is not None else "-"
        typer.echo(f"{r['round']:>5} {r['macs'] / 1e6:>8.1f} {r['params'] / 1e6:>9.3f} "
                   f"{r['top1_before_finetune_pct']:>12.2f} {r['best_top1_pct']:>6.2f} {r['mean_top1_pct']:>6.2f} "
                   f"{r['final_top1_pct']:>6.2f} {onnx_mb:>8}")
    typer.echo(f"-> {output_dir}/summary.json, rounds.csv, filters.csv, accuracy.png, filters.png")
