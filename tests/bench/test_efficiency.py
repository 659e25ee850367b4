"""The documented peak-GMAC/s formula, decided from the fingerprint's flags (never assumed)."""

from __future__ import annotations

from typing import Any

import pytest
from edgebench.bench.efficiency import efficiency, macs_per_cycle, peak_gmacs


def cpu(arch: str, isa: dict[str, bool], **kw: Any) -> dict[str, Any]:
    return {"arch": arch, "isa": isa, "physical_cores": 4, "logical_cores": 8, "max_freq_mhz": 2000.0, **kw}


@pytest.mark.parametrize(("c", "precision", "want"), [
    (cpu("x86_64", {"avx2": True, "fma": True, "avx512f": True, "avx512_vnni": True}, vendor="GenuineIntel"),
     "int8", 128.0),
    (cpu("x86_64", {"avx2": True, "fma": True, "avx512f": True, "avx512_vnni": True}, vendor="AuthenticAMD"),
     "int8", 64.0),
    (cpu("x86_64", {"avx2": True, "fma": True, "avx512f": True}, vendor="GenuineIntel"), "fp32", 32.0),
    (cpu("x86_64", {"avx2": True, "fma": True, "avx512f": True}, vendor="AuthenticAMD"), "fp32", 16.0),
    (cpu("x86_64", {"avx2": True, "fma": True, "avx_vnni": True}, vendor="GenuineIntel"), "int8", 64.0),
    (cpu("x86_64", {"avx2": True, "fma": True, "avx512_vnni": False}), "int8", 64.0 / 3.0),
    (cpu("x86_64", {"avx2": True, "fma": True}), "fp32", 16.0),
    (cpu("x86_64", {"sse4_2": True}), "fp32", 4.0),
    (cpu("aarch64", {"asimd": True, "asimddp": False}, arm_core="Cortex-A72"), "fp32", 8.0),
    (cpu("aarch64", {"asimd": True, "asimddp": False}, arm_core="Cortex-A72"), "int8", 16.0),
    (cpu("aarch64", {"asimd": True, "asimddp": True}, arm_core="Cortex-A76"), "int8", 32.0),
    (cpu("aarch64", {"asimd": True, "asimddp": True, "i8mm": True}, arm_core="Neoverse-N2"), "int8", 64.0),
    (cpu("aarch64", {"asimd": True, "asimddp": True}, arm_core="Cortex-A55"), "int8", 16.0),
    (cpu("aarch64", {"asimd": True}, arm_core="Cortex-A53"), "fp32", 4.0),
])
def test_macs_per_cycle_from_flags(c: dict[str, Any], precision: str, want: float) -> None:
    got = macs_per_cycle(c, precision)
    assert got is not None and got[0] == pytest.approx(want)


def test_peak_uses_threads_capped_by_physical_cores() -> None:
    c = cpu("x86_64", {"avx2": True, "fma": True})
    assert peak_gmacs(c, "fp32", 2)["peak_gmacs"] == pytest.approx(2 * 2.0 * 16)  # type: ignore[index]
    assert peak_gmacs(c, "fp32", 16)["cores"] == 4  # type: ignore[index]


def test_unknown_inputs_give_none() -> None:
    assert peak_gmacs(cpu("x86_64", {"avx2": True}, max_freq_mhz=None), "fp32", 1) is None
    assert peak_gmacs(cpu("x86_64", {}), "fp32", 1) is None
    assert peak_gmacs(cpu("riscv64", {"v": True}), "fp32", 1) is None
    e = efficiency(None, 1, 1.0, cpu("x86_64", {"avx2": True, "fma": True}), "fp32", 1)
    assert e["achieved_gmacs"] is None and e["fraction_of_peak"] is None and e["peak_gmacs"] == pytest.approx(32.0)


def test_efficiency_counts_the_batch() -> None:
    c = cpu("x86_64", {"avx2": True, "fma": True}, vendor="GenuineIntel")
    e = efficiency(40e6, 8, 4.0, c, "fp32", 1)
    assert e["achieved_gmacs"] == pytest.approx(40e6 * 8 / 0.004 / 1e9)
    assert e["fraction_of_peak"] == pytest.approx(e["achieved_gmacs"] / 32.0)


