"""Structured filter pruning on torch-pruning's dependency graph: channels really removed.

Which layers are prunable (``scope``):

- ``internal`` (default, Li et al. 2017): only convs whose output channels reach nothing but the next
  conv (through BN/ReLU), e.g. ``conv1`` of every residual block, every conv of VGG, the expansion
  conv of MobileNetV2. The block outputs keep their width, so residual adds and the option-A
  (zero-padding) shortcuts of the ResNet-20/56 family are untouched.
- ``coupled``: also the groups torch-pruning couples through residual adds (a block's ``conv2`` with
  its shortcut conv and the neighbouring blocks), pruned together. Refused when the coupled convs
  differ in width: torch-pruning 1.6.1 treats ``F.pad`` on channels (option-A shortcuts) as an
  element-wise op and would couple channel i of a 16-wide stage with channel i of a 32-wide one,
  which is wrong (those shortcuts put stage-1 channel i at position i + 8 of stage 2).

In both scopes these convs are left alone, each reported with its reason (`scan_layers`, summary.json
``skipped_layers``): depthwise convs (their channels follow the conv feeding them), grouped convs and
their producers (the groups would unbalance), convs gated by a linear layer (only conv filters are
removed) and convs whose filters are the model's output (a fully convolutional classifier's classes).

Example::

    pruner = StructuredPruner(model, torch.zeros(1, 3, 32, 32), RatioConfig.uniform(0.5), "l1")
    pruner.step(1, rounds=1)          # model now has half the filters in every prunable layer
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch_pruning as tp
from edgebench.errors import ModelFileError, UserInputError, check_one_of
from edgebench.exporter.prune.config import (
    SCOPES,
    PrunableLayer,
    RatioConfig,
    SkippedLayer,
    align,
    kept_channels,
    plan,
    removed_count,
)
from edgebench.exporter.prune.importance import SeededRandomImportance, make_importance
from torch import nn


def is_depthwise(conv: nn.Module) -> bool:
    return isinstance(conv, nn.Conv2d) and conv.groups > 1 and conv.groups == conv.in_channels


def build_graph(model: nn.Module, example: torch.Tensor) -> tp.DependencyGraph:
    """torch-pruning's dependency graph of `model` traced with `example` (model left in its mode)."""
    was_training = model.training
    model.eval()
    try:
        return tp.DependencyGraph().build_dependency(model, example_inputs=example)
    except (ZeroDivisionError, IndexError, KeyError, ValueError, RuntimeError) as e:
        # torch-pruning cannot follow some channel ops (e.g. ShuffleNet's channel-shuffle reshape)
        raise ModelFileError(
            f"cannot trace the channel dependencies of {type(model).__name__} for pruning ({type(e).__name__}: "
            f"{e} in torch-pruning's graph): a channel shuffle or a reshape that mixes channels is not supported; "
            "prune another architecture, or export it unpruned with `edgebench export`") from e
    finally:
        model.train(was_training)


def block_of(model: nn.Module, name: str) -> str:
    """The nearest enclosing module that is not a Sequential/ModuleList (a residual block), else `name`."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        parent = ".".join(parts[:i])
        if not isinstance(model.get_submodule(parent), nn.Sequential | nn.ModuleList):
            return parent
    return name


@dataclass(frozen=True)
class LayerScan:
    """The model's prunable layers (module order) and the convs left alone, each with its reason."""

    layers: tuple[PrunableLayer, ...]
    skipped: tuple[SkippedLayer, ...]


@dataclass
class _Group:
    """What torch-pruning's group of one conv's output channels touches (read once per group)."""

    members: list[str] = field(default_factory=list)  # non-depthwise convs whose filters the group removes
    depthwise: list[str] = field(default_factory=list)
    linear_out: list[str] = field(default_factory=list)  # linear layers whose outputs it removes
    grouped: dict[str, int] = field(default_factory=dict)  # grouped (non-depthwise) convs it touches -> groups
    ops: set[str] = field(default_factory=set)  # "add", "mul", "pad", "concat" on the way
    output: bool = False  # the channels reach the model's output


def _op_kind(module: nn.Module) -> str | None:
    fn = str(getattr(module, "_grad_fn", ""))
    for kind, keys in (("add", ("Add", "Sub")), ("mul", ("Mul", "Div")), ("pad", ("Pad",))):
        if any(k in fn for k in keys):
            return kind
    return None


