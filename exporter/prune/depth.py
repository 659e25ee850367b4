"""Block (depth) pruning for residual networks: whole residual blocks replaced by their shortcut.

At batch 1 a small network is bound by per-node overhead more than by MACs, so removing a block
(two convs, an add) saves more time than thinning every block. A block is removable when it is an
element of an `nn.Sequential`/`nn.ModuleList`, keeps its input shape (same channels, stride 1), and
its traced graph (torch.fx) adds its own input to a computed branch (an identity shortcut): then
`block(x) = relu(f(x) + x)` and with `f` gone the block is `relu(x) = x` (its input comes from a ReLU).
Other blocks are refused with the reason (`removable_blocks(..., explain=True)`).

A removed block becomes a `RemovedBlock` (an `nn.Identity`); `pruned.describe_structure` records its
name under `removed_blocks` and `pruned.apply_structure` removes it again on load.

Example::

    blocks = removable_blocks(model, torch.zeros(1, 3, 32, 32))   # ["layer1.1", "layer1.2", ...]
    remove_blocks(model, ["layer3.4"])
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from edgebench.errors import UserInputError, suggest
from torch import nn


class RemovedBlock(nn.Identity):
    """Stands where a residual block was removed (the block's output is its input)."""


@dataclass(frozen=True)
class BlockInfo:
    """A candidate block: its name, whether it can be removed, and why not."""

    name: str
    removable: bool
    reason: str = ""
    channels: int = 0


_ADDS = {operator.add, operator.iadd, torch.add}


def _identity_residual(block: nn.Module) -> tuple[bool, str]:
    """Whether `block`'s traced graph adds its raw input (through Identity modules only) to another branch."""
    import torch.fx as fx

    try:
        gm = fx.symbolic_trace(block)
    except Exception as e:  # fx raises many types on untraceable code; the reason names which
        return False, f"cannot be traced by torch.fx ({type(e).__name__})"
    modules = dict(gm.named_modules())

    def is_input(node: fx.Node) -> bool:
        while True:
            if node.op == "placeholder":
                return True
            if node.op == "call_module" and isinstance(modules.get(str(node.target)), nn.Identity):
                node = node.args[0]  # type: ignore[assignment]
                continue
            return False

    for node in gm.graph.nodes:
        is_add = (node.op == "call_function" and node.target in _ADDS) or (
            node.op == "call_method" and node.target in ("add", "add_"))
        if is_add and any(isinstance(a, fx.Node) and is_input(a) for a in node.args[:2]):
            return True, ""
    return False, "has no identity shortcut (its input is not added to its output)"


def block_candidates(model: nn.Module, example: torch.Tensor) -> list[BlockInfo]:
    """Every element of a Sequential/ModuleList that holds a conv, with whether it can be removed."""
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    hooks = []
    names: list[str] = []
    for pname, parent in model.named_modules():
        if not isinstance(parent, nn.Sequential | nn.ModuleList):
            continue
        for cname, child in parent.named_children():
            name = f"{pname}.{cname}" if pname else cname
            if isinstance(child, RemovedBlock) or not any(isinstance(m, nn.Conv2d) for m in child.modules()):
                continue
            if isinstance(child, nn.Sequential | nn.ModuleList | nn.Conv2d):
                continue
            names.append(name)

            def hook(_m: nn.Module, args: tuple, out: object, name: str = name) -> None:
                if args and isinstance(args[0], torch.Tensor) and isinstance(out, torch.Tensor):
                    shapes[name] = (tuple(args[0].shape), tuple(out.shape))

            hooks.append(child.register_forward_hook(hook))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    out = []
    for name in names:
        if name not in shapes:
            out.append(BlockInfo(name, False, "is not called with one tensor in the forward pass"))
            continue
        shape_in, shape_out = shapes[name]
        if shape_in != shape_out:
            out.append(BlockInfo(name, False, f"changes the shape {list(shape_in[1:])} -> {list(shape_out[1:])}"))
            continue
        ok, why = _identity_residual(model.get_submodule(name))
        out.append(BlockInfo(name, ok, why, shape_in[1] if len(shape_in) > 1 else 0))
    return out


def removable_blocks(model: nn.Module, example: torch.Tensor) -> list[str]:
    """Names of the residual blocks that can be replaced by their identity shortcut, in model order."""
    return [b.name for b in block_candidates(model, example) if b.removable]


def removed_blocks(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, RemovedBlock)]


def _replace(model: nn.Module, name: str) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if isinstance(parent, nn.Sequential | nn.ModuleList):
        parent[int(child)] = RemovedBlock()
    else:
        setattr(parent, child, RemovedBlock())


def remove_blocks(model: nn.Module, names: Iterable[str], example: torch.Tensor | None = None) -> list[str]:
    """Replace the named blocks by `RemovedBlock`; with `example`, refuse blocks that are not removable."""
    names = list(names)
    if example is not None and names:
        cands = {b.name: b for b in block_candidates(model, example)}
        for n in names:
            if n not in cands:
                known = [b.name for b in cands.values() if b.removable]
                raise UserInputError(f"'{n}' is not a block of this model; removable blocks: "
                                     f"{', '.join(known[:8]) or '(none)'}.{suggest(n, known)}")
            if not cands[n].removable:
                raise UserInputError(f"block '{n}' cannot be removed: it {cands[n].reason}")
    for n in names:
        _replace(model, n)
    return names


def apply_removed(model: nn.Module, names: Iterable[str]) -> None:
    """Re-apply recorded block removals (loading a pruned checkpoint); no checks beyond existence."""
    modules = dict(model.named_modules())
    for n in names:
        if n not in modules:
            from edgebench.errors import BadCheckpoint

            raise BadCheckpoint(f"structure removes block '{n}', which this architecture does not have")
        _replace(model, n)