def test_frequency_source_is_recorded() -> None:
    c = cpu("x86_64", {"avx2": True, "fma": True})
    assert peak_gmacs(c, "fp32", 1)["freq_source"] == "cpufreq maximum"  # type: ignore[index]
    vm = cpu("x86_64", {"avx2": True, "fma": True}, max_freq_mhz=None, cur_freq_mhz=2600.0, governor=None)
    p = peak_gmacs(vm, "fp32", 1)
    assert p is not None and p["freq_ghz"] == pytest.approx(2.6) and "nominal" in p["freq_source"]


# ---- the figures against hand computations, one rule at a time -------------------------------------


def test_peak_record_names_its_inputs() -> None:
    c = cpu("aarch64", {"asimd": True, "asimddp": True}, arm_core="Cortex-A76", physical_cores=4)
    p = peak_gmacs(c, "int8", 4)
    assert p == {"peak_gmacs": pytest.approx(4 * 2.0 * 32), "cores": 4, "freq_ghz": pytest.approx(2.0),
                 "freq_source": "cpufreq maximum", "macs_per_cycle": 32.0, "rule": "asimddp: 2 x 16",
                 "precision": "int8"}
    assert peak_gmacs(c, "fp32", 1)["precision"] == "fp32"  # type: ignore[index]


def test_precisions_other_than_int8_use_the_fp32_rate() -> None:
    c = cpu("x86_64", {"avx2": True, "fma": True, "avx512f": True, "avx512_vnni": True}, vendor="GenuineIntel")
    for precision in ("fp32", "mixed", "fp16"):
        p = peak_gmacs(c, precision, 1)
        assert p is not None and p["macs_per_cycle"] == 32.0 and p["precision"] == "fp32", precision


def test_int8_efficiency_uses_the_int8_peak() -> None:
    c = cpu("x86_64", {"avx2": True, "fma": True, "avx512f": True, "avx512_vnni": True}, vendor="GenuineIntel")
    e = efficiency(1e9, 1, 10.0, c, "int8", 1)
    assert e["achieved_gmacs"] == pytest.approx(100.0) and e["peak_gmacs"] == pytest.approx(2.0 * 128)
    assert efficiency(1e9, 1, 10.0, c, None, 1)["peak_gmacs"] == pytest.approx(2.0 * 32)  # unknown: FP32


def test_clock_falls_back_when_the_maximum_is_missing_or_not_positive() -> None:
    for bad in (None, 0, 0.0, -1.0, True):
        c = cpu("x86_64", {"avx2": True, "fma": True}, max_freq_mhz=bad, cur_freq_mhz=3000.0, governor="performance")
        p = peak_gmacs(c, "fp32", 1)
        assert p is not None and p["freq_ghz"] == pytest.approx(3.0) and p["freq_source"] == "cpufreq current", bad
    slow = peak_gmacs(cpu("x86_64", {"avx2": True, "fma": True}, max_freq_mhz=0.5), "fp32", 1)
    assert slow is not None and slow["freq_ghz"] == pytest.approx(0.0005)  # any positive clock counts


def test_x86_rules_need_every_flag() -> None:
    assert macs_per_cycle(cpu("x86_64", {"avx2": True, "fma": False}), "fp32") == (4.0, "sse: 4")  # no FMA
    assert macs_per_cycle(cpu("x86_64", {"sse4_2": True}), "int8") == (8.0, "sse: 8")
    flags_unknown = {"avx2": None, "avx512_vnni": None}
    assert macs_per_cycle(cpu("x86_64", flags_unknown), "int8") is None  # never assumed


def test_amd_is_read_from_the_model_name_too() -> None:
    c = cpu("x86_64", {"avx2": True, "fma": True, "avx512f": True, "avx512_vnni": True}, vendor=None,
            model="AMD EPYC 9654 96-Core Processor")
    assert macs_per_cycle(c, "int8") == (64.0, "avx512_vnni on AMD: 2 x 8 x 4")


def test_zero_threads_still_count_one_core() -> None:
    c = cpu("x86_64", {"avx2": True, "fma": True})
    assert peak_gmacs(c, "fp32", 0)["cores"] == 1  # type: ignore[index]


def test_achieved_needs_a_positive_latency() -> None:
    c = cpu("x86_64", {"avx2": True, "fma": True})
    assert efficiency(1e9, 1, 0.5, c, "fp32", 1)["achieved_gmacs"] == pytest.approx(2000.0)  # sub-ms latency
    for bad in (0.0, -1.0):
        e = efficiency(1e9, 1, bad, c, "fp32", 1)
        assert e["achieved_gmacs"] is None and e["fraction_of_peak"] is None, bad
