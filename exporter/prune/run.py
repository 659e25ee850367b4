"""Iterative pruning: prune -> fine-tune -> evaluate -> save, round after round, with per-round metrics.

Round 0 is the unpruned model (evaluated, saved). Round k of R prunes every prunable layer to
``k/R`` of its target ratio (filters ranked by the importance criterion on the current weights),
fine-tunes it, evaluates it and writes ``DIR/roundK/``:

- ``structure.json`` + ``roundK.pt``: the pruned model (`exporter.prune.saved.load_pruned` rebuilds it);
- ``metrics.json``: params, MACs, state-dict and ONNX size, top-1/top-5 before fine-tuning, best, mean
  (last epochs) and final top-1/top-5 of the fine-tune, filters per conv layer, architecture summary;
- ``model.fp32.onnx`` + ``model.fp32.json`` when ONNX export is on.

``DIR/summary.json``, ``DIR/rounds.csv`` (one row per round), ``DIR/filters.csv`` (one row per conv,
one column per round), ``DIR/accuracy.png`` and ``DIR/filters.png`` are rewritten after every round.
``resume=True`` skips the rounds already complete and resumes an interrupted fine-tune.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from edgebench.atomic import check_writable_dir, ensure_writable_dir, write_json, write_text
from edgebench.calibration.dataset import Dataset
from edgebench.errors import OutputExistsError, UserInputError
from edgebench.exporter.prune.config import RatioConfig, check_scope, describe_skipped
from edgebench.exporter.prune.depth import remove_blocks, removed_blocks
from edgebench.exporter.prune.importance import IMPORTANCES
from edgebench.exporter.prune.saved import STRUCTURE_FILE, load_pruned, save_pruned
from edgebench.exporter.prune.structured import StructuredPruner, conv_filters, count_macs_params
from edgebench.exporter.train.distill import DistillConfig
from edgebench.exporter.train.loop import TrainConfig, evaluate_model, train
from edgebench.manifest import PrunedInfo, WeightsRecord
from torch import nn

if TYPE_CHECKING:
    from edgebench.exporter.loading import DataRequest, WeightsRequest
    from edgebench.exporter.prune.prepare import LatencyTarget
    from edgebench.exporter.train.distill import TeacherRequest
    from edgebench.exporter.zoo import ModelSpec

SUMMARY_KIND = "edgebench.prune-run"
Log = Callable[[str], None]


@dataclass(frozen=True)
class PruneRunConfig:
    """How to prune: criterion, rounds, which layers (scope), seed, whether to export ONNX each round."""

    importance: str = "l1"
    rounds: int = 1
    scope: str = "internal"
    seed: int = 0
    export_onnx: bool = True
    round_to: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.round_to, bool) or not isinstance(self.round_to, int) or self.round_to < 1:
            raise UserInputError(f"--round-to {self.round_to} must be an integer >= 1")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise UserInputError(f"--rounds {self.rounds} must be an integer >= 1")
        check_scope(self.scope)
        IMPORTANCES.get(self.importance)  # unknown names fail here, with a suggestion


def architecture_summary(model: nn.Module) -> list[dict[str, Any]]:
    """Every conv and linear layer: shape, kernel, stride, parameters."""
    rows = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            rows.append({"layer": name, "type": "Conv2d", "in": m.in_channels, "out": m.out_channels,
                         "kernel": list(m.kernel_size), "stride": list(m.stride), "groups": m.groups,
                         "params": sum(p.numel() for p in m.parameters(recurse=False))})
        elif isinstance(m, nn.Linear):
            rows.append({"layer": name, "type": "Linear", "in": m.in_features, "out": m.out_features,
                         "params": sum(p.numel() for p in m.parameters(recurse=False))})
    return rows


def _export(model: nn.Module, spec: Any, round_dir: Path, pruned: PrunedInfo) -> float:
    """ONNX of this round (parity on random inputs); returns its size in MB."""
    from edgebench.exporter.export import export_model

    manifest = export_model(model, spec, round_dir, parity_dataset=None, force=True, pruned=pruned,
                            weights=WeightsRecord(source="edgebench prune", file=pruned.weights_file))
    return float(manifest.file_size_mb or 0.0)


def _weights_dict(weights: WeightsRecord | Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(weights, WeightsRecord):
        return weights.to_dict()
    return dict(weights) if weights else {"source": WeightsRecord.RANDOM_INIT}


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return buf.getvalue()


ROUND_COLUMNS = ["round", "target_fraction", "params", "macs", "params_reduction_pct", "macs_reduction_pct",
                 "state_dict_size_mb", "onnx_size_mb", "top1_before_finetune_pct", "top5_before_finetune_pct",
                 "best_top1_pct", "mean_top1_pct", "final_top1_pct", "best_top5_pct", "mean_top5_pct",
                 "final_top5_pct", "finetune_epochs", "finetune_seconds"]


def filters_csv(rounds: list[dict[str, Any]]) -> str:
    names = list(rounds[0]["filters"]) if rounds else []
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["layer", *[f"round{r['round']}" for r in rounds]])
    for n in names:
        w.writerow([n, *[r["filters"].get(n, "") for r in rounds]])
    return buf.getvalue()


def plot_rounds(rounds: list[dict[str, Any]], out_dir: Path, title: str) -> list[Path]:
    """accuracy.png (top-1 per round, MACs/params on a second axis) and filters.png (filters per conv)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from edgebench.atomic import atomic_path

    xs = [r["round"] for r in rounds]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(xs, [r["best_top1_pct"] for r in rounds], "o-", label="best top-1 (fine-tune)")
    ax.plot(xs, [r["mean_top1_pct"] for r in rounds], "s--", label="mean top-1 (last epochs)")
    ax.plot(xs, [r["top1_before_finetune_pct"] for r in rounds], "x:", label="top-1 right after pruning")
    ax.set_xlabel("round")
    ax.set_ylabel("top-1 (%)")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(xs, [100 - r["macs_reduction_pct"] for r in rounds], "^-", color="grey", alpha=0.6,
             label="MACs (% of orig.)")
    ax2.plot(xs, [100 - r["params_reduction_pct"] for r in rounds], "v-", color="tan", alpha=0.8,
             label="params (% of orig.)")
    ax2.set_ylabel("% of the unpruned model")
    ax2.set_ylim(0, 105)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower left")
    ax.set_title(title)
    fig.tight_layout()
    paths = []
    with atomic_path(out_dir / "accuracy.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    paths.append(out_dir / "accuracy.png")
    plt.close(fig)

    names = list(rounds[0]["filters"])
    fig, ax = plt.subplots(figsize=(max(7, 0.22 * len(names)), 4.2))
    width = 0.8 / max(1, len(rounds))
    for i, r in enumerate(rounds):
        ax.bar([j + i * width for j in range(len(names))], [r["filters"].get(n, 0) for n in names], width,
               label=f"round {r['round']}")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))])
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_ylabel("filters (output channels)")
    ax.set_title(f"{title}: filters per layer")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out_dir / "filters.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    paths.append(out_dir / "filters.png")
    plt.close(fig)
    return paths


