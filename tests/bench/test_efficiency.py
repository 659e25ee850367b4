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
