"""Layer sensitivity (Li et al. 2017, section 4.2): prune each layer alone, evaluate without fine-tuning.

For every prunable layer and every ratio of the grid (0.1 ... 0.9 by default) a copy of the model
loses that fraction of the layer's filters (lowest L1 norm first) and is evaluated as is. The table
shows which layers are sensitive; `derive_ratios` turns it into per-layer ratios, pruning the
sensitive layers less:

- an accuracy budget: each layer gets the largest ratio whose drop (and every smaller ratio's drop)
  stays within the budget;
- a MACs target: the smallest common drop threshold whose ratios reach the MACs reduction (exact
  MACs, counted on a pruned copy).

Example::

    table = sensitivity_analysis(model, example, lambda m: evaluate_model(m, test, pp))
    derived = derive_ratios(table, target_macs_reduction=0.5, macs_of=lambda r: macs_with_ratios(model, example, r))
"""

from __future__ import annotations

import copy
import csv
import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from edgebench.errors import UserInputError
from edgebench.exporter.prune.config import RatioConfig, check_scope, describe_skipped, removed_count
from edgebench.exporter.prune.importance import make_importance
from edgebench.exporter.prune.structured import (
    StructuredPruner,
    build_graph,
    count_macs_params,
    prune_layer,
    scan_layers,
)
from torch import nn

if TYPE_CHECKING:
    from edgebench.exporter.loading import DataRequest, WeightsRequest
    from edgebench.exporter.zoo import ModelSpec

DEFAULT_GRID: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SENSITIVITY_KIND = "edgebench.sensitivity"
Evaluate = Callable[[nn.Module], Mapping[str, Any]]
Log = Callable[[str], None]


def check_grid(grid: Sequence[float]) -> tuple[float, ...]:
    if not grid:
        raise UserInputError("the ratio grid is empty; give e.g. 0.1,0.2,...,0.9")
    out = []
    for r in grid:
        if not 0 < r < 1:
            raise UserInputError(f"grid ratio {r:g} is outside (0, 1); give ratios such as 0.1,0.2,...,0.9")
        out.append(float(r))
    return tuple(sorted(set(out)))


def sensitivity_analysis(model: nn.Module, example: torch.Tensor, evaluate: Evaluate, *,
                         grid: Sequence[float] = DEFAULT_GRID, scope: str = "internal", importance: str = "l1",
                         seed: int = 0, log: Log | None = None) -> dict[str, Any]:
    """The sensitivity table: one entry per prunable layer, one result per grid ratio."""
    log = log or (lambda _msg: None)
    grid = check_grid(grid)
    scan = scan_layers(model, example, scope)
    layers = scan.layers
    base = dict(evaluate(model))
    base_macs, base_params = count_macs_params(model, example)
    log(f"baseline top-1 {base['top1_pct']:.2f} %, {len(layers)} prunable layers x {len(grid)} ratios")
    for line in describe_skipped(scan.skipped):
        log(line)
    rows = []
    for i, layer in enumerate(layers):
        results = []
        for r in grid:
            n = removed_count(layer.channels, r)
            entry: dict[str, Any] = {"ratio": r, "removed": n, "kept": layer.channels - n}
            if n >= layer.channels:
                entry.update(skipped="would remove every filter", top1_pct=None, top5_pct=None, drop_pts=None)
                results.append(entry)
                continue
            m = copy.deepcopy(model)
            prune_layer(m, build_graph(m, example), layer.name, n, make_importance(importance, seed), layer.name)
            ev = evaluate(m)
            macs, params = count_macs_params(m, example)
            entry.update(top1_pct=float(ev["top1_pct"]), top5_pct=_float_or_none(ev.get("top5_pct")),
                         drop_pts=float(base["top1_pct"]) - float(ev["top1_pct"]), macs=macs, params=params)
            results.append(entry)
        rows.append({"name": layer.name, "block": layer.block, "channels": layer.channels,
                     "members": list(layer.members), "results": results})
        shown = ", ".join(f"{e['ratio']:g}:{e['top1_pct']:.1f}" for e in results if e["top1_pct"] is not None)
        log(f"[{i + 1}/{len(layers)}] {layer.name} ({layer.channels} filters): {shown}")
    return {"schema_version": 1, "kind": SENSITIVITY_KIND, "importance": importance, "scope": scope,
            "grid": list(grid), "baseline": {"top1_pct": float(base["top1_pct"]),
                                              "top5_pct": _float_or_none(base.get("top5_pct")),
                                              "n": base.get("n"), "macs": base_macs, "params": base_params},
            "layers": rows, "skipped_layers": [s.to_dict() for s in scan.skipped]}


