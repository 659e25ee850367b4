"""Achieved GMAC/s and its fraction of the host's peak, from the machine fingerprint alone.

The peak is a documented *upper bound*, not a measured roofline::

    peak_gmacs = cores_used x freq_ghz x macs_per_cycle_per_core(precision, ISA)
    cores_used = min(threads, physical cores (else logical cores))
    freq_ghz   = cpu.max_freq_mhz, else cpu.cur_freq_mhz (cpufreq or /proc/cpuinfo) / 1000

Without cpufreq (VMs, containers) the clock is /proc/cpuinfo's nominal MHz, which turbo exceeds: a
fraction above 1 then means the real clock is higher, and fractions are only comparable to each other.

MACs per cycle per core (multiply-accumulates, one FMA = one MAC):

x86 (two vector FMA / integer-multiply pipes assumed, as on Haswell+ and Zen2+)
    FP32  avx512f on Intel: 2 x 16 lanes = 32;  avx512f on AMD (Zen4 runs 512-bit ops on a
          256-bit datapath): 2 x 8 = 16;  avx2 + fma: 2 x 8 = 16;  SSE only: 4 (no FMA)
    INT8  avx512_vnni (VPDPBUSD, 4 MACs per 32-bit lane): Intel 2 x 16 x 4 = 128, AMD 2 x 8 x 4 = 64;
          avx_vnni (256-bit VPDPBUSD): 2 x 8 x 4 = 64;  avx2 without VNNI (VPMADDUBSW + VPMADDWD +
          VPADDD, three instructions per 32 u8*s8 products): 2 x 32 / 3 ~ 21;  SSE only: 8
ARM (128-bit NEON; "big" cores such as Cortex-A72/A76/Neoverse have two SIMD pipes, "little"
cores such as Cortex-A53/A55/A35 one)
    FP32  pipes x 4 lanes (FMLA)
    INT8  i8mm (SMMLA, 32 MACs per instruction): pipes x 32;  asimddp (SDOT, 16 MACs): pipes x 16;
          plain NEON (SMLAL on 8 int16 lanes): pipes x 8

Efficiency = achieved / peak, where achieved = model MACs x batch / (p50 latency). Small CIFAR models
are memory- and overhead-bound, so single-digit percentages are normal; the figure is for ranking
runtimes and variants on one machine, not an absolute verdict.
"""

from __future__ import annotations

from typing import Any

LITTLE_ARM_CORES = frozenset({"Cortex-A53", "Cortex-A55", "Cortex-A35", "Cortex-A510"})


def _freq_ghz(cpu: dict[str, Any]) -> tuple[float, str] | None:
    """The clock of the formula and where it came from."""
    for key in ("max_freq_mhz", "cur_freq_mhz"):
        v = cpu.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
            if key == "max_freq_mhz":
                source = "cpufreq maximum"
            elif cpu.get("governor"):
                source = "cpufreq current"
            else:
                source = "/proc/cpuinfo MHz (nominal on VMs; turbo may exceed it)"
            return float(v) / 1000.0, source
    return None


def macs_per_cycle(cpu: dict[str, Any], precision: str) -> tuple[float, str] | None:
    """Peak MACs per cycle per core for `precision` ('fp32' or 'int8') and the rule that gave it."""
    isa = {k: bool(v) for k, v in (cpu.get("isa") or {}).items()}
    if not isa or all(v is None for v in (cpu.get("isa") or {}).values()):
        return None
    arch = str(cpu.get("arch") or "")
    int8 = precision == "int8"
    if arch in ("x86_64", "AMD64", "i686", "x86"):
        amd = "AMD" in str(cpu.get("vendor") or "") or "AMD" in str(cpu.get("model") or "")
        if int8:
            if isa.get("avx512_vnni"):
                return (64.0, "avx512_vnni on AMD: 2 x 8 x 4") if amd else (128.0, "avx512_vnni: 2 x 16 x 4")
            if isa.get("avx_vnni"):
                return 64.0, "avx_vnni: 2 x 8 x 4"
            if isa.get("avx2"):
                return 64.0 / 3.0, "avx2 (no VNNI): 2 x 32 / 3"
            return 8.0, "sse: 8"
        if isa.get("avx512f"):
            return (16.0, "avx512f on AMD: 2 x 8") if amd else (32.0, "avx512f: 2 x 16")
        if isa.get("avx2") and isa.get("fma"):
            return 16.0, "avx2+fma: 2 x 8"
        return 4.0, "sse: 4"
    if arch in ("aarch64", "arm64") or arch.startswith("arm"):
        pipes = 1 if cpu.get("arm_core") in LITTLE_ARM_CORES else 2
        if int8:
            if isa.get("i8mm"):
                return pipes * 32.0, f"i8mm: {pipes} x 32"
            if isa.get("asimddp"):
                return pipes * 16.0, f"asimddp: {pipes} x 16"
            return pipes * 8.0, f"neon: {pipes} x 8"
        return pipes * 4.0, f"neon fma: {pipes} x 4"
    return None


def peak_gmacs(cpu: dict[str, Any], precision: str, threads: int) -> dict[str, Any] | None:
    """The peak GMAC/s of `threads` cores of `cpu`, with the inputs of the formula; None when unknown."""
    per = macs_per_cycle(cpu, precision)
    freq = _freq_ghz(cpu)
    cores_avail = cpu.get("physical_cores") or cpu.get("logical_cores")
    if per is None or freq is None or not cores_avail:
        return None
    cores = max(1, min(int(threads), int(cores_avail)))
    return {
        "peak_gmacs": cores * freq[0] * per[0],
        "cores": cores,
        "freq_ghz": freq[0],
        "freq_source": freq[1],
        "macs_per_cycle": per[0],
        "rule": per[1],
        "precision": "int8" if precision == "int8" else "fp32",
    }


def efficiency(macs: float | None, batch: int, p50_ms: float, cpu: dict[str, Any], precision: str | None,
               threads: int) -> dict[str, Any]:
    """Achieved GMAC/s and fraction of peak; fields are None when MACs or the peak are unknown.

    >>> cpu = {"arch": "x86_64", "vendor": "GenuineIntel", "isa": {"avx2": True, "fma": True},
    ...        "physical_cores": 4, "max_freq_mhz": 2000.0}
    >>> e = efficiency(1e9, 1, 1000.0, cpu, "fp32", 1)
    >>> e["achieved_gmacs"], e["peak_gmacs"], e["fraction_of_peak"]
    (1.0, 32.0, 0.03125)
    """
    achieved = macs * batch / (p50_ms / 1000.0) / 1e9 if macs and p50_ms > 0 else None
    peak = peak_gmacs(cpu, precision or "fp32", threads)
    return {
        "achieved_gmacs": achieved,
        "peak_gmacs": peak["peak_gmacs"] if peak else None,
        "fraction_of_peak": achieved / peak["peak_gmacs"] if peak and achieved is not None else None,
        "peak": peak,
    }
