"""`edgebench train`, `edgebench sensitivity`, `edgebench prune` (torch imported inside the commands)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from edgebench.cli.common import (
    DataDirOpt,
    InputLikeOpt,
    ModelArg,
    ModelFileOpt,
    OutputDirOpt,
    WeightsOpt,
    load,
    parse_floats,
    resolve_spec,
    say,
)
from edgebench.cli.root import app


def _datasets(train_spec: str | None, test_spec: str, data_dir: Path | None, limit_train: int | None,
              limit_test: int | None) -> tuple[Any, Any]:
    from edgebench.calibration.datasets import load_dataset

    train = load_dataset(train_spec, data_dir).subset(limit_train) if train_spec else None
    test = load_dataset(test_spec, data_dir).subset(limit_test)
    return train, test


@app.command("train")
def train_cmd(
    output_dir: OutputDirOpt,
    model: ModelArg = None,
    model_file: ModelFileOpt = None,
    input_like: InputLikeOpt = None,
    weights: WeightsOpt = None,
    epochs: int = typer.Option(200, "--epochs", "-e", help="Epochs."),
    lr: float = typer.Option(0.1, "--lr", help="Initial learning rate (cosine decay to 0)."),
    batch_size: int = typer.Option(128, "--batch-size", help="Mini-batch size."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", help="SGD weight decay."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random crop (pad 4) + horizontal flip."),
    seed: int = typer.Option(0, "--seed", help="Seed of shuffling, augmentation and init."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    train_data: str = typer.Option("cifar10:train", "--train-data", help="Training images (dataset spec)."),
    data: str = typer.Option("cifar10", "--data", help="Test images evaluated after every epoch."),
    limit_train: int | None = typer.Option(None, "--limit-train", help="Use only the first N training images."),
    limit_test: int | None = typer.Option(None, "--limit-test", help="Use only the first N test images."),
    data_dir: DataDirOpt = None,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in DIR from its last.pt."),
    force: bool = typer.Option(False, "--force", help="Start over even if DIR holds a run."),
    distill: bool = typer.Option(False, "--distill", help="Learn from --teacher's soft targets too."),
    teacher: str | None = typer.Option(None, "--teacher", help="Teacher: a model name (published weights) or a "
                                       "checkpoint / pruned round of this model."),
    distill_alpha: float = typer.Option(0.9, "--distill-alpha", help="Weight of the soft targets (labels: 1-alpha)."),
    distill_temperature: float = typer.Option(4.0, "--distill-temperature", help="Softmax temperature."),
) -> None:
    """Train or fine-tune a model (SGD momentum 0.9, cosine lr, crop + flip), evaluating every epoch."""
    from edgebench.atomic import ensure_writable_dir, write_json, write_text
    from edgebench.errors import OutputExistsError
    from edgebench.exporter.pruned import MARKER, STRUCTURE_FILE, describe_structure
    from edgebench.exporter.train import TrainConfig, train

    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, augment=augment,
                      seed=seed, device=device)
    if (output_dir / "last.pt").exists() and not (resume or force):
        raise OutputExistsError(f"'{output_dir / 'last.pt'}' exists: pass --resume to continue or --force")
    loaded = load(resolve_spec(model, model_file, input_like), weights, data_dir=data_dir)
    net, spec, winfo, structure = loaded.model, loaded.spec, loaded.weights, loaded.structure
    from edgebench.exporter.distill import DistillConfig
    from edgebench.exporter.prune_setup import TeacherRequest, resolve_teacher

    dcfg = DistillConfig(distill_alpha, distill_temperature)
    teacher_net = resolve_teacher(spec, net, TeacherRequest(distill or teacher is not None, teacher, data_dir),
                                  before_pruning=False)
    train_ds, test_ds = _datasets(train_data, data, data_dir, limit_train, limit_test)
    out = ensure_writable_dir(output_dir)
    extra: dict[str, Any] = {}
    if structure is not None:  # keep best.pt loadable: the structure file beside it
        import hashlib

        st = describe_structure(net, spec.name, structure.get("num_classes"),
                                **{k: v for k, v in structure.items() if k in ("round", "importance", "scope")})
        text = json.dumps(st, indent=2) + "\n"
        write_text(out / STRUCTURE_FILE, text)
        extra = {MARKER: {"arch": spec.name, "structure_file": STRUCTURE_FILE,
                          "structure_sha256": hashlib.sha256(text.encode()).hexdigest()}}
    say(f"training {spec.name} on {train_ds.name} ({len(train_ds)} images), testing on {test_ds.name} "
         f"({len(test_ds)}), {epochs} epochs, lr {lr}, device {device}")
    summary = train(net, train_ds, test_ds, spec.input.preprocessing, cfg, out_dir=out, resume=resume, force=force,
                    checkpoint_extra=extra, log=say, teacher=teacher_net, distill=dcfg)
    summary.update(arch=spec.name, weights=winfo.to_dict(), config=cfg.__dict__,
                   train_data={"name": train_ds.name, "n": len(train_ds)},
                   test_data={"name": test_ds.name, "n": len(test_ds)})
    write_json(out / "train.json", summary)
    if summary.get("epochs"):
        typer.echo(f"{spec.name}: best top-1 {summary['best_top1_pct']:.2f} % (epoch {summary['best_epoch']}), mean "
                   f"of last {summary['mean_over_epochs']} {summary['mean_top1_pct']:.2f} %, final "
                   f"{summary['final_top1_pct']:.2f} % -> {out / 'best.pt'}")


@app.command()
def sensitivity(
    output_dir: OutputDirOpt,
    model: ModelArg = None,
    model_file: ModelFileOpt = None,
    input_like: InputLikeOpt = None,
    weights: WeightsOpt = None,
    data: str = typer.Option("cifar10", "--data", help="Images the pruned copies are evaluated on."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate on the first N images only (faster)."),
    grid: str = typer.Option("0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", "--grid", help="Ratios tried per layer."),
    scope: str = typer.Option("internal", "--scope", help="internal (block-internal convs) or coupled."),
    importance: str = typer.Option("l1", "--importance", help="Filter ranking: l1, l2, random, bn-scale."),
    target_macs: float | None = typer.Option(None, "--target-macs",
                                             help="Also derive per-layer ratios removing this fraction of MACs."),
    acc_budget: float | None = typer.Option(None, "--acc-budget",
                                            help="Also derive per-layer ratios losing at most this many points."),
    from_table: Path | None = typer.Option(None, "--from-table", help="Reuse a sensitivity.json instead of "
                                           "re-evaluating (with --target-macs / --acc-budget)."),
    data_dir: DataDirOpt = None,
    force: bool = typer.Option(False, "--force", help="Overwrite an existing sensitivity.json."),
) -> None:
    """Prune each layer alone at each ratio (no fine-tuning), evaluate: the table, plot and derived ratios."""
    import torch
    from edgebench.atomic import ensure_writable_dir, write_json, write_text
    from edgebench.errors import OutputExistsError
    from edgebench.exporter.importance import IMPORTANCES
    from edgebench.exporter.sensitivity import (
        check_grid,
        check_targets,
        derive_ratios,
        load_table,
        macs_with_ratios,
        plot_sensitivity,
        sensitivity_analysis,
        table_csv,
    )
    from edgebench.exporter.train import evaluate_model

    grid_v = check_grid(parse_floats(grid, "--grid"))
    IMPORTANCES.get(importance)
    check_targets(target_macs, acc_budget)
    table_path = output_dir / "sensitivity.json"
    if from_table is None and table_path.exists() and not force:
        raise OutputExistsError(f"'{table_path}' already exists; pass --force, or --from-table to reuse it")
    loaded = load(resolve_spec(model, model_file, input_like), weights, data_dir=data_dir, require_trained=True)
    net, spec, winfo = loaded.model, loaded.spec, loaded.weights
    example = torch.zeros((1, *[int(d) for d in spec.input.shape[1:]]))
    out = ensure_writable_dir(output_dir)
    if from_table is not None:
        table = load_table(from_table, spec.name)
        scope = table.get("scope", scope)
    else:
        _, test = _datasets(None, data, data_dir, None, limit)
        t0 = time.perf_counter()
        table = sensitivity_analysis(
            net, example, lambda m: evaluate_model(m, test, spec.input.preprocessing), grid=grid_v, scope=scope,
            importance=importance, log=say)
        table.update(arch=spec.name, weights=winfo.to_dict(), data={"name": test.name, "n": len(test)},
                     seconds=time.perf_counter() - t0)
        write_json(table_path, table)
        write_text(out / "sensitivity.csv", table_csv(table))
        plot_sensitivity(table, out / "sensitivity.png")
        typer.echo(f"{len(table['layers'])} layers x {len(grid_v)} ratios -> {table_path}, sensitivity.csv, "
                   f"sensitivity.png ({table['seconds']:.0f} s)")
    if target_macs is not None or acc_budget is not None:
        derived = derive_ratios(table, acc_budget_pts=acc_budget, target_macs_reduction=target_macs,
                                macs_of=lambda r: macs_with_ratios(net, example, r, scope))
        derived.update(kind="edgebench.derived-ratios", arch=spec.name, scope=scope)
        path = write_json(out / "ratios.json", derived)
        typer.echo(f"derived ratios ({derived['criterion']}, drop threshold {derived['threshold_drop_pts']:.2f} "
                   f"points): MACs -{derived['macs_reduction'] * 100:.1f} % -> {path} "
                   f"(use: edgebench prune {spec.name} --ratios {path})")


@app.command()
def prune(
    output_dir: OutputDirOpt,
    model: ModelArg = None,
    model_file: ModelFileOpt = None,
    input_like: InputLikeOpt = None,
    weights: WeightsOpt = None,
    ratios: str | None = typer.Option(None, "--ratios", "-r",
                               help="0.3 (uniform), 0.1,0.1,0.2 (one per block), layer1=0.2,layer3.8.conv1=0.5 "
                                    "(by name; *=default), global:0.5, or a .json file (e.g. sensitivity's "
                                    "ratios.json)."),
    global_mode: bool = typer.Option(False, "--global", help="Treat a single ratio as a global budget."),
    importance: str = typer.Option("l1", "--importance", help="Filter ranking: l1, l2, random, bn-scale."),
    rounds: int = typer.Option(1, "--rounds", help="Iterative rounds (round k reaches k/R of the ratios)."),
    finetune_epochs: int = typer.Option(0, "--finetune-epochs", "-e", help="Fine-tuning epochs after each round."),
    lr: float = typer.Option(0.01, "--lr", help="Fine-tuning learning rate (cosine decay)."),
    batch_size: int = typer.Option(128, "--batch-size", help="Fine-tuning mini-batch size."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", help="Fine-tuning weight decay."),
    scope: str = typer.Option("internal", "--scope",
                              help="internal: block-internal convs only (Li et al.); coupled: also residual groups."),
    round_to: int = typer.Option(1, "--round-to",
                                 help="Keep a multiple of N filters per layer (8 suits INT8/SIMD kernels)."),
    seed: int = typer.Option(0, "--seed", help="Seed of random importance and fine-tuning."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto (fine-tuning)."),
    train_data: str = typer.Option("cifar10:train", "--train-data", help="Fine-tuning images."),
    data: str = typer.Option("cifar10", "--data", help="Test images."),
    limit_train: int | None = typer.Option(None, "--limit-train", help="First N training images only."),
    limit_test: int | None = typer.Option(None, "--limit-test", help="First N test images only."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Export each round to ONNX (size, edge benchmarks)."),
    data_dir: DataDirOpt = None,
    resume: bool = typer.Option(False, "--resume", help="Skip complete rounds, resume an interrupted fine-tune."),
    force: bool = typer.Option(False, "--force", help="Overwrite a previous run in DIR."),
    distill: bool = typer.Option(False, "--distill", help="Fine-tune against the model before pruning (soft targets)."),
    teacher: str | None = typer.Option(None, "--teacher", help="Another teacher: a model name or a checkpoint."),
    distill_alpha: float = typer.Option(0.9, "--distill-alpha", help="Weight of the soft targets (labels: 1-alpha)."),
    distill_temperature: float = typer.Option(4.0, "--distill-temperature", help="Softmax temperature."),
    latency_table: Path | None = typer.Option(None, "--latency-table", help="Table from `edgebench latency-table`."),
    target_speedup: float | None = typer.Option(None, "--target-speedup",
                                                help="Choose widths/blocks to be S x faster on the table."),
    target_latency_ms: float | None = typer.Option(None, "--target-latency-ms", help="Or reach this latency."),
    runtime: str | None = typer.Option(None, "--runtime", help="Refuse a table of another runtime (default: table's)."),
    precision: str | None = typer.Option(None, "--precision", help="Refuse a table of another precision (fp32/int8)."),
    threads: int | None = typer.Option(None, "--threads", help="Refuse a table measured at other threads."),
    no_remove: bool = typer.Option(False, "--no-remove-blocks", help="Latency-aware: widths only, no depth pruning."),
) -> None:
    """Structured filter pruning in rounds: prune -> fine-tune -> evaluate -> save, with per-round metrics."""
    from edgebench.errors import OutputExistsError, UserInputError
    from edgebench.exporter.distill import DistillConfig
    from edgebench.exporter.prune_config import RatioConfig
    from edgebench.exporter.prune_run import PruneRunConfig, run_rounds
    from edgebench.exporter.prune_setup import (
        LatencyTarget,
        TeacherRequest,
        check_model_table,
        latency_plan,
        resolve_teacher,
    )
    from edgebench.exporter.train import TrainConfig

    latency_aware = target_speedup is not None or target_latency_ms is not None
    if latency_aware and ratios:
        raise UserInputError("give --ratios or --target-speedup/--target-latency-ms, not both")
    if latency_aware and latency_table is None:
        raise UserInputError("--target-speedup/--target-latency-ms need --latency-table (edgebench latency-table)")
    if not latency_aware and not ratios:
        raise UserInputError("give --ratios (e.g. 0.5) or --latency-table with --target-speedup")
    ratio_cfg = RatioConfig.parse(ratios or "0", global_mode=global_mode)
    run = PruneRunConfig(importance=importance, rounds=rounds, scope=scope, seed=seed, export_onnx=onnx,
                         round_to=round_to)
    ft = TrainConfig(epochs=finetune_epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, seed=seed,
                     device=device)
    if (output_dir / "summary.json").exists() and not (force or resume):
        raise OutputExistsError(f"'{output_dir}' holds a previous prune run; pass --resume or --force")
    dcfg = DistillConfig(distill_alpha, distill_temperature)
    target = (LatencyTarget(latency_table, target_speedup, target_latency_ms, runtime, precision, threads,
                            allow_remove=not no_remove) if latency_table is not None else None)
    loaded = load(resolve_spec(model, model_file, input_like), weights, data_dir=data_dir, require_trained=True)
    net, spec = loaded.model, loaded.spec
    table = check_model_table(net, spec, target)[0] if target is not None else None
    teacher_net = resolve_teacher(spec, net, TeacherRequest(distill or teacher is not None, teacher, data_dir))
    import torch
    from edgebench.exporter.pruning import StructuredPruner

    # ratios checked against the model (list length, layer names, emptied layers) before any data is read
    StructuredPruner(net, torch.zeros((1, *[int(d) for d in spec.input.shape[1:]])), ratio_cfg, importance,
                     scope=scope, seed=seed, round_to=round_to)
    need_train = finetune_epochs > 0 or target is not None
    train_ds, test_ds = _datasets(train_data if need_train else None, data, data_dir, limit_train, limit_test)
    plan = None
    if target is not None and latency_aware:
        plan, table, _ = latency_plan(net, spec, target, train_ds, importance=importance, out_dir=output_dir, log=say)
    if train_ds is None:
        from edgebench.calibration.datasets import Dataset

        train_ds = Dataset(test_ds.images[:0], test_ds.labels[:0], "none")
    summary = run_rounds(net, spec, ratio_cfg, run, ft, train_ds, test_ds, output_dir, arch=spec.name,
                         num_classes=loaded.num_classes, weights_info=loaded.weights,
                         force=force, resume=resume, log=say, teacher=teacher_net, distill=dcfg, plan=plan,
                         latency_table=table)
    typer.echo(f"{'round':>5} {'MACs M':>8} {'params M':>9} {'top-1 pre-ft':>12} {'best':>6} {'mean':>6} "
               f"{'final':>6} {'onnx MB':>8}")
    for r in summary["rounds"]:
        onnx_mb = f"{r['onnx_size_mb']:.2f}" if r.get("onnx_size_mb") is not None else "-"
        typer.echo(f"{r['round']:>5} {r['macs'] / 1e6:>8.1f} {r['params'] / 1e6:>9.3f} "
                   f"{r['top1_before_finetune_pct']:>12.2f} {r['best_top1_pct']:>6.2f} {r['mean_top1_pct']:>6.2f} "
                   f"{r['final_top1_pct']:>6.2f} {onnx_mb:>8}")
    typer.echo(f"-> {output_dir}/summary.json, rounds.csv, filters.csv, accuracy.png, filters.png")
