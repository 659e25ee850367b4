from __future__ import annotations

from pathlib import Path

from edgebench.bench.fingerprint import decode_throttled, fingerprint
from edgebench.cpu import cpu_info, parse_cpuinfo

X86_NO_VNNI = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD Ryzen 7 5800X 8-Core Processor
physical id\t: 0
core id\t: 0
cpu MHz\t\t: 3800.000
flags\t\t: fpu sse4_2 avx avx2 fma f16c

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD Ryzen 7 5800X 8-Core Processor
physical id\t: 0
core id\t: 0
flags\t\t: fpu sse4_2 avx avx2 fma f16c
"""


def arm_cpuinfo(part: str, features: str, cores: int = 4, model: str = "") -> str:
    blocks = [
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
        f"CPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: {part}\nCPU revision\t: 1\n"
        for i in range(cores)
    ]
    trailer = f"Model\t\t: {model}\n" if model else ""
    return "\n".join(blocks) + "\n" + trailer


def fake_root(tmp_path: Path, cpuinfo: str, *, board: str | None = None, throttled: str | None = None,
              temp_mc: int | None = None, governor: str | None = None) -> Path:
    (tmp_path / "proc").mkdir(parents=True)
    (tmp_path / "proc/cpuinfo").write_text(cpuinfo)
    (tmp_path / "proc/meminfo").write_text("MemTotal:        8000000 kB\nMemAvailable:    6000000 kB\n")
    if board:
        (tmp_path / "proc/device-tree").mkdir()
        (tmp_path / "proc/device-tree/model").write_text(board + "\x00")
    if throttled:
        d = tmp_path / "sys/devices/platform/soc/soc:firmware"
        d.mkdir(parents=True)
        (d / "get_throttled").write_text(throttled + "\n")
    if temp_mc is not None:
        z = tmp_path / "sys/class/thermal/thermal_zone0"
        z.mkdir(parents=True)
        (z / "temp").write_text(f"{temp_mc}\n")
        (z / "type").write_text("cpu-thermal\n")
    if governor:
        f = tmp_path / "sys/devices/system/cpu/cpu0/cpufreq"
        f.mkdir(parents=True)
        (f / "scaling_governor").write_text(governor + "\n")
        (f / "scaling_cur_freq").write_text("1500000\n")
        (f / "cpuinfo_max_freq").write_text("2400000\n")
    return tmp_path


def test_x86_without_vnni(tmp_path: Path) -> None:
    cpu = cpu_info(fake_root(tmp_path, X86_NO_VNNI), machine="x86_64")
    assert cpu["model"].startswith("AMD Ryzen 7 5800X")
    assert cpu["isa"]["avx2"] is True and cpu["isa"]["fma"] is True
    assert cpu["isa"]["avx512_vnni"] is False and cpu["isa"]["avx_vnni"] is False
    assert cpu["logical_cores"] == 2 and cpu["physical_cores"] == 1
    assert cpu["cur_freq_mhz"] == 3800.0


def test_pi4_cortex_a72_has_no_dotprod(tmp_path: Path) -> None:
    info = arm_cpuinfo("0xd08", "fp asimd evtstrm crc32 cpuid", model="Raspberry Pi 4 Model B Rev 1.4")
    root = fake_root(tmp_path, info,
                     board="Raspberry Pi 4 Model B Rev 1.4", throttled="0x0", temp_mc=48200, governor="ondemand")
    fp = fingerprint(root, machine="aarch64")
    cpu = fp["cpu"]
    assert cpu["arch"] == "aarch64" and cpu["arm_core"] == "Cortex-A72" and cpu["model"] == "Cortex-A72"
    assert cpu["isa"]["asimd"] is True and cpu["isa"]["asimddp"] is False and cpu["isa"]["i8mm"] is False
    assert cpu["logical_cores"] == 4
    assert cpu["governor"] == "ondemand" and cpu["max_freq_mhz"] == 2400.0
    assert fp["board"] == {"model": "Raspberry Pi 4 Model B Rev 1.4", "is_raspberry_pi": True}
    assert fp["thermal"][0]["temp_c"] == 48.2
    assert fp["throttled"]["source"] == "sysfs" and fp["throttled"]["throttled"] is False


def test_pi5_cortex_a76_has_dotprod(tmp_path: Path) -> None:
    feats = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
    root = fake_root(tmp_path, arm_cpuinfo("0xd0b", feats), board="Raspberry Pi 5 Model B Rev 1.0", throttled="50005")
    fp = fingerprint(root, machine="aarch64")
    assert fp["cpu"]["arm_core"] == "Cortex-A76" and fp["cpu"]["model"] == "Cortex-A76"
    assert fp["cpu"]["isa"]["asimddp"] is True and fp["cpu"]["isa"]["i8mm"] is False
    t = fp["throttled"]
    assert t["under_voltage"] is True and t["throttled"] is True and t["throttled_occurred"] is True


def test_missing_files_give_none_not_a_crash(tmp_path: Path) -> None:
    fp = fingerprint(tmp_path, machine="x86_64")
    assert fp["cpu"]["model"] is None and fp["cpu"]["governor"] is None
    assert all(v is None for v in fp["cpu"]["isa"].values())
    assert fp["memory"] == {"total_mb": None, "available_mb": None}
    assert fp["throttled"] is None and fp["thermal"] == [] and fp["board"]["model"] is None


def test_decode_throttled_bits() -> None:
    d = decode_throttled(0x20002)
    assert d["freq_capped"] is True and d["freq_capped_occurred"] is True and d["under_voltage"] is False


def test_parse_cpuinfo_blocks() -> None:
    assert len(parse_cpuinfo(X86_NO_VNNI)) == 2


def test_host_fingerprint_is_complete() -> None:
    fp = fingerprint()
    assert fp["cpu"]["arch"] and fp["python"] and fp["packages"]["numpy"]
    assert len(fp["id"]) == 12 and fp["id"] == fingerprint()["id"]
