"""INT8 recipes: the cases mutation testing found unpinned (bounds, ORT's symmetric weights, reasons, explicit
presets); test_recipes.py holds the main behaviour."""

from __future__ import annotations

import dataclasses

import pytest
from edgebench.calibration.recipes import TARGETS, QuantRecipe, get_preset, resolve_preset, select_preset
from edgebench.errors import UserInputError


@pytest.mark.parametrize("ok", [0.5, 99.999, 100.0])
def test_percentile_accepts_the_whole_open_closed_range(ok: float) -> None:
    assert QuantRecipe(method="percentile", percentile=ok).percentile == ok


@pytest.mark.parametrize("bad", [0.0, -1.0, 100.001])
def test_percentile_outside_the_range_is_refused(bad: float) -> None:
    with pytest.raises(UserInputError, match=r"must be in \(0, 100\]"):
        QuantRecipe(percentile=bad)


def test_excluded_names_must_be_non_empty_strings() -> None:
    for bad in (("fc", ""), ("",), (1,)):
        with pytest.raises(UserInputError, match="tuple of non-empty names"):
            QuantRecipe(nodes_to_exclude=bad)  # type: ignore[arg-type]


def test_weights_are_always_symmetric_for_ort() -> None:
    kw = get_preset("x86-vnni").to_ort_kwargs()
    assert kw["extra_options"]["WeightSymmetric"] is True
    assert kw["extra_options"]["ActivationSymmetric"] is False
    assert QuantRecipe(activation_symmetric=True).to_ort_kwargs()["extra_options"]["ActivationSymmetric"] is True
    assert "CalibPercentile" not in QuantRecipe(method="entropy").to_ort_kwargs()["extra_options"]


def test_the_reason_names_what_the_cpu_lacks() -> None:
    _, with_avx2 = select_preset("x86_64", {"avx2": True})
    _, without = select_preset("x86_64", {"sse4_2": True})
    assert "no VNNI (avx2)" in with_avx2 and "no VNNI (no avx2)" in without


def test_an_explicit_preset_is_used_as_given() -> None:
    choice = resolve_preset("x86-vnni")
    assert choice.preset == "x86-vnni" and choice.recipe == get_preset("x86-vnni")
    assert choice.reason == get_preset("x86-vnni").why and choice.chosen_for == "explicit --preset"
    assert choice.to_dict() == {"preset": "x86-vnni", "reason": choice.reason, "chosen_for": "explicit --preset"}


def test_targets_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TARGETS.get("pi5").arch = "x86_64"  # type: ignore[misc]


def test_recipes_and_choices_are_frozen() -> None:
    choice = resolve_preset("arm64-neon")  # a name sorting before "auto" is still an explicit preset
    assert choice.preset == "arm64-neon" and choice.chosen_for == "explicit --preset"
    for obj in (QuantRecipe(), choice):
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.preset = "x"  # type: ignore[union-attr]


def test_defaults_and_equality_ignore_the_why() -> None:
    r = QuantRecipe()
    assert (r.percentile, r.activation_symmetric, r.method, r.quant_format) == (99.999, False, "minmax", "qdq")
    assert QuantRecipe(why="one") == QuantRecipe(why="two")
    assert "CalibPercentile" not in r.to_ort_kwargs()["extra_options"]


def test_an_override_to_a_larger_value_is_a_change() -> None:
    r = QuantRecipe(name="x86-vnni").with_overrides(percentile=100.0)
    assert r.percentile == 100.0 and r.name == "x86-vnni+"
    assert QuantRecipe(name="x86-vnni").with_overrides(percentile=99.999).name == "x86-vnni"


def test_the_reason_names_the_first_vnni_flag() -> None:
    _, why = select_preset("x86_64", {"avx512_vnni": True, "amx_int8": True})
    assert "has avx512_vnni:" in why


def test_the_host_reason_names_the_cpu_model() -> None:
    isa = {"avx2": True, "avx512_vnni": True}
    assert resolve_preset("auto", cpu={"arch": "x86_64", "model": "AMD EPYC 9654", "isa": isa}).reason.startswith(
        "host AMD EPYC 9654: x86_64 has avx512_vnni")
    assert resolve_preset("auto", cpu={"arch": "x86_64", "isa": isa}).reason.startswith("host: x86_64 has")
