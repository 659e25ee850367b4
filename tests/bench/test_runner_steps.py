"""bench/runner.py `_measured`, split into named steps (issue #25): the paths the golden test does not take."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.bench.runner import Job, run_job
from edgebench.tools.synthetic import conv_net

QUICK = {"warmup_iters": 1, "min_iters": 3, "min_seconds": 0.0}


def test_a_job_with_progress_shows_a_bar_and_measures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run_job(Job(model=str(conv_net(tmp_path / "m.onnx", size=8)), bench=QUICK, progress=True)).to_dict()
    assert len(r["latency"]["samples_ms"]) >= 3 and r["latency"]["first_run_ms"] > 0
    assert list(r["memory"])[:3] == ["rss_before_load_mb", "rss_after_load_mb", "load_delta_mb"]
    assert r["memory"]["isolated_process"] is False and r["cold_start"] is None

