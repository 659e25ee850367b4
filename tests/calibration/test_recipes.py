"""Recipes: validation, each preset's ORT arguments, and preset choice from (fake) CPU fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.bench.fingerprint import cpu_info
from edgebench.calibration.recipes import (
    PRESETS,
    TARGETS,
    QuantRecipe,
    get_preset,
    preset_names,
    resolve_preset,
    select_preset,
)
from edgebench.errors import NotFoundError, UserInputError


def x86_cpuinfo(flags: str, model: str) -> str:
    return "".join(f"processor\t: {i}\nvendor_id\t: AuthenticAMD\nmodel name\t: {model}\nphysical id\t: 0\n"
                   f"core id\t: {i}\nflags\t\t: fpu sse4_2 {flags}\n\n" for i in range(2))


def arm_cpuinfo(part: str, features: str) -> str:
    return "".join(f"processor\t: {i}\nFeatures\t: {features}\nCPU implementer\t: 0x41\nCPU part\t: {part}\n\n"
                   for i in range(4))


def fake_cpu(tmp_path: Path, text: str, machine: str) -> dict:
    (tmp_path / "proc").mkdir(parents=True)
    (tmp_path / "proc/cpuinfo").write_text(text)
    return cpu_info(tmp_path, machine)


@pytest.mark.parametrize(("text", "machine", "expected"), [
    (x86_cpuinfo("avx avx2 fma", "AMD Ryzen 7 5800X 8-Core Processor"), "x86_64", "x86-avx2"),  # Zen3
    (x86_cpuinfo("avx avx2 fma avx512f avx512_vnni", "AMD EPYC 9654"), "x86_64", "x86-vnni"),  # Zen4
    (x86_cpuinfo("avx avx2 fma avx_vnni", "12th Gen Intel Core i7-12700"), "x86_64", "x86-vnni"),  # Alder Lake
    (x86_cpuinfo("avx", "old Sandy Bridge"), "x86_64", "x86-avx2"),  # no AVX2 either: still 7-bit weights
    (arm_cpuinfo("0xd08", "fp asimd evtstrm crc32 cpuid"), "aarch64", "arm64-neon"),  # Pi 4, Cortex-A72
    (arm_cpuinfo("0xd0b", "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
                          "dcpop asimddp"), "aarch64", "arm64-dotprod"),  # Pi 5, Cortex-A76
])
def test_auto_follows_the_isa_flags_of_a_fake_fingerprint(tmp_path: Path, text: str, machine: str,
                                                          expected: str) -> None:
    cpu = fake_cpu(tmp_path, text, machine)
    choice = resolve_preset("auto", cpu=cpu)
    assert choice.preset == expected
    assert choice.recipe == get_preset(expected)
    assert choice.chosen_for == "host"


def test_auto_on_this_host_matches_its_flags() -> None:
    cpu = cpu_info()
    choice = resolve_preset("auto", cpu=cpu)
    isa = cpu["isa"]
    if cpu["arch"] == "x86_64":
        vnni = bool(isa.get("avx512_vnni") or isa.get("avx_vnni") or isa.get("amx_int8"))
        assert choice.preset == ("x86-vnni" if vnni else "x86-avx2")
    else:
        assert choice.preset == ("arm64-dotprod" if isa.get("asimddp") else "arm64-neon")


def test_select_preset_is_pure_and_explains() -> None:
    name, why = select_preset("x86_64", {"avx2": True, "avx512_vnni": False, "avx_vnni": None})
    assert name == "x86-avx2" and "VPMADDUBSW" in why
    name, why = select_preset("aarch64", {"asimd": True, "i8mm": True})
    assert name == "arm64-dotprod"
    with pytest.raises(UserInputError, match="riscv64"):
        select_preset("riscv64", {})


@pytest.mark.parametrize(("target", "expected"), [("pi5", "arm64-dotprod"), ("pi4", "arm64-neon"),
                                                  ("zen3", "x86-avx2"), ("zen4", "x86-vnni")])
def test_target_overrides_the_host(target: str, expected: str) -> None:
    choice = resolve_preset("auto", target)
    assert choice.preset == expected and target in choice.reason


def test_unknown_preset_and_target_suggest() -> None:
    with pytest.raises(NotFoundError, match="Did you mean 'x86-vnni'"):
        resolve_preset("x86-vnnii")
    with pytest.raises(NotFoundError, match="Did you mean 'pi5'"):
        resolve_preset("auto", "pi55")
    with pytest.raises(UserInputError, match="only applies to --preset auto"):
        resolve_preset("x86-avx2", "pi5")
    assert "auto" in preset_names()
    assert set(TARGETS.names()) >= {"pi4", "pi5", "zen3", "zen4"}


def test_presets_differ_where_the_cpus_do() -> None:
    assert get_preset("x86-avx2").reduce_range and not get_preset("x86-vnni").reduce_range
    assert get_preset("arm64-dotprod").activation_type == "int8"
    naive = get_preset("qdq-s8s8-tensor")
    assert (naive.activation_type, naive.weight_type, naive.per_channel) == ("int8", "int8", False)
    for name in PRESETS.names():
        assert get_preset(name).why, f"preset {name} says why"


def test_each_preset_translates_to_ort_arguments() -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    expected = {  # activation, weight, per_channel, reduce_range
        "x86-vnni": (QuantType.QUInt8, QuantType.QInt8, True, False),
        "x86-avx2": (QuantType.QUInt8, QuantType.QInt8, True, True),
        "arm64-dotprod": (QuantType.QInt8, QuantType.QInt8, True, False),
        "arm64-neon": (QuantType.QUInt8, QuantType.QInt8, True, False),
        "qdq-s8s8-tensor": (QuantType.QInt8, QuantType.QInt8, False, False),
        "u8s8-reduce-range": (QuantType.QUInt8, QuantType.QInt8, True, True),
    }
    assert set(expected) == set(PRESETS.names())
    for name, (act, weight, pc, rr) in expected.items():
        kw = get_preset(name).to_ort_kwargs()
        assert kw["quant_format"] == QuantFormat.QDQ
        assert (kw["activation_type"], kw["weight_type"], kw["per_channel"], kw["reduce_range"]) == (act, weight, pc,
                                                                                                      rr), name
        assert kw["calibrate_method"] == CalibrationMethod.MinMax
        assert kw["op_types_to_quantize"] is None and kw["nodes_to_exclude"] == []


def test_recipe_options_reach_ort() -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat

    r = QuantRecipe(quant_format="qoperator", method="percentile", percentile=99.9, nodes_to_exclude=("fc",),
                    op_types_to_exclude=("Gemm", "Add"))
    kw = r.to_ort_kwargs()
    assert kw["quant_format"] == QuantFormat.QOperator
    assert kw["calibrate_method"] == CalibrationMethod.Percentile
    assert kw["extra_options"]["CalibPercentile"] == 99.9
    assert kw["nodes_to_exclude"] == ["fc"]
    assert "Conv" in kw["op_types_to_quantize"] and "Gemm" not in kw["op_types_to_quantize"]
    assert "Add" not in kw["op_types_to_quantize"]
    assert "OpTypesToExcludeOutputQuantization" not in kw["extra_options"]
    assert r.to_ort_kwargs(("Gemm", "Softmax"))["extra_options"]["OpTypesToExcludeOutputQuantization"] == ["Gemm"]
    no_float = QuantRecipe(float_logits=False).to_ort_kwargs(("Gemm",))
    assert "OpTypesToExcludeOutputQuantization" not in no_float["extra_options"]
    dyn = r.to_ort_dynamic_kwargs()
    assert dyn["nodes_to_exclude"] == ["fc"] and "Conv" in dyn["op_types_to_quantize"]


@pytest.mark.parametrize("bad", [{"method": "kl"}, {"activation_type": "int4"}, {"quant_format": "qlinear"},
                                 {"percentile": 0.0}, {"nodes_to_exclude": ["fc"]}])
def test_recipe_validation(bad: dict) -> None:
    with pytest.raises(UserInputError):
        QuantRecipe(**bad)


def test_recipe_round_trips_and_overrides() -> None:
    r = get_preset("x86-avx2")
    assert QuantRecipe.from_dict(r.to_dict()) == r
    with pytest.raises(UserInputError, match="unknown recipe field"):
        QuantRecipe.from_dict({"bits": 4})
    o = r.with_overrides(method="entropy", nodes_to_exclude=None)
    assert o.method == "entropy" and o.name == "x86-avx2+" and o.reduce_range
    assert r.with_overrides(method="minmax") is r
