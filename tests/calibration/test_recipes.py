"""Recipes: validation, each preset's ORT arguments, and preset choice from (fake) CPU fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.calibration.recipes import (
    PRESETS,
    TARGETS,
    QuantRecipe,
    get_preset,
    preset_names,
    resolve_preset,
    select_preset,
)
from edgebench.cpu import cpu_info
from edgebench.errors import NotFoundError, UserInputError
from edgebench.manifest import Manifest


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


# ---- host_arithmetic: does this CPU's integer arithmetic reproduce the QDQ graph? ---------------------

ZEN3 = x86_cpuinfo("avx avx2 fma", "AMD Ryzen 7 5800X 8-Core Processor")
ZEN4 = x86_cpuinfo("avx avx2 fma avx512f avx512_vnni", "AMD EPYC 9654")
PI4 = arm_cpuinfo("0xd08", "fp asimd evtstrm crc32 cpuid")
PI5 = arm_cpuinfo("0xd0b", "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimddp")


@pytest.mark.parametrize(("text", "machine", "preset", "exact", "why"), [
    (ZEN3, "x86_64", "arm64-neon", False, "VPMADDUBSW"),  # U8S8, 8-bit weights: int16 pair sums saturate
    (ZEN3, "x86_64", "arm64-dotprod", False, "VPMADDUBSW"),  # S8 activations are shifted to U8 on x86
    (ZEN3, "x86_64", "x86-vnni", False, "no reduce_range"),
    (ZEN3, "x86_64", "qdq-s8s8-tensor", False, "VPMADDUBSW"),
    (ZEN3, "x86_64", "x86-avx2", True, "reduce_range"),  # 7-bit weights fit int16
    (ZEN3, "x86_64", "u8s8-reduce-range", True, "reduce_range"),
    (ZEN4, "x86_64", "arm64-neon", True, "avx512_vnni"),
    (ZEN4, "x86_64", "arm64-dotprod", True, "avx512_vnni"),
    (ZEN4, "x86_64", "x86-vnni", True, "int32"),
    (PI4, "aarch64", "arm64-neon", True, "NEON widens"),
    (PI4, "aarch64", "x86-vnni", True, "NEON"),
    (PI5, "aarch64", "arm64-dotprod", True, "asimddp"),
    (PI5, "aarch64", "arm64-neon", True, "asimddp"),
])
def test_host_arithmetic_from_fake_fingerprints(tmp_path: Path, text: str, machine: str, preset: str,
                                                exact: bool, why: str) -> None:
    from edgebench.calibration.recipes import host_arithmetic

    cpu = fake_cpu(tmp_path, text, machine)
    choice = host_arithmetic(get_preset(preset), cpu)
    assert choice.exact is exact and why in choice.reason, choice.reason
    assert host_arithmetic(get_preset(preset).to_dict(), cpu) == choice  # a manifest's recipe dict is the same


def test_host_arithmetic_on_the_board_trees() -> None:
    from edgebench.calibration.recipes import host_arithmetic

    boards = Path(__file__).resolve().parent.parent / "data" / "boards"
    for board in ("pi4", "pi5"):
        cpu = cpu_info(boards / board, "aarch64")
        assert all(host_arithmetic(get_preset(p), cpu).exact for p in PRESETS.names())


def test_host_arithmetic_edge_cases() -> None:
    from edgebench.calibration.recipes import host_arithmetic, model_arithmetic

    neon = get_preset("arm64-neon")
    unknown_flags = {"arch": "x86_64", "isa": {"avx2": None, "avx512_vnni": None}}
    assert not host_arithmetic(neon, unknown_flags).exact and "unknown" in host_arithmetic(neon, unknown_flags).reason
    assert host_arithmetic(QuantRecipe(weight_type="uint8"), {"arch": "x86_64", "isa": {"avx2": True}}).exact
    assert not host_arithmetic(neon, {"arch": "riscv64", "isa": {}}).exact
    zen3 = {"arch": "x86_64", "isa": {"avx2": True}}
    assert model_arithmetic(None, zen3) is None
    assert model_arithmetic(Manifest(precision="fp32"), zen3) is None
    static = Manifest(precision="int8", quantization_mode="static", recipe=neon.to_dict())
    assert model_arithmetic(static, zen3) == host_arithmetic(neon, zen3)
    assert not model_arithmetic(static, zen3).exact  # type: ignore[union-attr]
    dynamic = static.replace(quantization_mode="dynamic")  # ConvInteger: u8 weights whatever the recipe says
    assert model_arithmetic(dynamic, zen3).exact  # type: ignore[union-attr]