def _round_metrics(model: nn.Module, example: torch.Tensor, k: int, fraction: float, base: dict[str, int] | None,
                   before: dict[str, Any], ft: dict[str, Any], weights: Path) -> dict[str, Any]:
    macs, params = count_macs_params(model, example)
    base = base or {"macs": macs, "params": params}
    final = {"top1_pct": ft.get("final_top1_pct", before["top1_pct"]),
             "top5_pct": ft.get("final_top5_pct", before["top5_pct"])}
    return {
        "round": k,
        "target_fraction": fraction,
        "params": params,
        "macs": macs,
        "params_reduction_pct": 100.0 * (1 - params / base["params"]),
        "macs_reduction_pct": 100.0 * (1 - macs / base["macs"]),
        "state_dict_size_mb": weights.stat().st_size / 1e6,
        "onnx_size_mb": None,
        "top1_before_finetune_pct": before["top1_pct"],
        "top5_before_finetune_pct": before["top5_pct"],
        "best_top1_pct": ft.get("best_top1_pct", final["top1_pct"]),
        "best_top5_pct": ft.get("best_top5_pct", final["top5_pct"]),
        "mean_top1_pct": ft.get("mean_top1_pct", final["top1_pct"]),
        "mean_top5_pct": ft.get("mean_top5_pct", final["top5_pct"]),
        "final_top1_pct": final["top1_pct"],
        "final_top5_pct": final["top5_pct"],
        "finetune_epochs": ft.get("epochs", 0),
        "finetune_seconds": ft.get("seconds", 0.0),
        "finetune_history": ft.get("history", []),
        "filters": conv_filters(model),
        "architecture": architecture_summary(model),
    }


