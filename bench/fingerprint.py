"""Machine fingerprint, read from /proc and sysfs. A field that cannot be read is None.

`root` lets tests point the reader at a fake tree (e.g. a Raspberry Pi's /proc and /sys). The CPU part is
edgebench.cpu (core/cpu.py). Both run standalone on a device without edgebench (the device check ships
their sources: devices/remote.py `probe_source`), so this file imports nothing else of edgebench.
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

from edgebench.cpu import cpu_info, read_int, read_text

# Raspberry Pi firmware throttle bits (vcgencmd get_throttled).
THROTTLE_BITS = {0: "under_voltage", 1: "freq_capped", 2: "throttled", 3: "soft_temp_limit",
                 16: "under_voltage_occurred", 17: "freq_capped_occurred", 18: "throttled_occurred",
                 19: "soft_temp_limit_occurred"}

PACKAGES = ("edgebench", "numpy", "onnxruntime", "onnx", "psutil", "typer", "torch", "torchvision")


def memory_info(root: Path = Path("/")) -> dict[str, Any]:
    text = read_text(root / "proc/meminfo") or ""
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
        t = read_int(z / "temp")
        zones.append({"zone": z.name, "type": read_text(z / "type"), "temp_c": t / 1000 if t is not None else None,
                      "threshold_c": _throttle_trip_c(z)})
    return zones


def _throttle_trip_c(zone: Path) -> float | None:
    """The lowest "passive" or "hot" trip point of a thermal zone (where the kernel starts to throttle), in C."""
    trips = []
    for t in sorted(zone.glob("trip_point_*_type")):
        if read_text(t) in ("passive", "hot"):
            v = read_int(t.with_name(t.name.replace("_type", "_temp")))
            if v is not None and v > 0:
                trips.append(v / 1000)
    return min(trips) if trips else None


def cpufreq_state(root: Path = Path("/")) -> list[dict[str, Any]]:
    """Each cpufreq policy's CPUs, current frequency and current cap (scaling_max_freq, lowered by thermal
    throttling), in MHz; empty where sysfs has no cpufreq (many VMs and containers)."""
    base = root / "sys/devices/system/cpu/cpufreq"
    out = []
    for pol in sorted(base.glob("policy[0-9]*"), key=lambda p: int(p.name[6:])) if base.is_dir() else []:
        cpus = [int(c) for c in (read_text(pol / "related_cpus") or "").split() if c.isdigit()]
        cur, cap = read_int(pol / "scaling_cur_freq"), read_int(pol / "scaling_max_freq")
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
        raw = read_text(node) if node is not None else None
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
    model = read_text(root / "proc/device-tree/model") or read_text(root / "sys/firmware/devicetree/base/model")
    return {"model": model, "is_raspberry_pi": bool(model and "Raspberry Pi" in model)}


def os_info(root: Path = Path("/")) -> dict[str, Any]:
    pretty = None
    text = read_text(root / "etc/os-release")
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
    cur = read_int(cpufreq / "scaling_cur_freq")
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
    text = read_text(root / "proc/cpuinfo") or ""
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