def table_csv(table: Mapping[str, Any]) -> str:
    """One row per prunable layer: name, block, filters, then top-1 % at each grid ratio."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    grid = table["grid"]
    w.writerow(["layer", "block", "filters", "baseline_top1_pct", *[f"top1_pct_at_{r:g}" for r in grid]])
    for row in table["layers"]:
        by_ratio = {e["ratio"]: e.get("top1_pct") for e in row["results"]}
        w.writerow([row["name"], row["block"], row["channels"], f"{table['baseline']['top1_pct']:.2f}",
                    *["" if by_ratio.get(r) is None else f"{by_ratio[r]:.2f}" for r in grid]])
    return buf.getvalue()


def _safe_ratio(row: Mapping[str, Any], threshold: float) -> float:
    """Largest grid ratio such that it and every smaller ratio drop at most `threshold` points."""
    best = 0.0
    for e in sorted(row["results"], key=lambda e: e["ratio"]):
        if e.get("drop_pts") is None or e["drop_pts"] > threshold + 1e-9:
            break
        best = e["ratio"]
    return best


def ratios_for_threshold(table: Mapping[str, Any], threshold: float) -> dict[str, float]:
    return {row["name"]: _safe_ratio(row, threshold) for row in table["layers"]}


def macs_with_ratios(model: nn.Module, example: torch.Tensor, ratios: Mapping[str, float],
                     scope: str = "internal") -> int:
    """MACs of a copy of `model` pruned to `ratios` (which filters go does not change the count)."""
    m = copy.deepcopy(model)
    StructuredPruner(m, example, RatioConfig.by_name(dict(ratios)), "l1", scope=scope).step(1, 1)
    return count_macs_params(m, example)[0]


def derive_ratios(table: Mapping[str, Any], *, acc_budget_pts: float | None = None,
                  target_macs_reduction: float | None = None,
                  macs_of: Callable[[Mapping[str, float]], int] | None = None) -> dict[str, Any]:
    """Per-layer ratios from the table for an accuracy budget (points) or a MACs reduction (fraction)."""
    if (acc_budget_pts is None) == (target_macs_reduction is None):
        raise UserInputError("give exactly one of --acc-budget (points of top-1) and --target-macs (fraction)")
    base_macs = int(table["baseline"]["macs"])
    if acc_budget_pts is not None:
        if acc_budget_pts < 0:
            raise UserInputError(f"--acc-budget {acc_budget_pts} must be >= 0 (points of top-1 you accept to lose)")
        ratios = ratios_for_threshold(table, acc_budget_pts)
        out: dict[str, Any] = {"criterion": "acc_budget", "acc_budget_pts": acc_budget_pts,
                               "threshold_drop_pts": acc_budget_pts}
    else:
        target = float(target_macs_reduction) if target_macs_reduction is not None else 0.0
        if not 0 < target < 1:
            raise UserInputError(f"--target-macs {target:g} must be a fraction in (0, 1), e.g. 0.5")
        if macs_of is None:
            raise UserInputError("a MACs target needs the model to count MACs")
        drops = sorted({0.0, *(e["drop_pts"] for row in table["layers"] for e in row["results"]
                               if e.get("drop_pts") is not None)})
        goal = base_macs * (1 - target)
        lo, hi = 0, len(drops) - 1
        if macs_of(ratios_for_threshold(table, drops[hi])) > goal:
            best = 1 - macs_of(ratios_for_threshold(table, drops[hi])) / base_macs
            raise UserInputError(
                f"--target-macs {target:g} is out of reach with this grid: pruning every layer at its "
                f"largest ratio removes {best:.1%} of the MACs; lower the target or use --scope coupled"
            )
        while lo < hi:
            mid = (lo + hi) // 2
            if macs_of(ratios_for_threshold(table, drops[mid])) <= goal:
                hi = mid
            else:
                lo = mid + 1
        ratios = ratios_for_threshold(table, drops[lo])
        out = {"criterion": "target_macs", "target_macs_reduction": target,
               "threshold_drop_pts": drops[lo]}
    if macs_of is not None:
        macs = macs_of(ratios)
        out.update(macs=macs, macs_reduction=1 - macs / base_macs)
    out["ratios"] = ratios
    return out


def plot_sensitivity(table: Mapping[str, Any], path: Path) -> Path:
    """Top-1 against pruning ratio, one line per layer, one panel per stage (like Li et al.'s figure 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from edgebench.atomic import atomic_path

    stages: dict[str, list[Mapping[str, Any]]] = {}
    for row in table["layers"]:
        stages.setdefault(row["name"].split(".")[0], []).append(row)
    n = len(stages)
    cols = min(n, 3)
    rows_n = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.5 * cols, 3.6 * rows_n), squeeze=False)
    base = table["baseline"]["top1_pct"]
    for ax, (stage, rows) in zip(axes.flat, stages.items(), strict=False):
        cmap = plt.get_cmap("viridis", max(2, len(rows)))
        for j, row in enumerate(rows):
            pts = [(0.0, base)] + [(e["ratio"], e["top1_pct"]) for e in row["results"] if e["top1_pct"] is not None]
            ax.plot(*zip(*pts, strict=True), marker="o", ms=3, lw=1, color=cmap(j),
                    label=f"{row['name']} ({row['channels']})")
        ax.set_title(stage)
        ax.set_xlabel("filters pruned away (fraction)")
        ax.set_ylabel("top-1 (%) without fine-tuning")
        ax.grid(alpha=0.3)
        if len(rows) <= 12:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"Layer sensitivity ({table['importance']} importance, scope {table['scope']})")
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)


