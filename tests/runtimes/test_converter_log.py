"""Converters' own output goes to convert.log; the terminal gets one line per stage (issue #24 item 14)."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from edgebench.runtimes.converters import CONVERT_LOG, captured_output


def test_everything_printed_inside_goes_to_the_log(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "convert.log"
    with captured_output(log):
        print("python stdout")
        sys.stderr.write("python stderr\n")
        logging.getLogger("thirdparty.converter").warning("a logging warning")
        os.write(1, b"C library on fd 1\n")
        os.write(2, b"C library on fd 2\n")
    os.write(1, b"after\n")
    text = log.read_text()
    for line in ("python stdout", "python stderr", "a logging warning", "C library on fd 1",
                 "C library on fd 2"):
        assert line in text, line
    assert "after" not in text
    out, err = capfd.readouterr()
    assert "after" in out and "C library" not in out + err and "python stdout" not in out


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("pnnx") is None or importlib.util.find_spec("ncnn") is None,
                    reason="needs the ncnn converter and runtime (pip install 'edgebench[runtimes,convert]')")
def test_convert_shows_stages_and_logs_the_converter(tmp_path: Path) -> None:
    from edgebench.cli import app
    from typer.testing import CliRunner

    from tests.calibration.byo_graphs import image_net

    p = image_net(tmp_path / "net.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "p.npz", images=rng.integers(0, 256, (8, 16, 16, 3)).astype(np.uint8), labels=np.zeros(8))
    run = CliRunner().invoke
    assert run(app, ["describe", str(p), "--preprocessing", "unit"]).exit_code == 0
    args = ["convert", str(p), "-r", "ncnn", "--parity-data", str(tmp_path / "p.npz")]
    r = run(app, args)
    assert r.exit_code == 0, r.output
    assert [ln.split(":")[0] for ln in r.stderr.splitlines()] == ["reference", "converting", "parity"]
    assert len(r.stdout.splitlines()) == 2 and "pnnx" not in r.stdout.split("by pnnx")[0]
    log = tmp_path / "ncnn/fp32" / CONVERT_LOG
    assert "pnnxparam" in log.read_text()
    r = run(app, [*args, "--force", "--verbose"])
    assert r.exit_code == 0, r.output
    assert "pnnxparam" in r.stdout and not log.exists()
