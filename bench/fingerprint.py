"""Machine fingerprint, read from /proc and sysfs. A field that cannot be read is None.

`root` lets tests point the reader at a fake tree (e.g. a Raspberry Pi's /proc and /sys).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from importlib import metadata
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

# Raspberry Pi firmware throttle bits (vcgencmd get_throttled).
THROTTLE_BITS = {0: "under_voltage", 1: "freq_capped", 2: "throttled", 3: "soft_temp_limit",
                 16: "under_voltage_occurred", 17: "freq_capped_occurred", 18: "throttled_occurred",
                 19: "soft_temp_limit_occurred"}

PACKAGES = ("edgebench", "numpy", "onnxruntime", "onnx", "psutil", "typer", "torch", "torchvision")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip("\x00").strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    s = _read(path)
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
    machine = machine or platform.machine()
    text = _read(root / "proc/cpuinfo") or ""
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
    cur = _read_int(cpufreq / "scaling_cur_freq")
    mx = _read_int(cpufreq / "cpuinfo_max_freq")
    mn = _read_int(cpufreq / "cpuinfo_min_freq")
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
        "governor": _read(cpufreq / "scaling_governor"),
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
        procs = [b for b in parse_cpuinfo(_read(root / "proc/cpuinfo") or "") if "processor" in b]
    part_of = {b["processor"]: b.get("CPU part") for b in procs}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for n in _cpu_numbers(root):
        cpu = root / f"sys/devices/system/cpu/cpu{n}"
        part = part_of.get(str(n))
        cap = _read_int(cpu / "cpu_capacity")
        mx, mn = _read_int(cpu / "cpufreq/cpuinfo_max_freq"), _read_int(cpu / "cpufreq/cpuinfo_min_freq")
        key = (part, cap, mx)
        if key not in groups:
            groups[key] = {"cpus": [], "core": ARM_PARTS.get(part.lower(), f"ARM part {part}") if part else None,
                           "capacity": cap, "min_freq_mhz": mn / 1000 if mn else None,
                           "max_freq_mhz": mx / 1000 if mx else None,
                           "governor": _read(cpu / "cpufreq/scaling_governor")}
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


def memory_info(root: Path = Path("/")) -> dict[str, Any]:
    text = _read(root / "proc/meminfo") or ""
    vals = {}
    for line in text.splitlines():
        m = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if m:
            vals[m.group(1)] = int(m.group(2)) * 1024 / 1e6  # MB = 10^6 bytes (edgebench.units: this file runs
            # standalone on a device without edgebench, so it imports nothing of it)
    return {"total_mb": vals.get("MemTotal"), "available_mb": vals.get("MemAvailable")}


def thermal_info(root: Path = Path("/")) -> list[dict[str, Any]]:
    zones = []
    base = root / "sys/class/thermal"
    for z in sorted(base.glob("thermal_zone*")) if base.is_dir() else []:
        t = _read_int(z / "temp")
        zones.append({"zone": z.name, "type": _read(z / "type"), "temp_c": t / 1000 if t is not None else None,
                      "threshold_c": _throttle_trip_c(z)})
    return zones


def _throttle_trip_c(zone: Path) -> float | None:
    """The lowest "passive" or "hot" trip point of a thermal zone (where the kernel starts to throttle), in C."""
    trips = []
    for t in sorted(zone.glob("trip_point_*_type")):
        if _read(t) in ("passive", "hot"):
            v = _read_int(t.with_name(t.name.replace("_type", "_temp")))
            if v is not None and v > 0:
                trips.append(v / 1000)
    return min(trips) if trips else None


def cpufreq_state(root: Path = Path("/")) -> list[dict[str, Any]]:
    """Each cpufreq policy's CPUs, current frequency and current cap (scaling_max_freq, lowered by thermal
    throttling), in MHz; empty where sysfs has no cpufreq (many VMs and containers)."""
    base = root / "sys/devices/system/cpu/cpufreq"
    out = []
    for pol in sorted(base.glob("policy[0-9]*"), key=lambda p: int(p.name[6:])) if base.is_dir() else []:
        cpus = [int(c) for c in (_read(pol / "related_cpus") or "").split() if c.isdigit()]
        cur, cap = _read_int(pol / "scaling_cur_freq"), _read_int(pol / "scaling_max_freq")
        out.append({"cpus": cpus, "cur_freq_mhz": cur / 1000 if cur else None,
                    "cap_freq_mhz": cap / 1000 if cap else None})
    return out


def decode_throttled(value: int) -> dict[str, Any]:
    """Decode the Raspberry Pi firmware's throttle word.

    >>> decode_throttled(0x50005)["under_voltage"], decode_throttled(0x50005)["throttled_occurred"]
    (True, True)
    """
    out: dict[str, Any] = {"raw": hex(value)}
    out.update({name: bool(value >> bit & 1) for bit, name in THROTTLE_BITS.items()})
    return out


def _throttle_node(root: Path) -> Path | None:
    """The firmware's get_throttled node: soc/soc:firmware on a Pi 4; the bus is named differently elsewhere."""
    platform_dir = root / "sys/devices/platform"
    known = platform_dir / "soc/soc:firmware/get_throttled"
    if known.is_file():
        return known
    found = sorted(platform_dir.glob("*/*firmware/get_throttled")) if platform_dir.is_dir() else []
    return found[0] if found else None


