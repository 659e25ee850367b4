"""Pruning ratios pinned against hand computations: which layer gets which ratio, how many filters stay,
and the messages that tell the user how to fix a ratio (each case kills a mutant of exporter/prune/config.py)."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from pathlib import Path

import pytest
from edgebench.errors import NotFoundError, UserInputError
from edgebench.exporter.prune.config import (
    PrunableLayer,
    RatioConfig,
    align,
    kept_channels,
    plan,
    removed_count,
)


def blocks(n: int) -> list[PrunableLayer]:
    return [PrunableLayer(f"layer1.{i}.conv1", f"layer1.{i}", 16, (f"layer1.{i}.conv1",)) for i in range(n)]


def test_layers_are_frozen_and_coupled_means_two_members_or_more() -> None:
    la = PrunableLayer("a.conv1", "a", 8, ("a.conv1",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        la.channels = 4  # type: ignore[misc]
    assert not PrunableLayer("a", "a", 8).coupled
    assert not la.coupled
    assert PrunableLayer("a.conv2", "a", 8, ("a.conv2", "b.conv2")).coupled
    assert PrunableLayer("a.conv2", "a", 8, ("a.conv2", "b.conv2", "c.conv2")).coupled


@pytest.mark.parametrize("channels", [1, 3, 8, 10, 16, 64, 100])
@pytest.mark.parametrize("ratio", [0.0, 0.05, 0.1, 0.125, 0.25, 0.3, 1 / 3, 0.5, 0.7, 0.9])
def test_removed_count_is_exact_half_up(channels: int, ratio: float) -> None:
    exact = Fraction(channels) * Fraction(ratio).limit_denominator(1000)  # the decimal the user typed
    assert removed_count(channels, ratio) == math.floor(exact + Fraction(1, 2))


def test_kept_channels_refuses_only_an_empty_layer() -> None:
    assert kept_channels("x", 4, 0.75) == 1  # one filter left is allowed
    assert kept_channels("x", 2, 0.5) == 1
    with pytest.raises(UserInputError, match=r"every filter of 'x' \(16 filters\); use a ratio below 0\.969"):
        kept_channels("x", 16, 0.97)
    with pytest.raises(UserInputError, match=r"use a ratio below 0\.5"):
        kept_channels("y", 1, 0.5)


def test_align_rounds_half_up_to_the_block() -> None:
    assert align(5, 16, 2) == 6 and align(3, 16, 2) == 4 and align(4, 16, 2) == 4
    assert align(5, 16, 1) == 5 and align(20, 16, 1) == 16
    assert align(9, 9, 8) == 9  # nothing pruned: keep the layer whole, even off the block
    assert align(12, 12, 8) == 12 and align(11, 12, 8) == 8 and align(13, 16, 8) == 16  # 1.375, 1.625 blocks
    with pytest.raises(UserInputError, match="--round-to 0 must be >= 1"):
        align(5, 16, 0)


def test_plan_defaults_to_the_full_ratio_without_alignment() -> None:
    assert plan({"a": 10, "b": 16}, {"a": 0.3}) == {"a": 7, "b": 16}  # b is not named: keeps all 16
    assert plan({"a": 10}, {"a": 0.3}, 0.5) == {"a": 8}  # 1.5 removed, rounded half up to 2


def test_by_name_mode_needs_names_and_the_cap_is_for_global_only() -> None:
    with pytest.raises(UserInputError, match="by-name ratio mapping is empty"):
        RatioConfig(mode="by_name")
    with pytest.raises(UserInputError, match="per-block ratio list is empty"):
        RatioConfig(mode="per_block")
    assert RatioConfig.uniform(0.95).ratio == 0.95  # above the global cap 0.9: fine for uniform
    assert RatioConfig(mode="by_name", by_name_ratios=(("a", 0.1),), ratio=0.95).ratio == 0.95
    assert RatioConfig.global_(0.9).ratio == 0.9  # at the cap is allowed
    with pytest.raises(UserInputError, match=r"above the per-layer cap 0\.9"):
        RatioConfig.global_(0.91)


def test_from_data_numbers_and_mappings() -> None:
    assert RatioConfig.from_data(0.3) == RatioConfig.uniform(0.3)
    assert RatioConfig.from_data(0.3, global_mode=True) == RatioConfig.global_(0.3)
    as_dict = {"mode": "by_name", "by_name_ratios": {"layer1": 0.2, "layer2": 0.4}}
    as_pairs = {"mode": "by_name", "by_name_ratios": [["layer1", 0.2], ["layer2", 0.4]]}
    want = RatioConfig.by_name({"layer1": 0.2, "layer2": 0.4})
    assert RatioConfig.from_data(as_dict) == want and RatioConfig.from_data(as_pairs) == want


def test_per_block_needs_exactly_one_ratio_per_block() -> None:
    with pytest.raises(UserInputError, match="has 4 values but the model has 3 prunable blocks"):
        RatioConfig.per_block([0.1, 0.2, 0.3, 0.4]).resolve(blocks(3))
    with pytest.raises(UserInputError, match=r"\(layer1.0, layer1.1, layer1.2, layer1.3, layer1.4, layer1.5\); give 6"):
        RatioConfig.per_block([0.1]).resolve(blocks(6))
    with pytest.raises(UserInputError, match=r"layer1.4, layer1.5, \.\.\.\); give 7 values"):
        RatioConfig.per_block([0.1]).resolve(blocks(7))


def test_one_letter_names_and_ties_between_equally_specific_names() -> None:
    a = PrunableLayer("a", "a", 8, ("a",))
    assert RatioConfig.by_name({"a": 0.5}).resolve([a]) == {"a": 0.5}
    # a coupled layer whose members sit in two blocks: both names are as specific; the first given wins
    shared = PrunableLayer("layer1.0.conv2", "layer1.0", 16, ("layer1.0.conv2", "layer1.1.conv2"))
    assert RatioConfig.by_name({"layer1.0": 0.1, "layer1.1": 0.3}).resolve([shared]) == {"layer1.0.conv2": 0.1}
    assert RatioConfig.by_name({"layer1.1": 0.3, "layer1.0": 0.1}).resolve([shared]) == {"layer1.0.conv2": 0.3}
    # a specific name given before a general one still wins
    got = RatioConfig.by_name({"layer1.1.conv1": 0.4, "layer1": 0.2}).resolve(blocks(2))
    assert got == {"layer1.0.conv1": 0.2, "layer1.1.conv1": 0.4}


def test_unknown_names_list_what_is_known() -> None:
    with pytest.raises(NotFoundError, match=r"known: layer1, layer1\.0, layer1\.0\.conv1, layer1\.1"):
        RatioConfig.by_name({"stage9": 0.2}).resolve(blocks(2))
    # 8 names are listed in full, more get "... (N in all)"
    with pytest.raises(NotFoundError, match=r", \.\.\. \(11 in all\)"):
        RatioConfig.by_name({"zzz": 0.2}).resolve(blocks(5))
    eight = [*blocks(3), PrunableLayer("layer1.3.conv1", "layer1.3", 8)]
    with pytest.raises(UserInputError, match=r"prunable layers: layer1\.0\.conv1, layer1\.1\.conv1, layer1\.2\.conv1, "
                                             r"layer1\.3\.conv1$"):
        RatioConfig.by_name({"fc": 0.2}).resolve(eight, ["fc"])
    nine = [PrunableLayer(f"c{i}", f"c{i}", 8) for i in range(9)]
    with pytest.raises(UserInputError, match=r"c7, \.\.\. \(9 in all\)$"):
        RatioConfig.by_name({"fc": 0.2}).resolve(nine, ["fc"])
    with pytest.raises(UserInputError, match=r"c6, c7$"):
        RatioConfig.by_name({"fc": 0.2}).resolve(nine[:8], ["fc"])


def test_a_number_in_a_file_is_uniform_unless_global(tmp_path: Path) -> None:
    f = tmp_path / "r.json"
    f.write_text("0.25", encoding="utf-8")
    assert RatioConfig.from_file(f) == RatioConfig.uniform(0.25)
    assert RatioConfig.from_file(f, global_mode=True) == RatioConfig.global_(0.25)


def test_from_data_refuses_a_string() -> None:
    with pytest.raises(UserInputError, match="holds a str; expected a number, a list or a mapping"):
        RatioConfig.from_data("0.3")


def test_few_blocks_are_listed_without_an_ellipsis() -> None:
    with pytest.raises(UserInputError, match=r"prunable blocks \(layer1\.0, layer1\.1\); give 2 values"):
        RatioConfig.per_block([0.1]).resolve(blocks(2))


def test_align_never_returns_more_than_the_original() -> None:
    assert align(19, 17, 8) == 17  # 19 rounds to 16 blocks-wise, but the layer has 17: nothing is pruned
    assert align(20, 16, 8) == 16