def _read_group(group: Any, names: dict[nn.Module, str]) -> _Group:
    g = _Group()
    for dep, _ in group:
        node, module = dep.target, dep.target.module
        if node.type == tp.ops.OPTYPE.ELEMENTWISE:
            kind = _op_kind(module)
            if kind:
                g.ops.add(kind)
        elif node.type == tp.ops.OPTYPE.CONCAT:
            g.ops.add("concat")
        elif node.type == tp.ops.OPTYPE.OUTPUT:
            g.output = True
        elif dep.handler == tp.prune_linear_out_channels:
            if names.get(module, "?") not in g.linear_out:
                g.linear_out.append(names.get(module, "?"))
        elif isinstance(module, nn.Conv2d) and module in names:
            name = names[module]
            if module.groups > 1 and not (module.groups == module.in_channels == module.out_channels):
                g.grouped[name] = module.groups
            if is_depthwise(module):
                if name not in g.depthwise:
                    g.depthwise.append(name)
            elif dep.handler == tp.prune_conv_out_channels and name not in g.members:
                g.members.append(name)
    return g


def _producer(dg: tp.DependencyGraph, conv: nn.Module, names: dict[nn.Module, str]) -> str | None:
    """The nearest conv upstream of `conv` in the traced graph (through BN, activations, element-wise ops)."""
    node = dg.module2node.get(conv)
    todo, visited = list(node.inputs) if node is not None else [], set()
    while todo:
        n = todo.pop(0)
        if id(n) in visited:
            continue
        visited.add(id(n))
        if isinstance(n.module, nn.Conv2d) and n.module in names:
            return names[n.module]
        todo.extend(n.inputs)
    return None