def throttle_state(root: Path = Path("/")) -> dict[str, Any] | None:
    """Pi throttling: `vcgencmd get_throttled` when present, else the firmware's sysfs node."""
    raw: str | None = None
    source = None
    if root == Path("/") and shutil.which("vcgencmd"):
        try:
            out = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=5)
            m = re.search(r"throttled=(0x[0-9a-fA-F]+)", out.stdout)
            raw, source = (m.group(1), "vcgencmd") if m else (None, None)
        except (OSError, subprocess.SubprocessError):
            raw = None
    if raw is None:
        node = _throttle_node(root)
        raw = _read(node) if node is not None else None
        source = "sysfs" if raw is not None else None
    if raw is None:
        return None
    try:
        value = int(raw, 16)  # both "0x50000" and sysfs's bare "50000" are hex
    except ValueError:
        return None
    return {"source": source, **decode_throttled(value)}


def board_info(root: Path = Path("/")) -> dict[str, Any]:
    # /proc/device-tree links to /sys/firmware/devicetree/base; a container or chroot may have only the latter.
    model = _read(root / "proc/device-tree/model") or _read(root / "sys/firmware/devicetree/base/model")
    return {"model": model, "is_raspberry_pi": bool(model and "Raspberry Pi" in model)}


def os_info(root: Path = Path("/")) -> dict[str, Any]:
    pretty = None
    text = _read(root / "etc/os-release")
    if text:
        m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
        pretty = m.group(1) if m else None
    u = platform.uname()
    return {"system": u.system, "kernel": u.release, "distro": pretty, "machine": u.machine}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def dynamic_state(root: Path = Path("/")) -> dict[str, Any]:
    """What changes during a run: temperatures, throttling, frequency."""
    cpufreq = root / "sys/devices/system/cpu/cpu0/cpufreq"
    cur = _read_int(cpufreq / "scaling_cur_freq")
    return {"thermal": thermal_info(root), "throttled": throttle_state(root),
            "cur_freq_mhz": cur / 1000 if cur else None, "cpufreq": cpufreq_state(root)}


def emulation_hint(root: Path = Path("/"), machine: str | None = None) -> bool:
    """True when this process runs under user-mode emulation.

    qemu-user sets no flag: EDGEBENCH_EMULATED=1 says so (`make arm-check` sets it), and an aarch64 process
    that reads an x86 /proc/cpuinfo (or the reverse) is emulated too, e.g. `docker run --platform linux/arm64`.
    """
    if os.environ.get("EDGEBENCH_EMULATED", "") not in ("", "0"):
        return True
    machine = machine or platform.machine()
    text = _read(root / "proc/cpuinfo") or ""
    if machine in ("aarch64", "arm64") or machine.startswith("arm"):
        return re.search(r"^(vendor_id|flags)\s*:", text, re.M) is not None
    if machine in ("x86_64", "amd64", "i386", "i686"):
        return re.search(r"^(Features|CPU implementer)\s*:", text, re.M) is not None
    return False


def fingerprint(root: Path = Path("/"), machine: str | None = None) -> dict[str, Any]:
    """The whole fingerprint; `id` hashes the fields that make two machines comparable."""
    cpu = cpu_info(root, machine)
    fp: dict[str, Any] = {
        "hostname": socket.gethostname() if root == Path("/") else None,
        "os": os_info(root),
        "python": platform.python_version(),
        "packages": package_versions(),
        "cpu": cpu,
        "memory": memory_info(root),
        "board": board_info(root),
        "emulated": emulation_hint(root, machine),
        **dynamic_state(root),
    }
    key = {k: cpu[k] for k in ("arch", "model", "logical_cores", "isa")}
    key["board"] = fp["board"]["model"]
    key["hostname"] = fp["hostname"]
    fp["id"] = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return fp


def host_isa_summary(fp: dict[str, Any] | None = None) -> str:
    fp = fp or fingerprint()
    isa = fp["cpu"]["isa"]
    on = [k for k, v in isa.items() if v]
    return f"{fp['cpu']['arch']} {fp['cpu']['model']} [{' '.join(on)}]"


if __name__ == "__main__":  # pragma: no cover
    json.dump(fingerprint(), sys.stdout, indent=2)
