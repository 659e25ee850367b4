"""Ratio configs (torch-free): parsing, validation, rounding, resolution against prunable layers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.errors import NotFoundError, UserInputError
from edgebench.exporter.prune.config import PrunableLayer, RatioConfig, block_names, kept_channels, plan, removed_count

LAYERS = [
    PrunableLayer("layer1.0.conv1", "layer1.0", 16, ("layer1.0.conv1",)),
    PrunableLayer("layer1.1.conv1", "layer1.1", 16, ("layer1.1.conv1",)),
    PrunableLayer("layer2.0.conv1", "layer2.0", 32, ("layer2.0.conv1",)),
]
MODULES = ["", "conv1", "layer1", "layer1.0", "layer1.0.conv1", "layer1.0.conv2", "layer1.1", "layer1.1.conv1",
           "layer2", "layer2.0", "layer2.0.conv1", "layer2.0.conv2"]


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan")])
def test_ratio_outside_range_is_refused(bad: float) -> None:
    with pytest.raises(UserInputError, match=r"outside \[0, 1\)|not a number"):
        RatioConfig.uniform(bad)
    with pytest.raises(UserInputError, match="block 1"):
        RatioConfig.per_block([0.1, bad])
    with pytest.raises(UserInputError, match="'layer1'"):
        RatioConfig.by_name({"layer1": bad})


def test_non_numbers_and_empty_are_refused() -> None:
    with pytest.raises(UserInputError, match="not a number"):
        RatioConfig.per_block([0.1, "x"])  # type: ignore[list-item]
    with pytest.raises(UserInputError, match="empty"):
        RatioConfig.per_block([])
    with pytest.raises(UserInputError, match="not one of"):
        RatioConfig(mode="everything")  # type: ignore[arg-type]


def test_configs_are_frozen() -> None:
    cfg = RatioConfig.uniform(0.2)
    with pytest.raises(AttributeError):
        cfg.ratio = 0.5  # type: ignore[misc]


@pytest.mark.parametrize("spec,mode", [("0.3", "uniform"), ("0.1,0.2,0.3", "per_block"),
                                       ("layer1=0.2,layer2.0.conv1=0.5", "by_name"), ("global:0.4", "global")])
def test_parse_forms(spec: str, mode: str) -> None:
    assert RatioConfig.parse(spec).mode == mode


def test_parse_global_flag_and_default() -> None:
    assert RatioConfig.parse("0.3", global_mode=True) == RatioConfig.global_(0.3)
    cfg = RatioConfig.parse("layer1=0.2,*=0.1")
    assert cfg.default == 0.1 and cfg.by_name_ratios == (("layer1", 0.2),)


@pytest.mark.parametrize("spec,msg", [("", "empty"), ("abc", "not a number"), ("0.1,x", "not a number"),
                                      ("layer1=0.2,layer1=0.3", "twice"), ("=0.2", "NAME=RATIO"),
                                      ("1.2", r"outside \[0, 1\)"), ("global:0.95", "above the per-layer cap")])
def test_parse_errors(spec: str, msg: str) -> None:
    with pytest.raises(UserInputError, match=msg):
        RatioConfig.parse(spec)


def test_json_files(tmp_path: Path) -> None:
    for data, mode in [([0.1, 0.2, 0.3], "per_block"), ({"layer1": 0.3}, "by_name"), (0.25, "uniform"),
                       ({"ratios": {"layer1.0.conv1": 0.5}, "criterion": "target_macs"}, "by_name"),
                       (RatioConfig.global_(0.5).to_dict(), "global")]:
        p = tmp_path / "r.json"
        p.write_text(json.dumps(data))
        assert RatioConfig.parse(str(p)).mode == mode
    assert RatioConfig.from_data(RatioConfig.per_block([0.1, 0.2]).to_dict()) == RatioConfig.per_block([0.1, 0.2])
    with pytest.raises(UserInputError, match="does not exist"):
        RatioConfig.parse(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UserInputError, match="not valid JSON"):
        RatioConfig.parse(str(tmp_path / "bad.json"))


def test_rounding_is_half_up_and_documented() -> None:
    assert [removed_count(16, r) for r in (0.1, 0.125, 0.2, 0.5, 0.9)] == [2, 2, 3, 8, 14]
    assert removed_count(10, 0.25) == 3  # 2.5 rounds up
    assert kept_channels("x", 16, 0.5) == 8
    with pytest.raises(UserInputError, match="would remove every filter of 'x'"):
        kept_channels("x", 1, 0.6)
    with pytest.raises(UserInputError, match="every filter"):
        kept_channels("x", 4, 0.9)


def test_plan_fraction_for_rounds() -> None:
    orig = {"a": 16, "b": 32}
    assert plan(orig, {"a": 0.5, "b": 0.25}, 0.5) == {"a": 12, "b": 28}
    assert plan(orig, {"a": 0.5, "b": 0.25}, 1.0) == {"a": 8, "b": 24}


def test_resolve_uniform_per_block_by_name() -> None:
    assert RatioConfig.uniform(0.2).resolve(LAYERS) == dict.fromkeys([la.name for la in LAYERS], 0.2)
    assert block_names(LAYERS) == ["layer1.0", "layer1.1", "layer2.0"]
    assert RatioConfig.per_block([0.1, 0.2, 0.3]).resolve(LAYERS)["layer2.0.conv1"] == 0.3
    got = RatioConfig.by_name({"layer1": 0.2, "layer1.1.conv1": 0.4}, default=0.05).resolve(LAYERS, MODULES)
    assert got == {"layer1.0.conv1": 0.2, "layer1.1.conv1": 0.4, "layer2.0.conv1": 0.05}  # most specific wins


def test_resolve_errors_name_the_fix() -> None:
    with pytest.raises(UserInputError, match="has 2 values but the model has 3 prunable blocks"):
        RatioConfig.per_block([0.1, 0.2]).resolve(LAYERS)
    with pytest.raises(NotFoundError, match=r"Did you mean 'layer1.0.conv1'"):
        RatioConfig.by_name({"layer1.0.conv": 0.2}).resolve(LAYERS, MODULES)
    with pytest.raises(UserInputError, match=r"'layer1.0.conv2' exists but is not prunable"):
        RatioConfig.by_name({"layer1.0.conv2": 0.2}).resolve(LAYERS, MODULES)
    with pytest.raises(UserInputError, match="ranking"):
        RatioConfig.global_(0.5).resolve(LAYERS)


def test_round_to_aligns_kept_channels() -> None:
    from edgebench.exporter.prune.config import align

    assert [align(k, 16, 8) for k in (1, 3, 4, 5, 11, 12, 16)] == [8, 8, 8, 8, 8, 16, 16]
    assert align(5, 64, 1) == 5 and align(30, 30, 8) == 30
    assert plan({"a": 16, "b": 64}, {"a": 0.7, "b": 0.3}, 1.0, round_to=8) == {"a": 8, "b": 48}
    with pytest.raises(UserInputError, match="--round-to 0"):
        align(3, 16, 0)
