"""Raspberry Pi specifics: board trees of a Pi 4 and a Pi 5 (tests/data/boards, also used by `make arm-check`),
throttle warnings before/after a run, and `edgebench bench --cooldown`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from edgebench.bench.cooldown import Cooldown, cooldown_warnings, max_temp_c, wait_until_cool
from edgebench.bench.fingerprint import dynamic_state, fingerprint
from edgebench.bench.runner import throttle_warnings
from edgebench.cli import app
from edgebench.errors import UserInputError
from typer.testing import CliRunner

BOARDS = Path(__file__).resolve().parent.parent / "data" / "boards"


def test_pi4_tree() -> None:
    fp = fingerprint(BOARDS / "pi4", machine="aarch64")
    cpu = fp["cpu"]
    assert (cpu["arch"], cpu["arm_core"], cpu["logical_cores"]) == ("aarch64", "Cortex-A72", 4)
    assert cpu["isa"]["asimd"] is True and cpu["isa"]["asimddp"] is False and cpu["isa"]["i8mm"] is False
    assert cpu["max_freq_mhz"] == 1800.0 and cpu["governor"] == "ondemand"
    assert fp["board"] == {"model": "Raspberry Pi 4 Model B Rev 1.5", "is_raspberry_pi": True}
    # no trip point in the tree
    assert fp["thermal"] == [{"zone": "thermal_zone0", "type": "cpu-thermal", "temp_c": 47.225, "threshold_c": None}]
    assert fp["throttled"]["source"] == "sysfs" and fp["throttled"]["raw"] == "0x0"


def test_pi5_tree_finds_the_firmware_node_on_another_bus() -> None:
    fp = fingerprint(BOARDS / "pi5", machine="aarch64")
    assert fp["cpu"]["arm_core"] == "Cortex-A76" and fp["cpu"]["isa"]["asimddp"] is True
    assert fp["board"]["model"] == "Raspberry Pi 5 Model B Rev 1.0"
    assert not (BOARDS / "pi5/sys/devices/platform/soc").exists()
    assert fp["throttled"] is not None and fp["throttled"]["source"] == "sysfs"
    assert max_temp_c(fp) == 52.1


def test_board_model_from_sysfs_when_proc_has_no_device_tree(tmp_path: Path) -> None:
    root = tmp_path / "pi4"
    shutil.copytree(BOARDS / "pi4", root)
    shutil.rmtree(root / "proc/device-tree")
    assert fingerprint(root, machine="aarch64")["board"]["model"] == "Raspberry Pi 4 Model B Rev 1.5"
    (root / "sys/firmware/devicetree/base/model").unlink()
    assert fingerprint(root, machine="aarch64")["board"] == {"model": None, "is_raspberry_pi": False}


def test_throttle_state_changes_between_two_reads(tmp_path: Path) -> None:
    root = tmp_path / "pi4"
    shutil.copytree(BOARDS / "pi4", root)
    node = root / "sys/devices/platform/soc/soc:firmware/get_throttled"
    before = dynamic_state(root)
    node.write_text("50005\n")  # the firmware's sysfs word is hex without 0x
    after = dynamic_state(root)
    assert before["throttled"]["throttled"] is False and after["throttled"]["throttled"] is True
    warnings = throttle_warnings(before, after)
    assert any("'throttled'" in w for w in warnings) and any("'under_voltage'" in w for w in warnings)


def _state(raw: int | None) -> dict[str, Any]:
    from edgebench.bench.fingerprint import decode_throttled

    return {"throttled": None if raw is None else {"source": "sysfs", **decode_throttled(raw)}}


@pytest.mark.parametrize(("before", "after", "expect"), [
    (0x0, 0x0, []),
    (0x50000, 0x50000, []),               # throttled before this run, not during it: no warning
    (0x0, 0x40000, ["throttled"]),         # throttled and recovered during the run
    (0x4, 0x40000, ["throttled"]),         # started throttled
    (0x0, 0x80008, ["soft_temp_limit"]),
    (None, None, []),                      # not a Pi
])
def test_throttle_warnings(before: int | None, after: int | None, expect: list[str]) -> None:
    got = throttle_warnings(_state(before), _state(after))
    assert [w.split("'")[1] for w in got] == expect


class FakeBoard:
    """A board whose temperature follows a list, one reading per call; a fake clock advanced by sleep."""

    def __init__(self, temps: list[float | None]) -> None:
        self.temps, self.now, self.slept = list(temps), 0.0, []  # type: ignore[var-annotated]

    def read(self) -> dict[str, Any]:
        t = self.temps.pop(0) if len(self.temps) > 1 else self.temps[0]
        return {"thermal": [] if t is None else [{"zone": "thermal_zone0", "temp_c": t}]}

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s

    def clock(self) -> float:
        return self.now


def test_cooldown_waits_until_below_the_bound() -> None:
    b = FakeBoard([72.0, 66.5, 61.0, 59.9])
    info = wait_until_cool(Cooldown(60.0, timeout_s=100, poll_s=5), b.read, b.sleep, b.clock)
    assert info["reached"] is True and info["start_temp_c"] == 72.0 and info["end_temp_c"] == 59.9
    assert b.slept == [5, 5, 5] and info["waited_s"] == 15
    assert cooldown_warnings(info) == []


def test_cooldown_gives_up_at_the_timeout_and_says_so() -> None:
    b = FakeBoard([80.0])
    info = wait_until_cool(Cooldown(60.0, timeout_s=7, poll_s=3), b.read, b.sleep, b.clock)
    assert info["reached"] is False and b.slept == [3, 3, 1] and info["waited_s"] == 7
    assert "still at 80.0 C" in cooldown_warnings(info)[0]


def test_cooldown_without_a_sensor_does_not_wait() -> None:
    b = FakeBoard([None])
    info = wait_until_cool(Cooldown(50.0), b.read, b.sleep, b.clock)
    assert info["reached"] is None and b.slept == []
    assert "no temperature" in cooldown_warnings(info)[0]


def test_cooldown_already_cool_does_not_wait() -> None:
    b = FakeBoard([45.0])
    assert wait_until_cool(Cooldown(50.0), b.read, b.sleep, b.clock)["waited_s"] == 0
    assert b.slept == []


@pytest.mark.parametrize("kwargs", [{"bound_c": 0}, {"bound_c": 150}, {"bound_c": 50, "timeout_s": -1},
                                    {"bound_c": 50, "poll_s": 0}])
def test_cooldown_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(UserInputError):
        Cooldown(**kwargs)


def test_cli_cooldown_bad_bound_writes_nothing(tiny_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    r = CliRunner().invoke(app, ["bench", str(tiny_onnx), "--cooldown", "-5", "-o", str(out)])
    assert r.exit_code == 2
    assert "--cooldown -5" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_cli_hot_board_cools_then_throttles(tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Pi that is 70 C, cools to 50 C, then throttles during the measurement: the result says all of it."""
    import edgebench.bench.fingerprint as fpmod

    readings = iter([(70.0, 0x0), (50.0, 0x0), (50.0, 0x0), (79.0, 0x50005)])
    last = [(79.0, 0x50005)]

    def fake_state(root: Path = Path("/")) -> dict[str, Any]:
        t, raw = next(readings, last[0])
        return {"thermal": [{"zone": "thermal_zone0", "type": "cpu-thermal", "temp_c": t}],
                "throttled": {"source": "sysfs", **fpmod.decode_throttled(raw)}, "cur_freq_mhz": 1800.0}

    monkeypatch.setattr(fpmod, "dynamic_state", fake_state)
    monkeypatch.setattr("time.sleep", lambda s: None)
    out = tmp_path / "res"
    r = CliRunner().invoke(app, ["bench", str(tiny_onnx), "--in-process", "--min-iters", "3", "--min-seconds", "0",
                                 "--warmup-iters", "1", "--threads", "1", "--cooldown", "60", "-o", str(out),
                                 "--json"])
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["cooldown"]["start_temp_c"] == 70.0 and res["cooldown"]["end_temp_c"] == 50.0
    assert res["cooldown"]["reached"] is True
    assert res["machine"]["thermal"][0]["temp_c"] == 50.0 and res["machine_after"]["thermal"][0]["temp_c"] == 79.0
    assert any("'throttled'" in w for w in res["warnings"])
    saved = json.loads(next(out.glob("*.json")).read_text())
    assert saved["cooldown"] == res["cooldown"] and saved["warnings"] == res["warnings"]


def test_emulation_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EDGEBENCH_EMULATED=1, or an aarch64 process reading the x86 host's cpuinfo (qemu-user in docker)."""
    from edgebench.bench.fingerprint import emulation_hint

    monkeypatch.delenv("EDGEBENCH_EMULATED", raising=False)
    assert fingerprint(BOARDS / "pi4", machine="aarch64")["emulated"] is False
    x86 = tmp_path / "x86"
    (x86 / "proc").mkdir(parents=True)
    (x86 / "proc/cpuinfo").write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2\n")
    assert emulation_hint(x86, "aarch64") is True
    assert emulation_hint(x86, "x86_64") is False
    assert emulation_hint(BOARDS / "pi4", "x86_64") is True
    monkeypatch.setenv("EDGEBENCH_EMULATED", "1")
    assert fingerprint(BOARDS / "pi4", machine="aarch64")["emulated"] is True
    monkeypatch.setenv("EDGEBENCH_EMULATED", "0")
    assert emulation_hint(BOARDS / "pi4", "aarch64") is False