def table_choice(model: nn.Module, table: Mapping[str, Any]) -> dict[str, int | None] | None:
    """The model's current width per table unit (None: its block removed), or None if a width is not in the table."""
    gone = set(removed_blocks(model))
    out: dict[str, int | None] = {}
    for name, entry in table["units"].items():
        if entry.get("block") in gone:
            out[name] = None
            continue
        w = model.get_submodule(name).out_channels
        if str(w) not in entry["widths"]:
            return None
        out[name] = w
    return out


def check_latency(model: nn.Module, round_dir: Path, table: Mapping[str, Any], calib: Dataset) -> dict[str, Any]:
    """Predicted (on `table`) vs measured latency of this round's ONNX at the table's precision and threads."""
    from edgebench.exporter.prune.latency import predict_ms
    from edgebench.runtimes.timing import measure_model_ms

    choice = table_choice(model, table)
    onnx_path = round_dir / "model.fp32.onnx"
    if table["precision"] == "int8":
        from edgebench.calibration.quantize import quantize_static_model
        from edgebench.calibration.recipes import resolve_preset

        cpu = (table.get("fingerprint") or {}).get("cpu") or {"arch": "x86_64", "isa": {}}
        quantize_static_model(onnx_path, calib, resolve_preset("auto", None, cpu), force=True)
        onnx_path = round_dir / "model.int8.onnx"
    measured = measure_model_ms(onnx_path, int(table["threads"]))
    predicted = predict_ms(table, choice) if choice is not None else None
    return {"precision": table["precision"], "threads": table["threads"], "model_file": onnx_path.name,
            "predicted_ms": predicted, "measured_ms": measured,
            "error_pct": None if predicted is None else 100.0 * (predicted - measured) / measured,
            "table_full_model_ms": table["full_model_ms"]}


def check_latency_run(run: PruneRunConfig, *, latency_aware: bool, with_table: bool) -> None:
    """Refuse what a latency table cannot go with: several rounds for a target, --no-onnx for any table."""
    if latency_aware and run.rounds != 1:
        raise UserInputError(f"latency-aware pruning runs in one round, not --rounds {run.rounds}; drop --rounds")
    if with_table and not run.export_onnx:
        raise UserInputError("predicting vs measuring latency needs the ONNX export; drop --no-onnx")