def check_targets(target_macs: float | None, acc_budget: float | None) -> None:
    """At most one of a MACs target and an accuracy budget derives ratios from the table; each in its range.
    Checked before the sweep (minutes), so a bad value fails at once and writes nothing.

    >>> check_targets(1.5, None)
    Traceback (most recent call last):
    ...
    edgebench.errors.UserInputError: --target-macs 1.5 must be a fraction in (0, 1), e.g. 0.5
    """
    if target_macs is not None and acc_budget is not None:
        raise UserInputError("give at most one of --target-macs and --acc-budget")
    if target_macs is not None and not 0 < target_macs < 1:
        raise UserInputError(f"--target-macs {target_macs:g} must be a fraction in (0, 1), e.g. 0.5")
    if acc_budget is not None and not acc_budget >= 0:
        raise UserInputError(f"--acc-budget {acc_budget:g} must be >= 0 (points of top-1 you accept to lose)")


def load_table(path: Path, arch: str) -> dict[str, Any]:
    """A sensitivity.json written earlier (`--from-table`), checked to be a table of `arch`."""
    from edgebench.readers import read_json_file

    table = read_json_file(Path(path), "--from-table file")
    if not isinstance(table, dict) or table.get("kind") != SENSITIVITY_KIND or table.get("arch") not in (None, arch):
        raise UserInputError(f"--from-table '{path}' is not a sensitivity table of '{arch}'; give the "
                             f"sensitivity.json that `edgebench sensitivity {arch}` wrote")
    if not isinstance(table.get("layers"), list) or not isinstance(table.get("baseline"), dict):
        raise UserInputError(f"--from-table '{path}' has no 'layers'/'baseline'; re-run edgebench sensitivity")
    return table


# --- `edgebench sensitivity`: one library call ---------------------------------------------------------

TABLE_FILE = "sensitivity.json"
RATIOS_FILE = "ratios.json"


