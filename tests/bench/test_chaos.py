"""Chaos: the measurement process killed mid-run, a run that hangs, a thread count that would never finish.

Real processes and real models (edgebench.tools.synthetic); the parent must report each in one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from edgebench.bench.harness import BenchConfig, MeasurementTimeout
from edgebench.bench.runner import Job, run_job_isolated
from edgebench.cli import app
from typer.testing import CliRunner

EDGEBENCH = [sys.executable, "-c", "from edgebench.cli import main; main()"]


@pytest.fixture(scope="module")
def slow_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conv net whose single run takes over a second on one thread (~1.2 s on an idle Zen4, over twice the 0.5 s
    --timeout of the tests; 12 s on the shared test machine under load): stands in for a hung model."""
    from edgebench.tools.synthetic import conv_net

    return conv_net(tmp_path_factory.mktemp("slow") / "slow.onnx", size=512, channels=128, n_convs=4)


def _children(pid: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


def test_worker_killed_mid_measurement_is_reported_cleanly(tiny_onnx: Path, tmp_path: Path) -> None:
    out = tmp_path / "res"
    proc = subprocess.Popen([*EDGEBENCH, "bench", str(tiny_onnx), "-o", str(out), "-t", "1", "--min-seconds", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        kids: list[int] = []
        while not kids and time.monotonic() < deadline:
            time.sleep(0.2)
            kids = _children(proc.pid)
        assert kids, "the measurement process never started"
        time.sleep(2.0)  # imported, loaded and timing
        os.kill(kids[0], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, (proc.returncode, stderr)
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgebench: error:"), stderr
    assert "killed by SIGKILL" in lines[0] and "Traceback" not in stderr
    assert not list(out.glob("*.json")) if out.exists() else True


def test_a_run_that_never_returns_is_killed_by_the_parent(slow_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edgebench.bench.runner as runner

    monkeypatch.setattr(runner, "TIMEOUT_GRACE_S", 0.5)  # the parent's wait past --timeout (30 s by default)
    job = Job(model=str(slow_onnx), batch=1, bench={**BenchConfig(min_iters=1, min_seconds=0, warmup_iters=0,
                                                                  timeout_s=0.5).__dict__})
    t0 = time.monotonic()
    with pytest.raises(MeasurementTimeout, match=r"--timeout 0\.5 s"):
        run_job_isolated(job)
    assert time.monotonic() - t0 < 15


def test_cli_timeout_in_process_keeps_earlier_results(slow_onnx: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["bench", str(slow_onnx), "-o", str(tmp_path / "r"), "--in-process", "-t", "1",
                                 "--warmup-iters", "3", "--min-iters", "1", "--min-seconds", "0", "--timeout", "0.5"])
    assert r.exit_code == 1, (r.exit_code, r.stderr)
    assert "ran past --timeout 0.5 s" in r.stderr and "Traceback" not in r.stderr
    assert not list((tmp_path / "r").glob("*.json")) if (tmp_path / "r").exists() else True


def test_threads_far_above_the_cores_refused_unless_allowed(tiny_onnx: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["bench", str(tiny_onnx), "-o", str(tmp_path / "r"), "-t", "10000"])
    assert r.exit_code == 2 and "--allow-oversubscribe" in r.stderr
    assert not (tmp_path / "r").exists()
    n = 4 * (os.cpu_count() or 1) + 1
    r = CliRunner().invoke(app, ["bench", str(tiny_onnx), "-o", str(tmp_path / "r"), "-t", str(n), "--in-process",
                                 "--allow-oversubscribe", "--warmup-iters", "0", "--min-iters", "2",
                                 "--min-seconds", "0", "--json"])
    assert r.exit_code == 0, r.stderr
