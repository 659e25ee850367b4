"""Pruning ratios: which fraction of filters each prunable layer loses (torch-free).

Four ways to say it, all frozen dataclasses validated on creation:

- ``RatioConfig.uniform(0.3)``: every prunable layer loses 30 % of its filters;
- ``RatioConfig.per_block([0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.3, 0.3])``: one ratio per block, in model
  order (ResNet-18 has 8 BasicBlocks, ResNet-56 27, VGG-16 13 single-conv blocks);
- ``RatioConfig.by_name({"layer1": 0.2, "layer3.8.conv1": 0.0})``: by layer, block or stage name (the most
  specific name wins; layers not named keep ``default``);
- ``RatioConfig.global_(0.5)``: 50 % of all prunable filters, ranked together across layers (scores
  normalised by each layer's mean), no layer losing more than ``max_layer_ratio``.

Rounding (documented, tested): a layer with C filters and ratio r keeps ``C - floor(C * r + 0.5)``
filters, i.e. the number removed is rounded half up. A ratio that would remove every filter of a
layer is refused. With ``round_to=N`` (``--round-to``) the kept count is then rounded half up to a
multiple of N (at least N, at most C), because convolution kernels work on channel blocks. In
iterative pruning, round k of R prunes to ratio ``r * k / R`` of the original count, so the last
round reaches r.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edgebench.errors import NotFoundError, UserInputError, check_one_of, suggest
from edgebench.readers import read_json_file

Mode = Literal["uniform", "per_block", "by_name", "global"]
MODES: tuple[str, ...] = ("uniform", "per_block", "by_name", "global")
SCOPES: tuple[str, ...] = ("internal", "coupled")


def check_scope(scope: str) -> str:
    """`scope` if it is one of SCOPES, else a UserInputError with the closest name."""
    check_one_of("--scope", scope, SCOPES)
    return scope


def _check_ratio(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(float(value)):
        raise UserInputError(f"pruning ratio {value!r} for {where} is not a number; give a value in [0, 1)")
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise UserInputError(
            f"pruning ratio {v:g} for {where} is outside [0, 1); 0 keeps every filter, 0.5 removes half "
            "(1 would remove the layer)"
        )
    return v


@dataclass(frozen=True)
class PrunableLayer:
    """A conv whose output filters can be removed, with the convs coupled to it (residual adds)."""

    name: str
    block: str
    channels: int
    members: tuple[str, ...] = ()

    @property
    def coupled(self) -> bool:
        return len(self.members) > 1


SKIP_KINDS: tuple[str, ...] = ("residual", "gate", "coupled", "depthwise", "grouped", "linear", "output",
                               "single-filter")


@dataclass(frozen=True)
class SkippedLayer:
    """A conv the pruner leaves alone, with why (read from torch-pruning's dependency graph).

    `kind` groups the reasons (one of SKIP_KINDS: residual add, SE gate multiply, other coupling, depthwise,
    grouped conv, linear outputs, the model's output, a single filter).

    >>> SkippedLayer("dw", "depthwise", "depthwise conv: its channels follow those of 'pw'").to_dict()["kind"]
    'depthwise'
    """

    name: str
    kind: str
    reason: str

    def __post_init__(self) -> None:
        check_one_of("skip kind", self.kind, SKIP_KINDS)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "reason": self.reason}


def describe_skipped(skipped: Sequence[SkippedLayer], limit: int = 8) -> list[str]:
    """Log lines for the skipped layers: one per layer up to `limit`, else one per kind with the first names.

    >>> describe_skipped([SkippedLayer("dw", "depthwise", "depthwise conv: its channels follow its input")])
    ["skipped 'dw': depthwise conv: its channels follow its input"]
    """
    if len(skipped) <= limit:
        return [f"skipped '{s.name}': {s.reason}" for s in skipped]
    by_kind: dict[str, list[SkippedLayer]] = {}
    for s in skipped:
        by_kind.setdefault(s.kind, []).append(s)
    lines = [f"skipped {len(skipped)} conv layers (each with its reason in summary.json 'skipped_layers'):"]
    for kind, group in by_kind.items():
        names = _short_list([s.name for s in group], 4)
        lines.append(f"  {len(group)} x {kind}: {names}; e.g. {group[0].name}: {group[0].reason}")
    return lines


@dataclass(frozen=True)
class RatioConfig:
    """Per-layer pruning ratios in one of four modes (see the module docstring)."""

    mode: Mode
    ratio: float = 0.0
    per_block_ratios: tuple[float, ...] = ()
    by_name_ratios: tuple[tuple[str, float], ...] = ()
    default: float = 0.0
    max_layer_ratio: float = 0.9

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserInputError(
                f"ratio mode '{self.mode}' is not one of {', '.join(MODES)}.{suggest(self.mode, MODES)}"
            )
        _check_ratio(self.ratio, "the uniform/global ratio")
        _check_ratio(self.default, "layers not named")
        _check_ratio(self.max_layer_ratio, "the per-layer cap of global pruning")
        for i, r in enumerate(self.per_block_ratios):
            _check_ratio(r, f"block {i}")
        for name, r in self.by_name_ratios:
            _check_ratio(r, f"'{name}'")
        if self.mode == "per_block" and not self.per_block_ratios:
            raise UserInputError("a per-block ratio list is empty; give one ratio per block, e.g. 0.1,0.2,0.3")
        if self.mode == "by_name" and not self.by_name_ratios:
            raise UserInputError("a by-name ratio mapping is empty; give NAME=RATIO pairs, e.g. layer1=0.2")
        if self.mode == "global" and self.ratio > self.max_layer_ratio:
            raise UserInputError(
                f"global ratio {self.ratio:g} is above the per-layer cap {self.max_layer_ratio:g}; lower it"
            )

    # presets ---------------------------------------------------------------------------------
    @classmethod
    def uniform(cls, ratio: float) -> RatioConfig:
        # the simplest baseline: every prunable layer loses the same fraction
        return cls(mode="uniform", ratio=ratio)

    @classmethod
    def per_block(cls, ratios: Sequence[float]) -> RatioConfig:
        # the study's form: one ratio per residual block, deeper blocks pruned more
        return cls(mode="per_block", per_block_ratios=tuple(ratios))

    @classmethod
    def by_name(cls, ratios: Mapping[str, float], default: float = 0.0) -> RatioConfig:
        # what the sensitivity analysis derives: sensitive layers named with small ratios
        return cls(mode="by_name", by_name_ratios=tuple(ratios.items()), default=default)

    @classmethod
    def global_(cls, ratio: float, max_layer_ratio: float = 0.9) -> RatioConfig:
        # one budget for the whole network; the importance ranking decides where filters go
        return cls(mode="global", ratio=ratio, max_layer_ratio=max_layer_ratio)

    # parsing -----------------------------------------------------------------------------------
    @classmethod
    def parse(cls, spec: str, *, global_mode: bool = False) -> RatioConfig:
        """From the CLI: ``0.3``, ``0.1,0.1,0.2``, ``layer1=0.2,layer3=0.5``, ``global:0.5`` or a .json file.

        A JSON file holds a number, a list, a mapping, ``{"mode": ..., ...}`` (`to_dict`) or a sensitivity
        output with a ``ratios`` mapping.
        """
        text = spec.strip()
        if not text:
            raise UserInputError("--ratios is empty; give e.g. 0.3, 0.1,0.2,0.3, layer1=0.2 or a .json file")
        if text.endswith(".json"):
            return cls.from_file(Path(text), global_mode=global_mode)
        if text.startswith("global:"):
            return cls.global_(_parse_number(text[len("global:"):], spec))
        if "=" in text:
            mapping: dict[str, float] = {}
            for part in text.split(","):
                name, eq, value = part.partition("=")
                if not eq or not name.strip():
                    raise UserInputError(f"--ratios part '{part}' is not NAME=RATIO; e.g. layer1.0.conv1=0.3")
                if name.strip() in mapping:
                    raise UserInputError(f"--ratios names '{name.strip()}' twice; give each layer once")
                mapping[name.strip()] = _parse_number(value, part)
            default = mapping.pop("*", 0.0)
            return cls.by_name(mapping, default=default)
        if "," in text:
            return cls.per_block([_parse_number(v, spec) for v in text.split(",")])
        value = _parse_number(text, spec)
        return cls.global_(value) if global_mode else cls.uniform(value)

    @classmethod
    def from_file(cls, path: Path, *, global_mode: bool = False) -> RatioConfig:
        data = read_json_file(Path(path), "ratio file")
        return cls.from_data(data, source=str(path), global_mode=global_mode)

    @classmethod
    def from_data(cls, data: Any, *, source: str = "ratios", global_mode: bool = False) -> RatioConfig:
        if isinstance(data, dict) and "mode" in data:
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            if "per_block_ratios" in known:
                known["per_block_ratios"] = tuple(known["per_block_ratios"])
            if "by_name_ratios" in known:
                bn = known["by_name_ratios"]
                known["by_name_ratios"] = tuple(bn.items()) if isinstance(bn, dict) else tuple(tuple(x) for x in bn)
            return cls(**known)
        if isinstance(data, dict) and isinstance(data.get("ratios"), dict):  # a sensitivity derivation
            return cls.by_name(data["ratios"])
        if isinstance(data, dict):
            return cls.by_name(data)
        if isinstance(data, list):
            return cls.per_block(data)
        if isinstance(data, int | float) and not isinstance(data, bool):
            return cls.global_(float(data)) if global_mode else cls.uniform(float(data))
        raise UserInputError(f"{source} holds a {type(data).__name__}; expected a number, a list or a mapping")

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "ratio": self.ratio,
            "per_block_ratios": list(self.per_block_ratios),
            "by_name_ratios": dict(self.by_name_ratios),
            "default": self.default,
            "max_layer_ratio": self.max_layer_ratio,
        }

    # resolving against a model -------------------------------------------------------------
    def resolve(self, layers: Sequence[PrunableLayer], module_names: Sequence[str] = (),
                skipped: Sequence[SkippedLayer] = ()) -> dict[str, float]:
        """Ratio per prunable layer name (not for global mode, whose ratios come from the ranking).

        `module_names` (every module of the model) lets a name that exists but is not prunable get
        a precise message instead of a suggestion; `skipped` (the convs left alone, `pruning.scan_layers`)
        lets that message give the layer's own reason.
        """
        if self.mode == "global":
            raise UserInputError("global ratios are decided by the importance ranking, not per layer")
        if self.mode == "uniform":
            return {layer.name: self.ratio for layer in layers}
        if self.mode == "per_block":
            blocks = block_names(layers)
            if len(self.per_block_ratios) != len(blocks):
                shown = ", ".join(blocks[:6]) + (", ..." if len(blocks) > 6 else "")
                raise UserInputError(
                    f"the ratio list has {len(self.per_block_ratios)} values but the model has {len(blocks)} "
                    f"prunable blocks ({shown}); give {len(blocks)} values, one per block"
                )
            per_block = dict(zip(blocks, self.per_block_ratios, strict=True))
            return {layer.name: per_block[layer.block] for layer in layers}
        return self._resolve_names(layers, module_names, {s.name: s for s in skipped})

    def _resolve_names(self, layers: Sequence[PrunableLayer], module_names: Sequence[str],
                       skipped: Mapping[str, SkippedLayer]) -> dict[str, float]:
        out = {layer.name: self.default for layer in layers}
        specificity = dict.fromkeys(out, -1)
        for key, ratio in self.by_name_ratios:
            hit = [layer for layer in layers if _matches(key, layer)]
            if not hit:
                known = _known_names(layers)
                if key in skipped:
                    raise UserInputError(
                        f"layer '{key}' exists but is not prunable: {skipped[key].reason}; prunable layers: "
                        f"{_short_list([la.name for la in layers])}"
                    )
                inside = [v for n, v in skipped.items() if n.startswith(key + ".")]
                if inside:
                    shown = "; ".join(f"'{v.name}': {v.reason}" for v in inside[:2])
                    raise UserInputError(
                        f"no conv under '{key}' is prunable ({shown}{'; ...' if len(inside) > 2 else ''}); "
                        f"prunable layers: {_short_list([la.name for la in layers])}"
                    )
                if key in module_names:
                    raise UserInputError(
                        f"layer '{key}' exists but is not prunable here (its filters feed a residual add or it is "
                        f"not a conv); prunable layers: {_short_list([la.name for la in layers])}"
                    )
                raise NotFoundError(
                    f"no prunable layer or block named '{key}'; known: {_short_list(known)}.{suggest(key, known)}"
                )
            for layer in hit:
                if len(key) > specificity[layer.name]:
                    out[layer.name] = ratio
                    specificity[layer.name] = len(key)
        return out


def _parse_number(text: str, context: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise UserInputError(f"'{text.strip()}' in --ratios '{context}' is not a number") from None


def _matches(key: str, layer: PrunableLayer) -> bool:
    names = (layer.name, layer.block, *layer.members)
    return any(n == key or n.startswith(key + ".") for n in names)


def _known_names(layers: Sequence[PrunableLayer]) -> list[str]:
    known: list[str] = []
    for layer in layers:
        for n in (layer.name, layer.block, *layer.members):
            parts = n.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix not in known:
                    known.append(prefix)
    return known


def _short_list(names: Sequence[str], n: int = 8) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


def block_names(layers: Sequence[PrunableLayer]) -> list[str]:
    """Blocks in model order, each once."""
    return list(dict.fromkeys(layer.block for layer in layers))


def removed_count(channels: int, ratio: float) -> int:
    """Filters removed from a layer of `channels` at `ratio`: `floor(channels * ratio + 0.5)` (half up)."""
    return math.floor(channels * ratio + 0.5 + 1e-9)


def kept_channels(layer: str, channels: int, ratio: float) -> int:
    """Filters kept; refuses a ratio that would remove all of them."""
    kept = channels - removed_count(channels, ratio)
    if kept < 1:
        raise UserInputError(
            f"ratio {ratio:g} would remove every filter of '{layer}' ({channels} filters); "
            f"use a ratio below {(channels - 0.5) / channels:.3g}"
        )
    return kept


def align(kept: int, original: int, round_to: int) -> int:
    """`kept` rounded half up to a multiple of `round_to`, at least `round_to`, at most `original`.

    INT8 and FP32 convolution kernels work on channel blocks (e.g. 4, 8 or 16 wide); an odd count such
    as 5 filters can run slower than 8.
    """
    if round_to < 1:
        raise UserInputError(f"--round-to {round_to} must be >= 1")
    if round_to == 1 or kept >= original:
        return min(kept, original)
    return min(original, max(round_to, math.floor(kept / round_to + 0.5) * round_to))


def plan(original: Mapping[str, int], ratios: Mapping[str, float], fraction: float = 1.0,
         round_to: int = 1) -> dict[str, int]:
    """Channels to keep per layer at `fraction` of the way to `ratios` (iterative round k/R), aligned to `round_to`."""
    return {name: align(kept_channels(name, c, ratios.get(name, 0.0) * fraction), c, round_to)
            for name, c in original.items()}