@dataclass(frozen=True)
class SensitivityRun:
    """Everything `edgebench sensitivity` does: the model (trained weights), the images, the grid, scope and
    importance, and optionally per-layer ratios derived for a MACs target or an accuracy budget (from this
    sweep or a `from_table` written earlier). Validated here, before anything is read or written."""

    spec: ModelSpec
    out_dir: Path
    weights: WeightsRequest
    data: DataRequest
    grid: tuple[float, ...] = DEFAULT_GRID
    scope: str = "internal"
    importance: str = "l1"
    target_macs: float | None = None
    acc_budget: float | None = None
    from_table: Path | None = None
    force: bool = False

    def __post_init__(self) -> None:
        from edgebench.exporter.prune.importance import IMPORTANCES

        object.__setattr__(self, "grid", check_grid(self.grid))
        IMPORTANCES.get(self.importance)  # an unknown name fails here, with a suggestion
        check_scope(self.scope)
        check_targets(self.target_macs, self.acc_budget)
        if not self.weights.require_trained:  # a sweep of random weights measures nothing
            object.__setattr__(self, "weights", replace(self.weights, require_trained=True))

    @property
    def derives(self) -> bool:
        return self.target_macs is not None or self.acc_budget is not None


@dataclass(frozen=True)
class SensitivityResult:
    """What `run_sensitivity` did: the table (and where it was written: None when reused), the derived ratios."""

    arch: str
    table: dict[str, Any]
    table_path: Path | None
    derived: dict[str, Any] | None = None
    ratios_path: Path | None = None


def run_sensitivity(run: SensitivityRun, *, log: Log | None = None) -> SensitivityResult:
    """Sweep (or reuse `from_table`), write sensitivity.json/.csv/.png, derive ratios.json when asked."""
    from edgebench.atomic import check_writable_dir, ensure_writable_dir, write_json, write_text
    from edgebench.errors import OutputExistsError
    from edgebench.exporter.loading import load_model
    from edgebench.exporter.train.distill import example_input
    from edgebench.exporter.train.loop import evaluate_model

    say = log or (lambda _msg: None)
    table_path = run.out_dir / TABLE_FILE
    if run.from_table is None and table_path.exists() and not run.force:
        raise OutputExistsError(f"'{table_path}' already exists; pass --force, or --from-table to reuse it")
    check_writable_dir(run.out_dir)  # before the model and the data are loaded
    loaded = load_model(run.spec, run.weights)
    if loaded.note:
        say(loaded.note)
    net, spec = loaded.model, loaded.spec
    example = example_input(spec)
    scope = run.scope
    written: Path | None = None
    if run.from_table is not None:
        table = load_table(run.from_table, spec.name)
        scope = table.get("scope", scope)
        out = ensure_writable_dir(run.out_dir)
    else:
        _, test = run.data.load(with_train=False)
        out = ensure_writable_dir(run.out_dir)
        t0 = time.perf_counter()
        table = sensitivity_analysis(
            net, example, lambda m: evaluate_model(m, test, spec.input.preprocessing), grid=run.grid, scope=scope,
            importance=run.importance, log=say)
        table.update(arch=spec.name, weights=loaded.weights.to_dict(), data={"name": test.name, "n": len(test)},
                     seconds=time.perf_counter() - t0)
        written = write_json(table_path, table)
        write_text(out / "sensitivity.csv", table_csv(table))
        plot_sensitivity(table, out / "sensitivity.png")
    if not run.derives:
        return SensitivityResult(spec.name, table, written)
    derived = derive_ratios(table, acc_budget_pts=run.acc_budget, target_macs_reduction=run.target_macs,
                            macs_of=lambda r: macs_with_ratios(net, example, r, scope))
    derived.update(kind="edgebench.derived-ratios", arch=spec.name, scope=scope)
    return SensitivityResult(spec.name, table, written, derived, write_json(out / RATIOS_FILE, derived))


def _float_or_none(value: Any) -> float | None:
    """A top-5 figure, or None where the evaluation had none (JSON has no NaN)."""
    return None if value is None else float(value)
