"""The host CPU, read from /proc/cpuinfo and sysfs: model, ISA flags, clusters, frequencies (stdlib only).

Every layer that picks arithmetic for this CPU reads it here (calibration's `plan_arithmetic`, the INT8
preset `auto`, the bench's big-core placement); bench/fingerprint.py embeds it in the machine fingerprint.
A field that cannot be read is None; `root` lets tests point the reader at a fake tree (e.g. a Pi's /proc
and /sys). This module imports nothing of edgebench: the device check ships its source, with
fingerprint.py's, to a board that has no edgebench installed (devices/remote.py `probe_source`).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# ISA features that decide INT8 (and FP32) speed.
X86_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
             "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
ARM_FLAGS = ("asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2", "fphp")

# ARM "CPU part" numbers (implementer 0x41) of the cores edge boards use.
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
             "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78", "0xd40": "Neoverse-V1",
             "0xd49": "Neoverse-N2", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710"}


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip("\x00").strip()
    except OSError:
        return None


def read_int(path: Path) -> int | None:
    s = read_text(path)
    try:
        return int(s) if s is not None else None
    except ValueError:
        return None


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """Split /proc/cpuinfo into one dict per block (per processor, plus ARM's trailer block)."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
                cur = {}
            continue
        if ":" in line:
            k, _, v = line.partition(":")
            cur[k.strip()] = v.strip()
    if cur:
        blocks.append(cur)
    return blocks


def cpu_info(root: Path = Path("/"), machine: str | None = None) -> dict[str, Any]:
    """This CPU: arch, model, vendor, cores, ISA flags (`X86_FLAGS`/`ARM_FLAGS`), frequencies and clusters."""
    machine = machine or platform.machine()
    text = read_text(root / "proc/cpuinfo") or ""
    blocks = parse_cpuinfo(text)
    procs = [b for b in blocks if "processor" in b]
    first = procs[0] if procs else {}
    flags = set((first.get("flags") or first.get("Features") or "").split())
    is_arm = machine in ("aarch64", "arm64") or machine.startswith("arm") or "Features" in first
    names = ARM_FLAGS if is_arm else X86_FLAGS
    isa = {f: (f in flags) for f in names} if flags else {f: None for f in names}
    if is_arm and flags:
        isa["asimd"] = "asimd" in flags or "neon" in flags
    part = first.get("CPU part")
    model = first.get("model name")
    if is_arm and part:  # the core's name; the board's name is in board.model
        model = ARM_PARTS.get(part.lower()) or model or f"ARM part {part}"
    cores = {(b.get("physical id", "0"), b.get("core id", b.get("processor"))) for b in procs}
    cpufreq = root / "sys/devices/system/cpu/cpu0/cpufreq"
    cur = read_int(cpufreq / "scaling_cur_freq")
    mx = read_int(cpufreq / "cpuinfo_max_freq")
    mn = read_int(cpufreq / "cpuinfo_min_freq")
    mhz = first.get("cpu MHz")
    clusters = cpu_clusters(root, procs)
    return {
        "arch": machine,
        "model": model,
        "vendor": first.get("vendor_id") or (f"ARM implementer {first['CPU implementer']}"
                                              if "CPU implementer" in first else None),
        "arm_part": part,
        "arm_core": ARM_PARTS.get(part.lower()) if part else None,
        "logical_cores": len(procs) or os.cpu_count(),
        "physical_cores": len(cores) if procs else None,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") and root == Path("/")
        else None,
        "isa": isa,
        "governor": read_text(cpufreq / "scaling_governor"),
        "cur_freq_mhz": cur / 1000 if cur else (float(mhz) if mhz else None),
        "max_freq_mhz": mx / 1000 if mx else None,
        "min_freq_mhz": mn / 1000 if mn else None,
        "clusters": clusters,
        "big_cpus": big_cpus(clusters),
    }


def _cpu_numbers(root: Path) -> list[int]:
    base = root / "sys/devices/system/cpu"
    found = [p.name[3:] for p in base.glob("cpu[0-9]*")] if base.is_dir() else []
    return sorted(int(n) for n in found if n.isdigit())


def cpu_clusters(root: Path = Path("/"), procs: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """The CPUs grouped into clusters of alike cores: same core type (ARM "CPU part"), `cpu_capacity` and
    maximum frequency (sysfs), each with its governor and frequency range. One cluster on a homogeneous CPU;
    empty when sysfs lists no CPUs."""
    if procs is None:
        procs = [b for b in parse_cpuinfo(read_text(root / "proc/cpuinfo") or "") if "processor" in b]
    part_of = {b["processor"]: b.get("CPU part") for b in procs}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for n in _cpu_numbers(root):
        cpu = root / f"sys/devices/system/cpu/cpu{n}"
        part = part_of.get(str(n))
        cap = read_int(cpu / "cpu_capacity")
        mx, mn = read_int(cpu / "cpufreq/cpuinfo_max_freq"), read_int(cpu / "cpufreq/cpuinfo_min_freq")
        key = (part, cap, mx)
        if key not in groups:
            groups[key] = {"cpus": [], "core": ARM_PARTS.get(part.lower(), f"ARM part {part}") if part else None,
                           "capacity": cap, "min_freq_mhz": mn / 1000 if mn else None,
                           "max_freq_mhz": mx / 1000 if mx else None,
                           "governor": read_text(cpu / "cpufreq/scaling_governor")}
        groups[key]["cpus"].append(n)
    return sorted(groups.values(), key=lambda g: g["cpus"][0])


def big_cpus(clusters: list[dict[str, Any]]) -> list[int] | None:
    """The big cores of a heterogeneous (big.LITTLE) CPU: the clusters whose `cpu_capacity` (else maximum
    frequency) is within 10 % of the fastest. None when all cores are alike or their speed is unknown.

    >>> big_cpus([{"cpus": [0, 1], "capacity": 530, "max_freq_mhz": 1800.0},
    ...           {"cpus": [2, 3], "capacity": 1024, "max_freq_mhz": 2256.0}])
    [2, 3]
    """
    key = "capacity" if clusters and all(c.get("capacity") for c in clusters) else "max_freq_mhz"
    speeds = [c.get(key) for c in clusters]
    if len(clusters) < 2 or not all(speeds) or len(set(speeds)) < 2:
        return None
    top = max(speeds)  # type: ignore[type-var]
    return sorted(n for c, s in zip(clusters, speeds, strict=True) if s >= 0.9 * top for n in c["cpus"])


def core_of(cpu: int, root: Path = Path("/")) -> int:
    """The physical core `cpu` belongs to, named by its lowest SMT sibling (sysfs `topology/thread_siblings_list`,
    e.g. "2,6" or "2-3"); the CPU itself where that cannot be read.

    >>> core_of(5, Path("/nonexistent"))
    5
    """
    text = read_text(root / f"sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list") or ""
    first = text.replace("-", ",").split(",")[0].strip()
    return int(first) if first.isdigit() else cpu