def run_rounds(model: nn.Module, spec: Any, ratios: RatioConfig, run: PruneRunConfig, finetune: TrainConfig,
               train_data: Dataset, test_data: Dataset, out_dir: Path, *, arch: str, num_classes: int | None,
               weights_info: WeightsRecord | Mapping[str, Any] | None = None, force: bool = False, resume: bool = False,
               log: Log | None = None, teacher: nn.Module | None = None, distill: DistillConfig | None = None,
               plan: Any = None, latency_table: Mapping[str, Any] | None = None,
               calibration: Dataset | None = None) -> dict[str, Any]:
    """Run the rounds on `model` (modified in place) and write everything under `out_dir`; returns the summary.

    `teacher` (+ `distill`): fine-tune with the distillation loss. `plan` (a `prune.latency.LatencyPlan`):
    round 1 removes its blocks and prunes to its widths (one round only). `latency_table`: every exported
    round also gets its latency predicted on the table and measured (INT8 tables quantize with `calibration`).
    """
    say = log or (lambda _msg: None)
    check_latency_run(run, latency_aware=plan is not None, with_table=latency_table is not None)
    out_dir = _run_dir(Path(out_dir), force=force, resume=resume)
    pp = spec.input.preprocessing
    shape = tuple(int(d) for d in spec.input.shape[1:])
    example = torch.zeros((1, *shape))
    model.eval()
    pruner = StructuredPruner(model, example, ratios, run.importance, scope=run.scope, seed=run.seed,
                              round_to=run.round_to)
    layer_ratios = pruner.layer_ratios
    say(f"{len(pruner.layers)} prunable layers (scope {run.scope}); importance {run.importance}; "
        f"{run.rounds} round(s) x {finetune.epochs} fine-tune epoch(s)")
    for line in describe_skipped(pruner.skipped):
        say(line)

    summary: dict[str, Any] = {
        "schema_version": 1, "kind": SUMMARY_KIND, "arch": arch, "num_classes": num_classes,
        "weights": _weights_dict(weights_info), "ratios": ratios.to_dict(),
        "layer_ratios": layer_ratios, "importance": run.importance, "scope": run.scope, "seed": run.seed,
        "round_to": run.round_to,
        "rounds_planned": run.rounds, "finetune": asdict(finetune),
        "train_data": {"name": train_data.name, "n": len(train_data)},
        "test_data": {"name": test_data.name, "n": len(test_data)},
        **_layers_record(pruner),
        "rounds": [],
        "distill": (distill or DistillConfig()).to_dict() if teacher is not None else None,
        "latency_plan": plan.to_dict() if plan is not None else None,
        "latency_table": _table_record(latency_table),
    }
    base: dict[str, int] | None = None
    structure_extra = {"importance": run.importance, "scope": run.scope}
    for k in range(0, run.rounds + 1):
        round_dir = out_dir / f"round{k}"
        if resume and (round_dir / "metrics.json").exists():
            metrics = json.loads((round_dir / "metrics.json").read_text(encoding="utf-8"))
            loaded, _ = load_pruned(round_dir, factory=lambda _a, n: spec.build(n if spec.takes_num_classes else None))
            pruner.model = loaded
            model = loaded
            summary["rounds"].append(metrics)
            base = base or {"macs": metrics["macs"], "params": metrics["params"]}
            say(f"round {k}: already complete (top-1 {metrics['final_top1_pct']:.2f} %), skipped")
            continue
        t0 = time.perf_counter()
        fraction = k / run.rounds
        if k > 0:
            if plan is not None:
                remove_blocks(model, plan.removed_blocks, example)
                pruner = StructuredPruner(model, example, plan.ratio_config(), run.importance, scope=run.scope,
                                          seed=run.seed, round_to=1)
                say(f"round {k}: removed {len(plan.removed_blocks)} blocks ({', '.join(plan.removed_blocks)})")
            report = pruner.step(k, run.rounds)
            changed = {n: f"{r['before']}->{r['after']}" for n, r in report.items() if r["before"] != r["after"]}
            say(f"round {k}: pruned {len(changed)} layers to {fraction:.0%} of the target")
        before = evaluate_model(model, test_data, pp, batch_size=finetune.eval_batch_size,
                                device=finetune.device if finetune.device != "auto" else "cpu")
        say(f"round {k}: top-1 {before['top1_pct']:.2f} % before fine-tuning")
        ft: dict[str, Any] = {}
        if k > 0 and finetune.epochs > 0:
            ft = train(model, train_data, test_data, pp, finetune, out_dir=round_dir / "finetune", resume=resume,
                       force=True, log=lambda m, k=k: say(f"round {k}: {m}"), teacher=teacher, distill=distill)
            model.cpu().eval()
        stem = f"round{k}"
        weights, _ = save_pruned(model, round_dir, arch=arch, num_classes=num_classes, stem=stem,
                                 round=k, **structure_extra)
        metrics = _round_metrics(model, example, k, fraction, base, before, ft, weights)
        base = base or {"macs": metrics["macs"], "params": metrics["params"]}
        if run.export_onnx:
            metrics |= _exported(model, spec, round_dir, run, metrics, weights.name, latency_table,
                                 calibration or train_data, lambda m, k=k: say(f"round {k}: {m}"))
        metrics["distill"] = ft.get("distill")
        metrics["removed_blocks"] = removed_blocks(model)
        metrics["seconds"] = time.perf_counter() - t0
        write_json(round_dir / "metrics.json", metrics)
        shutil.rmtree(round_dir / "finetune", ignore_errors=True)
        summary["rounds"].append(metrics)
        _write_summary(summary, out_dir, f"{arch} {run.importance}")
        say(f"round {k}: MACs {metrics['macs'] / 1e6:.1f} M (-{metrics['macs_reduction_pct']:.1f} %), params "
            f"{metrics['params'] / 1e6:.3f} M, top-1 best {metrics['best_top1_pct']:.2f} / mean "
            f"{metrics['mean_top1_pct']:.2f} / final {metrics['final_top1_pct']:.2f} %")
    _write_summary(summary, out_dir, f"{arch} {run.importance}")
    return summary