def _quoted(names: Sequence[str], n: int = 3) -> str:
    shown = ", ".join(f"'{x}'" for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _conv_output_hw(model: nn.Module, example: torch.Tensor) -> dict[str, int]:
    """Output H*W of every conv (a squeeze-excite gate's is 1)."""
    hw: dict[str, int] = {}

    def hook(name: str) -> Callable[..., None]:
        def record(_m: nn.Module, _args: tuple, out: torch.Tensor) -> None:
            hw.setdefault(name, int(out.shape[-1] * out.shape[-2]))
        return record

    hooks = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(example)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return hw


def _skip(model: nn.Module, name: str, g: _Group, scope: str, hw: Callable[[], dict[str, int]]) -> SkippedLayer | None:
    """Why the conv `name` (a member of group `g`) is left alone in `scope`, or None when it is prunable."""
    conv = model.get_submodule(name)
    others = [m for m in g.members if m != name]
    if g.output:
        return SkippedLayer(name, "output", f"its {conv.out_channels} filters are the model's output: removing one "
                                            "would drop an output channel")
    if g.linear_out:
        how = "multiplied by a gate computed by" if "mul" in g.ops else "combined element-wise with the outputs of"
        return SkippedLayer(name, "linear", f"output {how} linear layer {_quoted(g.linear_out)}: edgebench prunes "
                                            "conv filters only, not a linear layer's outputs")
    if g.grouped:
        if name in g.grouped:
            return SkippedLayer(name, "grouped", f"grouped conv (groups={g.grouped[name]}): removing single filters "
                                                 "would unbalance its groups")
        other, groups = next(iter(g.grouped.items()))
        return SkippedLayer(name, "grouped", f"output feeds grouped conv '{other}' (groups={groups}), whose input "
                                             "channels are split into fixed groups")
    if conv.out_channels < 2:
        return SkippedLayer(name, "single-filter", "a single filter: nothing to remove")
    if not others or scope == "coupled":
        return None
    only = ": prunable only with --scope coupled (the group is pruned together)"
    if "add" in g.ops:
        widths = sorted({model.get_submodule(m).out_channels for m in g.members})
        gate = " and is multiplied by a gate" if "mul" in g.ops else ""
        if len(widths) > 1:
            via = "a channel zero-padding shortcut" if "pad" in g.ops else "the dependency graph"
            tail = (f"; {via} couples it to convs of other widths ({', '.join(map(str, widths))}), so --scope "
                    "coupled refuses it too")
        else:
            tail = only
        return SkippedLayer(name, "residual",
                            f"output feeds a residual add{gate}, coupled with {_quoted(others)}{tail}")
    if "mul" in g.ops:
        sizes = hw()
        gates = [m for m in g.members if sizes.get(m) == 1 and any(sizes.get(o, 1) > 1 for o in g.members)]
        via = f" (through depthwise {_quoted(g.depthwise)})" if g.depthwise else ""
        if name in gates:
            gated = [m for m in g.members if m not in gates]
            return SkippedLayer(name, "gate", f"SE gate: its filters multiply the channels of {_quoted(gated)}{via}"
                                              f"{only}")
        what = f"an SE gate ({_quoted(gates)})" if gates else f"the output of {_quoted(others)}"
        return SkippedLayer(name, "gate", f"output{via} multiplied by {what}{only}")
    ops = ", ".join(sorted(g.ops)) or "the dependency graph"
    return SkippedLayer(name, "coupled", f"output coupled with {_quoted(others)} through {ops}{only}")


def scan_layers(model: nn.Module, example: torch.Tensor, scope: str = "internal",
                graph: tp.DependencyGraph | None = None) -> LayerScan:
    """The prunable layers in module order (each named after its first conv) and every other conv with the reason
    it is left alone: coupled through a residual add or an SE multiply (``--scope coupled`` prunes those groups),
    depthwise (follows its input), grouped, gated by a linear layer, the model's output, a single filter.

    Example::

        scan = scan_layers(create_model("resnet20"), torch.zeros(1, 3, 32, 32))
        [(s.name, s.kind) for s in scan.skipped][:2]   # [('conv1', 'residual'), ('layer1.0.conv2', 'residual')]
    """
    check_one_of("scope", scope, SCOPES)
    dg = graph or build_graph(model, example)
    names = {m: n for n, m in model.named_modules()}
    hw_cache: dict[str, int] = {}

    def hw() -> dict[str, int]:
        if not hw_cache:
            hw_cache.update(_conv_output_hw(model, example))
        return hw_cache

    seen: set[str] = set()
    layers: list[PrunableLayer] = []
    skipped: dict[str, SkippedLayer] = {}
    for name, conv in model.named_modules():
        if not isinstance(conv, nn.Conv2d) or name in seen or name in skipped:
            continue
        group = _read_group(dg.get_pruning_group(conv, tp.prune_conv_out_channels, list(range(conv.out_channels))),
                            names)
        if is_depthwise(conv):
            producer = _producer(dg, conv, names)
            source = f"those of '{producer}'" if producer else "its input's"
            skipped[name] = SkippedLayer(name, "depthwise", f"depthwise conv: its channels follow {source}")
            continue
        members = group.members if name in group.members else [name, *group.members]
        reason = _skip(model, name, group, scope, hw)
        if reason is not None:
            for m in members:
                if m not in seen and m not in skipped:
                    skipped[m] = reason if m == name else _skip(model, m, group, scope, hw) or reason
            continue
        seen.update(members)
        if len(members) > 1:
            widths = {m: model.get_submodule(m).out_channels for m in members}
            if len(set(widths.values())) > 1:
                shown = ", ".join(f"{m} ({w})" for m, w in list(widths.items())[:4])
                raise UserInputError(
                    f"scope 'coupled' cannot prune '{name}': torch-pruning couples convs of different widths "
                    f"({shown}, ...) through a channel zero-padding shortcut; use --scope internal"
                )
        layers.append(PrunableLayer(name, block_of(model, name), conv.out_channels, tuple(members)))
    order = {n: i for i, n in enumerate(names.values())}
    left = tuple(sorted(skipped.values(), key=lambda s: order.get(s.name, 0)))
    if not layers:
        shown = "; ".join(f"'{s.name}': {s.reason}" for s in left[:2])
        raise UserInputError(f"the model has no prunable conv layer in scope '{scope}'"
                             + (f" ({len(left)} convs left alone, e.g. {shown})" if left else ""))
    return LayerScan(tuple(layers), left)


def prunable_layers(model: nn.Module, example: torch.Tensor, scope: str = "internal",
                    graph: tp.DependencyGraph | None = None) -> list[PrunableLayer]:
    """The model's prunable layers in module order, each named after its first conv (`scan_layers` also says
    why the other convs are left alone)."""
    return list(scan_layers(model, example, scope, graph).layers)


def count_macs_params(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """(multiply-accumulates at batch 1, parameters) of `model`.

    MACs count convolutions, linear layers and matmuls (torch.utils.flop_counter, MAC = FLOP / 2), the
    convention of the papers and of the export manifest; BN, ReLU, pooling and additions are not counted.
    """
    from edgebench.exporter.export import count_macs, count_params

    return count_macs(model, tuple(example[:1].shape)), count_params(model)


def conv_filters(model: nn.Module) -> dict[str, int]:
    """Output channels (filters) of every conv layer, by module name."""
    return {n: m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def _scores(dg: tp.DependencyGraph, conv: nn.Conv2d, importance: Any, key: str) -> torch.Tensor:
    if isinstance(importance, SeededRandomImportance):
        importance.reseed(key)
    group = dg.get_pruning_group(conv, tp.prune_conv_out_channels, list(range(conv.out_channels)))
    scores = importance(group)
    return scores.detach().float().cpu()


def prune_layer(model: nn.Module, dg: tp.DependencyGraph, name: str, n_remove: int, importance: Any,
                key: str | None = None) -> list[int]:
    """Remove the `n_remove` lowest-scored filters of conv `name` and everything coupled; returns their indices."""
    conv = model.get_submodule(name)
    if n_remove <= 0:
        return []
    if n_remove >= conv.out_channels:
        raise UserInputError(f"removing {n_remove} of {conv.out_channels} filters of '{name}' would leave none")
    scores = _scores(dg, conv, importance, key or name)
    idxs = sorted(torch.argsort(scores, stable=True)[:n_remove].tolist())
    group = dg.get_pruning_group(conv, tp.prune_conv_out_channels, idxs)
    if not dg.check_pruning_group(group):
        raise UserInputError(f"torch-pruning refuses to remove {n_remove} filters of '{name}' (a layer would be empty)")
    group.prune()
    return idxs


class StructuredPruner:
    """Prunes a model towards its target ratios, in one or several rounds (round k of R reaches k/R of them)."""

    def __init__(self, model: nn.Module, example: torch.Tensor, ratios: RatioConfig, importance: str = "l1", *,
                 scope: str = "internal", seed: int = 0, round_to: int = 1) -> None:
        self.model = model
        self.example = example
        self.ratios = ratios
        self.importance_name = importance
        self.importance = make_importance(importance, seed)
        self.scope = scope
        self.seed = seed
        self.round_to = round_to
        align(1, 1, round_to)  # validates round_to
        scan = scan_layers(model, example, scope)
        self.layers = list(scan.layers)
        self.skipped = scan.skipped  # the convs left alone, with the reason (summary.json 'skipped_layers')
        self.original = {layer.name: layer.channels for layer in self.layers}
        module_names = [n for n, _ in model.named_modules()]
        self.layer_ratios: dict[str, float] | None = (
            None if ratios.mode == "global" else ratios.resolve(self.layers, module_names, self.skipped)
        )
        if self.layer_ratios is not None:
            plan(self.original, self.layer_ratios, 1.0, round_to)  # refuses a ratio emptying a layer, up front

    def current(self) -> dict[str, int]:
        return {layer.name: self.model.get_submodule(layer.name).out_channels for layer in self.layers}

    def targets(self, fraction: float, dg: tp.DependencyGraph) -> dict[str, int]:
        """Channels to keep per layer at `fraction` of the final ratios."""
        if self.layer_ratios is not None:
            return plan(self.original, self.layer_ratios, fraction, self.round_to)
        keep = self._global_targets(fraction, dg)
        return {n: align(k, self.original[n], self.round_to) for n, k in keep.items()}

    def _global_targets(self, fraction: float, dg: tp.DependencyGraph) -> dict[str, int]:
        current = self.current()
        total0 = sum(self.original.values())
        to_remove = removed_count(total0, self.ratios.ratio * fraction) - (total0 - sum(current.values()))
        floor = {n: kept_channels(n, c, self.ratios.max_layer_ratio) for n, c in self.original.items()}
        pool: list[tuple[float, str]] = []
        for name in current:
            s = _scores(dg, self.model.get_submodule(name), self.importance, f"{name}@global{fraction:.6f}")
            s = s / s.mean().clamp_min(1e-12)  # comparable across layers (torch-pruning's 'mean' normaliser)
            pool += [(float(v), name) for v in s]
        pool.sort(key=lambda t: t[0])
        keep = dict(current)
        for _, name in pool:
            if to_remove <= 0:
                break
            if keep[name] > floor[name]:
                keep[name] -= 1
                to_remove -= 1
        return keep

    def step(self, round_index: int, rounds: int) -> dict[str, dict[str, Any]]:
        """Prune to `round_index / rounds` of the target; per layer: channels before, after, removed indices."""
        if not 1 <= round_index <= rounds:
            raise UserInputError(f"round {round_index} is outside 1..{rounds}")
        dg = build_graph(self.model, self.example)
        before = self.current()
        targets = self.targets(round_index / rounds, dg)
        report: dict[str, dict[str, Any]] = {}
        for name, keep in targets.items():
            idxs = prune_layer(self.model, dg, name, before[name] - keep, self.importance, f"{name}@round{round_index}")
            report[name] = {"before": before[name], "after": self.model.get_submodule(name).out_channels,
                            "removed": idxs}
        return report

    def final_ratios(self) -> dict[str, float]:
        """Achieved ratio per layer relative to the original widths."""
        return {n: 1 - c / self.original[n] for n, c in self.current().items()}


def prune_once(model: nn.Module, example: torch.Tensor, ratios: RatioConfig, importance: str = "l1", *,
               scope: str = "internal", seed: int = 0, round_to: int = 1) -> StructuredPruner:
    """Prune `model` in place to `ratios` in one step; returns the pruner (layers, original widths)."""
    pruner = StructuredPruner(model, example, ratios, importance, scope=scope, seed=seed, round_to=round_to)
    pruner.step(1, 1)
    return pruner


def layer_names(layers: Sequence[PrunableLayer]) -> list[str]:
    return [layer.name for layer in layers]
