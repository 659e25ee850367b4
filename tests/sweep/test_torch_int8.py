"""torch-int8 in a sweep calibrates on the sweep's [quantize] settings, in its evaluation and its bench cells."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from typer.testing import CliRunner

pytestmark = [pytest.mark.torch, pytest.mark.slow, pytest.mark.data]  # the published ResNet-20 weights


def _npz(path: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (n, size, size, 3)).astype(np.uint8), labels=rng.integers(0, 10, n))
    return path


def _sweep(root: Path, calibration: Path) -> str:
    return f"""
name = "t8"
models = ["resnet20"]
[quantize]
precisions = ["fp32"]
calibration = "{calibration}"
calib_size = 8
seed = 3
[eval]
data = "{root / 'test.npz'}"
limit = 16
[bench]
runtimes = ["torch-int8"]
threads = [1]
min_seconds = 0
min_iters = 3
warmup_iters = 1
"""


def test_torch_int8_uses_the_sweep_calibration(tmp_path: Path, one_torch_thread: None, shared_data: Path) -> None:
    pytest.importorskip("torch")
    if not (shared_data / "weights").is_dir():
        pytest.skip("needs ../shared/data/weights (the published ResNet-20 weights)")
    _npz(tmp_path / "test.npz", 16, 32)
    cal = _npz(tmp_path / "cal.npz", 16, 32)
    (tmp_path / "s.toml").write_text(_sweep(tmp_path, cal))
    r = CliRunner().invoke(app, ["sweep", str(tmp_path / "s.toml"), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    (res,) = [json.loads(p.read_text()) for p in (tmp_path / "out" / "results" / "local").glob("*.json")]
    opts = res["runtime"]["options"]
    assert (opts["calibration_data"], opts["calibration_size"], opts["calibration_seed"]) == (str(cal), 8, 3)
    assert res["accuracy"]["n"] == 16 and res["accuracy"]["runtime"] == "torch-int8"

    # calibration images of the wrong size: the evaluation (which calibrates on them, not on the default
    # cifar10:train) fails, and so the cell; nothing else is run again
    bad = _npz(tmp_path / "bad.npz", 16, 20)
    (tmp_path / "s.toml").write_text(_sweep(tmp_path, bad))
    r = CliRunner().invoke(app, ["sweep", str(tmp_path / "s.toml"), "-o", str(tmp_path / "out")])
    assert r.exit_code == 1, r.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    st = {n["stage"]: n["status"] for n in s["nodes"]}
    assert st == {"export": "cached", "evaluate": "failed", "bench": "skipped"}, s
