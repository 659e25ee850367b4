"""Ctrl-C (SIGINT) and SIGTERM during a sweep's bench: the running measurement is stopped (locally: the
measurement process; on a remote device: `run_on`'s stop path against a real loopback sshd, so nothing is
left running on the "board"), the cell is recorded as interrupted with nothing half-written, the command
exits 130 with one line, and the next run resumes (the finished stages answer from the cache)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from edgebench.cli import app
from edgebench.sweep.executor import interrupt_signals
from typer.testing import CliRunner

from tests.conftest import Installed
from tests.sweep.tiny_sweep import sweep_text

EDGEBENCH = str(Path(sys.executable).parent / "edgebench")
LONG = "min_seconds = 3"  # a bench long enough to be interrupted (1 s after its worker starts), short to re-run


def test_sigterm_becomes_keyboard_interrupt_in_the_main_thread() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), interrupt_signals() as got:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises at once
    assert got == ["SIGTERM"]
    assert signal.getsignal(signal.SIGTERM) is before  # restored


def _write_sweep(tiny: Path, devices: str) -> Path:
    text = sweep_text(tiny, models=[str(tiny / "tiny")], precisions='["fp32"]', threads="[1]")
    text = text.replace("min_seconds = 0.05", LONG).replace("threads = [1]", f"threads = [1]\ndevices = {devices}")
    assert LONG in text and "devices" in text
    path = tiny / "s.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _children(pid: int, needle: str) -> list[int]:
    """Live child processes of `pid` whose command line holds `needle`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and needle in cmd:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _group_alive(pgid: int) -> bool:
    ps = subprocess.run(["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return any(not st.startswith("Z") for st in ps)


def _wait_for(what: str, proc: subprocess.Popen[bytes], probe: Callable[[], Any], timeout: float = 180.0
              ) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"{what} never happened: {err.decode()[-3000:]}")


def _check_interrupted(out: Path, err: str, sig: str, rc: int) -> dict:
    assert rc == 130, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"edgebench: interrupted: sweep stopped by {sig}: bench "), err
    assert "run the same command again to resume" in last and str(out / "summary.json") in last, last
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"] == sig
    by_stage = {n["stage"]: n for n in s["nodes"]}
    assert by_stage["import"]["status"] == "done" and by_stage["evaluate"]["status"] == "done"
    bench = by_stage["bench"]
    assert bench["status"] == "interrupted" and "the next run does it again" in bench["error"], bench
    assert s["counts"] == {"done": 2, "cached": 0, "failed": 0, "skipped": 0, "interrupted": 1, "not_run": 0}
    cell = out / "cache" / bench["key"]
    marker = json.loads((cell / "interrupted.json").read_text())
    assert marker["label"] == bench["label"] and marker["error"] == bench["error"]
    assert not (cell / "done.json").exists() and not (cell / "result.json").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".pull.")]
    assert not list((out / "results").rglob("*.json"))  # nothing published for the stopped cell
    return bench


def _resume(sweep: Path, out: Path, *extra: str) -> dict:
    r = CliRunner().invoke(app, ["sweep", str(sweep), "-o", str(out), *extra])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"] is None
    assert s["counts"] == {"done": 1, "cached": 2, "failed": 0, "skipped": 0}  # only the stopped bench ran
    return s


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_local_bench_kills_the_measurement_and_resumes(tiny: Path, sig: signal.Signals) -> None:
    sweep, out = _write_sweep(tiny, '["local"]'), tiny / "out"
    proc = subprocess.Popen([EDGEBENCH, "sweep", str(sweep), "-o", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    (worker,) = _wait_for("the measurement process", proc, lambda: _children(proc.pid, "edgebench.bench.worker"))
    time.sleep(1.0)  # measuring
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    bench = _check_interrupted(out, err.decode(), sig.name, proc.returncode)
    assert "its measurement process was killed, no result written" in bench["error"]
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker)
    if sig is signal.SIGTERM:  # _check_interrupted found the same cache as after SIGINT: its resume is the same
        return
    s = _resume(sweep, out)
    assert [n["status"] for n in s["nodes"] if n["stage"] == "bench"] == ["done"]
    assert len(list((out / "results" / "local").glob("*.json"))) == 1


@pytest.mark.slow
def test_ctrl_c_during_a_remote_bench_stops_it_on_the_device_and_resumes(installed: Installed,
                                                                         tiny: Path) -> None:
    devices = tiny / "devices.toml"
    devices.write_text(installed.devices.read_text())
    sweep, out = _write_sweep(tiny, '["dev"]'), tiny / "out"
    runs = installed.workdir / "runs"
    before = set(runs.glob("*")) if runs.exists() else set()

    def new_pid() -> int | None:
        found = [p for p in runs.glob("*/pid") if p.parent not in before and p.read_text().strip()]
        return int(found[0].read_text()) if found else None

    proc = subprocess.Popen([EDGEBENCH, "sweep", str(sweep), "-o", str(out), "--devices-config", str(devices)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    remote_pid = _wait_for("the remote run", proc, new_pid)
    time.sleep(1.0)  # measuring on the "board"
    assert _group_alive(remote_pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    bench = _check_interrupted(out, err.decode(), "SIGINT", proc.returncode)
    assert "its run on device 'dev' was stopped" in bench["error"], bench
    deadline = time.monotonic() + 10
    while _group_alive(remote_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(remote_pid), subprocess.run(["ps", "-o", "pid,pgid,stat,cmd", "-g", str(remote_pid)],
                                                        capture_output=True, text=True).stdout
    assert set(runs.glob("*")) == before  # the run's folder on the device was removed too
    s = _resume(sweep, out, "--devices-config", str(devices))
    assert [n["status"] for n in s["nodes"] if n["stage"] == "bench"] == ["done"]
    assert len(list((out / "results" / "dev").glob("*.json"))) == 1