def _run_dir(out_dir: Path, *, force: bool, resume: bool) -> Path:
    """The run's folder, made writable; a previous run there is refused (unless resumed), or with `force` (not
    resuming) its rounds removed."""
    if (out_dir / "summary.json").exists() and not (force or resume):
        raise OutputExistsError(f"'{out_dir}' holds a previous prune run; pass --resume to continue it or --force")
    out_dir = ensure_writable_dir(out_dir)
    if force and not resume:
        for old in sorted(out_dir.glob("round*")):
            if old.is_dir() and (old / STRUCTURE_FILE).exists():
                shutil.rmtree(old)
    return out_dir


def _layers_record(pruner: StructuredPruner) -> dict[str, Any]:
    """The summary's prunable layers (with their coupled members) and the convs left alone, with why."""
    return {"prunable_layers": [{"name": la.name, "block": la.block, "filters": la.channels,
                                 "members": list(la.members)} for la in pruner.layers],
            "skipped_layers": [s.to_dict() for s in pruner.skipped]}


def _table_record(latency_table: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the summary records of the latency table a latency-aware run was planned on."""
    if latency_table is None:
        return None
    return {k: latency_table.get(k) for k in ("model", "runtime", "precision", "threads", "full_model_ms", "machine",
                                               "fingerprint_id")}


def _exported(model: nn.Module, spec: Any, round_dir: Path, run: PruneRunConfig, metrics: Mapping[str, Any],
              weights_file: str, latency_table: Mapping[str, Any] | None, calibration: Dataset,
              say: Callable[[str], None]) -> dict[str, Any]:
    """Export a round to ONNX: its size and, with a latency table, its predicted and measured latency."""
    info = PrunedInfo(round=metrics["round"], structure_file=STRUCTURE_FILE, weights_file=weights_file,
                      importance=run.importance, scope=run.scope, filters=metrics["filters"],
                      top1_pct_torch=metrics["final_top1_pct"])
    out: dict[str, Any] = {"onnx_size_mb": _export(model, spec, round_dir, info)}
    if latency_table is not None:
        out["latency"] = lat = check_latency(model, round_dir, latency_table, calibration)
        pred = f"{lat['predicted_ms']:.3f}" if lat["predicted_ms"] is not None else "-"
        say(f"latency predicted {pred} ms, measured {lat['measured_ms']:.3f} ms "
            f"({lat['precision']}, {lat['threads']} thread(s))")
    return out


def _write_summary(summary: dict[str, Any], out_dir: Path, title: str) -> None:
    rounds = summary["rounds"]
    write_json(out_dir / "summary.json", summary)
    write_text(out_dir / "rounds.csv", _csv(rounds, ROUND_COLUMNS))
    write_text(out_dir / "filters.csv", filters_csv(rounds))
    if rounds:
        plot_rounds(rounds, out_dir, title)


# --- `edgebench prune`: one library call ---------------------------------------------------------------


@dataclass(frozen=True)
class PruneJob:
    """Everything `edgebench prune` does: the model (trained weights), what to prune to (`ratios`, or a
    `latency` target on a latency table), how (`run`), the fine-tune recipe, the data, an optional distillation
    teacher and the output folder. Validated here, before anything is read or written; `run_prune` runs it."""

    spec: ModelSpec
    out_dir: Path
    ratios: RatioConfig | None
    run: PruneRunConfig
    finetune: TrainConfig
    weights: WeightsRequest
    data: DataRequest
    teacher: TeacherRequest | None = None
    distill: DistillConfig = field(default_factory=DistillConfig)
    latency: LatencyTarget | None = None  # with a target: choose widths/blocks; without: predict vs measure
    resume: bool = False
    force: bool = False

    def __post_init__(self) -> None:
        if self.latency_aware and self.ratios is not None:
            raise UserInputError("give --ratios or --target-speedup/--target-latency-ms, not both")
        if not self.latency_aware and self.ratios is None:
            raise UserInputError("give --ratios (e.g. 0.5) or --latency-table with --target-speedup")
        # here, not only in run_rounds: after the model, the data and the sensitivity pass would be too late
        check_latency_run(self.run, latency_aware=self.latency_aware, with_table=self.latency is not None)
        if not self.weights.require_trained:  # pruning random weights ranks noise
            object.__setattr__(self, "weights", replace(self.weights, require_trained=True))

    @property
    def latency_aware(self) -> bool:
        return self.latency is not None and self.latency.has_target


def run_prune(job: PruneJob, *, log: Log | None = None) -> dict[str, Any]:
    """Load the model, check the ratios (or the latency table) against it before any data is read or any
    folder is made, then `run_rounds`; returns the summary (also in `out_dir/summary.json`)."""
    from edgebench.exporter.loading import load_model
    from edgebench.exporter.prune.prepare import check_model_table, latency_plan
    from edgebench.exporter.train.distill import example_input, resolve_teacher

    say = log or (lambda _msg: None)
    if (job.out_dir / "summary.json").exists() and not (job.force or job.resume):
        raise OutputExistsError(f"'{job.out_dir}' holds a previous prune run; pass --resume or --force")
    check_writable_dir(job.out_dir)  # before the model, the data and (latency-aware) the sensitivity pass
    loaded = load_model(job.spec, job.weights)
    if loaded.note:
        say(loaded.note)
    net, spec = loaded.model, loaded.spec
    table = check_model_table(net, spec, job.latency)[0] if job.latency is not None else None
    teacher = resolve_teacher(spec, net, job.teacher) if job.teacher is not None else None
    ratios = job.ratios if job.ratios is not None else RatioConfig.parse("0")
    run = job.run
    # the ratios checked against the model (list length, layer names, emptied layers) before any data is read
    StructuredPruner(net, example_input(spec), ratios, run.importance,
                     scope=run.scope, seed=run.seed, round_to=run.round_to)
    need_train = job.finetune.epochs > 0 or job.latency is not None
    train_ds, test_ds = job.data.load(with_train=need_train)
    plan = None
    if job.latency is not None and job.latency_aware:
        plan, table, _ = latency_plan(net, spec, job.latency, train_ds if train_ds is not None else test_ds,
                                      importance=run.importance, out_dir=job.out_dir, log=say)
    if train_ds is None:
        train_ds = Dataset(test_ds.images[:0], test_ds.labels[:0], "none")
    return run_rounds(net, spec, ratios, run, job.finetune, train_ds, test_ds, job.out_dir, arch=spec.name,
                      num_classes=loaded.num_classes, weights_info=loaded.weights, force=job.force,
                      resume=job.resume, log=say, teacher=teacher, distill=job.distill, plan=plan,
                      latency_table=table)
