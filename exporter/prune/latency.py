"""Latency-aware pruning: per-layer widths and whole blocks chosen to reach a latency target on a
measured table (`edgebench.latency_table`) while losing the least by a sensitivity analysis.

1. `latency_probes(model, example)`: the model's prunable units (a block-internal conv, the convs
   that consume its filters, the residual add of its block) with candidate widths (multiples of the
   kernel's channel block) -> the probes `edgebench latency-table` measures on the device.
2. `width_sensitivity(...)`: per unit and candidate width, the loss increase when only that layer is
   pruned to that width (L1), and per removable block the loss increase when only it is removed.
3. `choose_plan(table, sensitivity, target_ms)`: greedy on "loss added per millisecond saved": start
   from the full model, repeatedly apply the unit move (a narrower width or removing the block) with
   the least loss per ms saved, until the predicted latency reaches the target. The move sequence does
   not depend on the target, so widths are monotone in it (a tighter target never widens a layer).
   Back-off: the last move may overshoot (one jump from 64 filters to 8, or a block removal, can take
   1.4x to 1.9x), so it is shrunk to the widest option of that unit between its width before and after
   the move that still reaches the target: the plan lands within one width step of the target, never
   above its latency. Only the last move is shrunk: undoing an earlier move as well would let a
   tighter target widen a layer (the plans would no longer nest).
4. `apply_plan(model, plan)`: remove the blocks, prune the widths (L1 filters).

Example::

    probes = latency_probes(model, example)
    sens = width_sensitivity(model, example, probes, lambda m: evaluate_model(m, data, pp))
    plan = choose_plan(table, sens, target_ms=table["full_model_ms"] / 2)
    apply_plan(model, example, plan)
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch_pruning as tp
from edgebench.errors import UserInputError
from edgebench.exporter.prune.config import RatioConfig
from edgebench.exporter.prune.depth import block_candidates, remove_blocks
from edgebench.exporter.prune.importance import make_importance
from edgebench.exporter.prune.structured import build_graph, is_depthwise, prunable_layers, prune_layer
from edgebench.latency_table import PROBES_KIND, SCHEMA_VERSION, structure_hash, unit_ms
from torch import nn

Evaluate = Callable[[nn.Module], Mapping[str, Any]]
Log = Callable[[str], None]
SENSITIVITY_KIND = "edgebench.latency-sensitivity"


def _conv_desc(conv: nn.Conv2d, cin: int | str, cout: int | str, groups: int | str, relu: bool) -> dict[str, Any]:
    p = conv.padding if isinstance(conv.padding, tuple) else (0, 0)
    return {"cin": cin, "cout": cout, "k": list(conv.kernel_size), "stride": list(conv.stride),
            "pad": [p[0], p[1], p[0], p[1]], "groups": groups, "relu": relu}


def candidate_widths(channels: int, block: int) -> list[int]:
    """Multiples of `block` up to `channels`, and `channels` itself."""
    out = [*range(block, channels, block), channels]
    return sorted(set(out))


def _input_shapes(model: nn.Module, example: torch.Tensor) -> dict[str, list[int]]:
    shapes: dict[str, list[int]] = {}

    def hook(name: str) -> Callable[..., None]:
        def record(_m: nn.Module, args: tuple, _out: object) -> None:
            shapes.setdefault(name, [int(d) for d in args[0].shape])
        return record

    hooks = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def latency_probes(model: nn.Module, example: torch.Tensor, *, arch: str, channel_block: int = 8,
                   scope: str = "internal") -> dict[str, Any]:
    """The probes document of `model`: one unit per prunable layer (see the module docstring)."""
    if channel_block < 1:
        raise UserInputError(f"--channel-block {channel_block} must be >= 1 (8 suits INT8/SIMD kernels)")
    dg = build_graph(model, example)
    names = {m: n for n, m in model.named_modules()}
    shapes = _input_shapes(model, example)
    blocks = {b.name: b for b in block_candidates(model, example)}
    units = []
    for layer in prunable_layers(model, example, scope, graph=dg):
        conv = model.get_submodule(layer.name)
        group = dg.get_pruning_group(conv, tp.prune_conv_out_channels, list(range(conv.out_channels)))
        producers, depthwise, consumers = [], [], []
        for dep, _ in group:
            m = dep.target.module
            if not isinstance(m, nn.Conv2d) or m not in names:
                continue
            if is_depthwise(m):
                depthwise.append(m)
            elif dep.handler == tp.prune_conv_out_channels and m not in producers:
                producers.append(m)
            elif dep.handler == tp.prune_conv_in_channels and not is_depthwise(m) and m not in consumers:
                consumers.append(m)
        convs = [_conv_desc(p, p.in_channels, "w", 1, True) for p in producers[:1]]
        convs += [_conv_desc(d, "w", "w", "w", True) for d in dict.fromkeys(depthwise)]
        convs += [_conv_desc(c, "w", c.out_channels, 1, True) for c in consumers]
        block = blocks.get(layer.block)
        block_convs = {n for n, m in model.get_submodule(layer.block).named_modules() if isinstance(m, nn.Conv2d)} \
            if layer.block != layer.name else set()
        unit_convs = {names[m] for m in [*producers[:1], *depthwise, *consumers]}
        removable = bool(block and block.removable and block_convs and block_convs <= {
            n.removeprefix(layer.block + ".") for n in unit_convs})
        if removable or (block and block.removable):
            convs[-1]["relu"] = False
        units.append({"name": layer.name, "block": layer.block, "channels": layer.channels,
                      "input": shapes[layer.name], "convs": convs, "residual": bool(block and block.removable),
                      "removable": removable, "widths": candidate_widths(layer.channels, channel_block)})
    shape = [int(d) for d in example.shape]
    return {"schema_version": SCHEMA_VERSION, "kind": PROBES_KIND,
            "model": {"arch": arch, "hash": structure_hash(units, shape)}, "input_shape": shape,
            "channel_block": channel_block, "scope": scope, "units": units}


def width_sensitivity(model: nn.Module, example: torch.Tensor, probes: Mapping[str, Any], evaluate: Evaluate, *,
                      importance: str = "l1", seed: int = 0, log: Log | None = None) -> dict[str, Any]:
    """Loss/top-1 after pruning one unit alone to each candidate width, or removing its block (no fine-tuning)."""
    log = log or (lambda _m: None)
    base = dict(evaluate(model))
    out: dict[str, Any] = {}
    for i, u in enumerate(probes["units"]):
        entry: dict[str, Any] = {"widths": {}, "remove": None}
        for w in u["widths"]:
            if w >= u["channels"]:
                entry["widths"][str(w)] = {"loss_increase": 0.0, "drop_pts": 0.0}
                continue
            m = copy.deepcopy(model)
            prune_layer(m, build_graph(m, example), u["name"], u["channels"] - w, make_importance(importance, seed),
                        u["name"])
            ev = evaluate(m)
            entry["widths"][str(w)] = {"loss_increase": float(ev["loss"]) - float(base["loss"]),
                                       "drop_pts": float(base["top1_pct"]) - float(ev["top1_pct"])}
        if u.get("removable"):
            m = copy.deepcopy(model)
            remove_blocks(m, [u["block"]])
            ev = evaluate(m)
            entry["remove"] = {"loss_increase": float(ev["loss"]) - float(base["loss"]),
                               "drop_pts": float(base["top1_pct"]) - float(ev["top1_pct"])}
        out[u["name"]] = entry
        log(f"sensitivity {i + 1}/{len(probes['units'])} {u['name']}: " + ", ".join(
            f"{w}:{v['loss_increase']:+.3f}" for w, v in entry["widths"].items())
            + (f", remove:{entry['remove']['loss_increase']:+.3f}" if entry["remove"] else ""))
    return {"schema_version": SCHEMA_VERSION, "kind": SENSITIVITY_KIND, "model": dict(probes["model"]),
            "baseline": {k: base[k] for k in ("top1_pct", "loss", "n") if k in base}, "units": out}


@dataclass(frozen=True)
class LatencyPlan:
    """Chosen width per unit (layer name -> filters) and blocks to remove, with the predicted latency."""

    widths: dict[str, int]
    removed_blocks: tuple[str, ...]
    predicted_ms: float
    full_model_ms: float
    target_ms: float
    loss_increase: float
    channels: dict[str, int] = field(default_factory=dict)
    greedy_predicted_ms: float | None = None  # before the back-off (None: not recorded)
    back_off: dict[str, Any] | None = None  # {"unit", "greedy", "chosen"}: the last greedy move, shrunk

    @property
    def predicted_speedup(self) -> float:
        return self.full_model_ms / self.predicted_ms

    @property
    def target_speedup(self) -> float:
        return self.full_model_ms / self.target_ms

    def ratio_config(self) -> RatioConfig:
        """The widths as by-name ratios (exact: C - w filters removed, `prune.config.removed_count`)."""
        return RatioConfig.by_name({n: (self.channels[n] - w) / self.channels[n] for n, w in self.widths.items()
                                    if n in self.channels and w < self.channels[n]})

    def to_dict(self) -> dict[str, Any]:
        return {"widths": self.widths, "removed_blocks": list(self.removed_blocks), "predicted_ms": self.predicted_ms,
                "full_model_ms": self.full_model_ms, "target_ms": self.target_ms,
                "predicted_speedup": self.predicted_speedup, "target_speedup": self.target_speedup,
                "greedy_predicted_ms": self.greedy_predicted_ms,
                "greedy_predicted_speedup": (self.full_model_ms / self.greedy_predicted_ms
                                             if self.greedy_predicted_ms else None),
                "back_off": self.back_off, "sensitivity_loss_increase": self.loss_increase}


def predict_ms(table: Mapping[str, Any], choice: Mapping[str, int | None]) -> float:
    """Predicted whole-model latency with `choice` (unit -> width, None = block removed)."""
    full = float(table["full_model_ms"])
    for name, entry in table["units"].items():
        full += unit_ms(table, name, choice.get(name, entry["channels"])) - unit_ms(table, name, entry["channels"])
    return full


def check_reachable(table: Mapping[str, Any], target_ms: float, *, allow_remove: bool = True) -> float:
    """The fastest predicted latency on `table` (every unit at its fastest option); refuses a `target_ms` below it."""
    fastest: dict[str, int | None] = {}
    for name, entry in table["units"].items():
        opts: list[int | None] = [int(w) for w in entry["widths"]]
        if allow_remove and entry.get("removable"):
            opts.append(None)
        fastest[name] = min(opts, key=lambda w, n=name: unit_ms(table, n, w))
    best_ms = predict_ms(table, fastest)
    if best_ms > target_ms:
        full = float(table["full_model_ms"])
        raise UserInputError(
            f"target {target_ms:.3f} ms ({full / target_ms:.2f}x) cannot be reached on this table: the best "
            f"reachable is {best_ms:.3f} ms ({full / best_ms:.2f}x, every layer at its narrowest"
            f"{' or removed' if allow_remove else ''}); ask for at most {full / best_ms:.2f}x")
    return best_ms


def choose_plan(table: Mapping[str, Any], sensitivity: Mapping[str, Any], *, target_ms: float,
                allow_remove: bool = True) -> LatencyPlan:
    """The greedy choice of widths/removals reaching `target_ms` (see the module docstring)."""
    units = table["units"]
    sens = sensitivity["units"]
    missing = [n for n in units if n not in sens]
    if missing:
        raise UserInputError(f"the sensitivity analysis has no entry for {', '.join(missing[:4])}; it was made for "
                             "another model: run it again")

    def options(name: str) -> list[tuple[int | None, float, float]]:
        opts = [(int(w), unit_ms(table, name, int(w)), max(0.0, sens[name]["widths"][w]["loss_increase"]))
                for w in units[name]["widths"] if w in sens[name]["widths"]]
        if allow_remove and units[name].get("removable") and sens[name].get("remove"):
            opts.append((None, unit_ms(table, name, None), max(0.0, sens[name]["remove"]["loss_increase"])))
        return opts

    opts = {n: options(n) for n in units}
    current: dict[str, int | None] = {n: units[n]["channels"] for n in units}
    cur_cost = {n: 0.0 for n in units}
    cur_ms = {n: unit_ms(table, n, units[n]["channels"]) for n in units}
    check_reachable(table, target_ms, allow_remove=allow_remove)
    predicted = predict_ms(table, current)
    last: tuple[str, int | None] | None = None  # the last move: unit, its width before
    while predicted > target_ms + 1e-9:
        best: tuple[float, float, str, int | None, float, float] | None = None
        for n in units:
            for w, ms, cost in opts[n]:
                saved = cur_ms[n] - ms
                narrower = w is None or (current[n] is not None and w < current[n])  # type: ignore[operator]
                if saved <= 1e-6 or not narrower:
                    continue
                key = ((cost - cur_cost[n]) / saved, -saved)
                if best is None or key < best[:2]:
                    best = (key[0], key[1], n, w, ms, cost)
        if best is None:  # cannot happen when best_ms <= target_ms, kept for safety
            break
        _, _, n, w, ms, cost = best
        last = (n, current[n])
        current[n], cur_ms[n], cur_cost[n] = w, ms, cost
        predicted = predict_ms(table, current)
    greedy_ms, back_off = predicted, None
    if last is not None:  # back-off: shrink the last move to the widest option still reaching the target
        n, before = last
        chosen = current[n]
        for w, ms, cost in sorted((o for o in opts[n] if _between(o[0], chosen, before)), key=lambda o: -int(o[0])):
            if predicted - cur_ms[n] + ms <= target_ms + 1e-9:
                back_off = {"unit": n, "greedy": chosen, "chosen": w}
                current[n], cur_ms[n], cur_cost[n] = w, ms, cost
                predicted = predict_ms(table, current)
                break
    widths = {n: int(w) for n, w in current.items() if w is not None}
    removed = tuple(units[n]["block"] for n, w in current.items() if w is None)
    return LatencyPlan(widths, removed, predicted, float(table["full_model_ms"]), target_ms, sum(cur_cost.values()),
                       {n: int(units[n]["channels"]) for n in units}, greedy_ms, back_off)


def _between(w: int | None, chosen: int | None, before: int | None) -> bool:
    """A width strictly between the last move's result `chosen` (None: block removed) and the width `before` it."""
    return w is not None and before is not None and w < before and (chosen is None or w > chosen)


def apply_plan(model: nn.Module, example: torch.Tensor, plan: LatencyPlan, *, importance: str = "l1",
               seed: int = 0) -> nn.Module:
    """Remove the plan's blocks, then prune its widths (lowest-importance filters first), in place."""
    remove_blocks(model, plan.removed_blocks, example)
    imp = make_importance(importance, seed)
    for name, w in plan.widths.items():
        conv = model.get_submodule(name)
        if w < conv.out_channels:
            prune_layer(model, build_graph(model, example), name, conv.out_channels - w, imp, name)
    return model
