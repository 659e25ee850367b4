"""Filter importance criteria for structured pruning, in a registry (`l1`, `l2`, `random`, `bn-scale`).

Each criterion is a torch-pruning `Importance`: called with a dependency group (a conv's output
channels and everything coupled to them), it returns one score per channel; the lowest-scored
channels are removed. Scores only look at the layers whose *output* channels the group removes,
so for a block-internal conv this is exactly the per-filter norm of Li et al. 2017.

Example::

    imp = make_importance("l1")             # or "l2", "random" (seeded), "bn-scale"
    scores = imp(DG.get_pruning_group(conv, tp.prune_conv_out_channels, list(range(conv.out_channels))))
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import torch
import torch_pruning as tp
from edgebench.errors import UserInputError
from edgebench.registry import Registry
from torch import nn

ImportanceFactory = Callable[[int], tp.importance.Importance]
IMPORTANCES: Registry[ImportanceFactory] = Registry("importance")


def _out_pruned(group: Any) -> list[tuple[nn.Module, list[int], list[int]]]:
    """(module, channel indices, root indices) for every layer of `group` whose output channels the group removes."""
    out = []
    for i, (dep, idxs) in enumerate(group):
        if dep.handler in (tp.prune_conv_out_channels, tp.prune_linear_out_channels,
                           tp.prune_batchnorm_out_channels):
            out.append((dep.target.module, list(idxs), list(group[i].root_idxs)))
    return out


class FilterNormImportance(tp.importance.Importance):
    """Sum over the group's out-pruned convs of each filter's p-norm (p=1: Li et al.'s L1 filter norm)."""

    def __init__(self, p: int) -> None:
        self.p = p

    @torch.no_grad()
    def __call__(self, group: Any) -> torch.Tensor:
        scores: torch.Tensor | None = None
        for module, idxs, root_idxs in _out_pruned(group):
            if not isinstance(module, nn.Conv2d | nn.Linear):
                continue
            w = module.weight.detach()[idxs].flatten(1).float()
            s = w.abs().sum(1) if self.p == 1 else w.pow(2).sum(1).sqrt()
            if scores is None:
                scores = torch.zeros(len(group[0][1]), dtype=torch.float32)
            scores.index_add_(0, torch.tensor(root_idxs, dtype=torch.long), s)
        if scores is None:
            raise UserInputError("the pruning group has no conv or linear layer to score; choose another layer")
        return scores


class BNScaleImportance(tp.importance.Importance):
    """|gamma| of the BatchNorm layers that follow the group's convs (Liu et al. 2017, network slimming)."""

    @torch.no_grad()
    def __call__(self, group: Any) -> torch.Tensor:
        scores: torch.Tensor | None = None
        for module, idxs, root_idxs in _out_pruned(group):
            if not isinstance(module, nn.modules.batchnorm._BatchNorm) or not module.affine:
                continue
            if scores is None:
                scores = torch.zeros(len(group[0][1]), dtype=torch.float32)
            scores.index_add_(0, torch.tensor(root_idxs, dtype=torch.long), module.weight.detach()[idxs].abs().float())
        if scores is None:
            root = group[0][0].target.module
            raise UserInputError(
                f"importance 'bn-scale' needs a BatchNorm after the pruned layer ({type(root).__name__} "
                f"{getattr(root, 'out_channels', '?')} channels has none); use l1, l2 or random"
            )
        return scores


class SeededRandomImportance(tp.importance.Importance):
    """Uniform random scores from a seeded generator: the same seed and call order give the same channels.

    torch-pruning's own RandomImportance draws from the global RNG; this one never touches it.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, key: str) -> None:
        """Restart the stream from (seed, key) so a layer's draw does not depend on the layers before it."""
        self.generator.manual_seed((self.seed * 1_000_003 + zlib.crc32(key.encode())) % (2**63))

    @torch.no_grad()
    def __call__(self, group: Any) -> torch.Tensor:
        return torch.rand(len(group[0][1]), generator=self.generator)


@IMPORTANCES.register("l1")
def _l1(seed: int = 0) -> tp.importance.Importance:
    # Li et al. 2017: sum of absolute kernel weights of each filter
    return FilterNormImportance(p=1)


@IMPORTANCES.register("l2")
def _l2(seed: int = 0) -> tp.importance.Importance:
    return FilterNormImportance(p=2)


@IMPORTANCES.register("random")
def _random(seed: int = 0) -> tp.importance.Importance:
    return SeededRandomImportance(seed)


@IMPORTANCES.register("bn-scale")
def _bn_scale(seed: int = 0) -> tp.importance.Importance:
    return BNScaleImportance()


def make_importance(name: str, seed: int = 0) -> tp.importance.Importance:
    """The importance criterion registered as `name` (unknown names suggest the closest)."""
    return IMPORTANCES.get(name)(seed)
