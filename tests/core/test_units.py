"""One megabyte everywhere (issue #24 item 5): MB = 10**6 bytes in every printer, quantize and the report agree."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.cli import app
from edgebench.manifest import InputInfo, new_manifest
from edgebench.tools.synthetic import conv_net
from edgebench.units import format_mb, to_mb
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
CODE_DIRS = ("core", "runtimes", "calibration", "exporter", "bench", "devices", "sweep", "cli", "tools", "scripts")
# A byte count divided into MiB: x / 2**20, / (1 << 20), / 1024**2, or the word MiB itself.
MIB = re.compile(r"/\s*\(?\s*(2\s*\*\*\s*20|1\s*<<\s*20|1024\s*\*\*\s*2|1024\s*\*\s*1024)|\bMiB\b")


def test_format_mb_is_decimal() -> None:
    assert to_mb(1_048_576) == pytest.approx(1.048576)
    assert format_mb(to_mb(1_048_576)) == "1.049 MB"
    assert format_mb(None, 1) == "0.0 MB"


def test_no_printer_uses_mib() -> None:
    hits = [f"{p.relative_to(REPO)}:{n}: {line.strip()}"
            for d in CODE_DIRS for p in sorted((REPO / d).rglob("*.py"))
            for n, line in enumerate(p.read_text().splitlines(), 1) if MIB.search(line)]
    assert not hits, "MiB left (use edgebench.units.to_mb / format_mb):\n" + "\n".join(hits)


def test_quantize_and_report_print_the_same_size(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    d = tmp_path / "m"
    conv_net(d / "model.fp32.onnx", size=8, channels=64)  # ~0.16 MB: MiB and MB differ in the 3rd digit
    write_json(d / "model.fp32.json",
               new_manifest(name="m", precision="fp32", input=InputInfo("input", ("batch", 3, 8, 8)).to_dict()))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", images=rng.integers(0, 256, (8, 8, 8, 3)).astype(np.uint8), labels=np.zeros(8))
    run = CliRunner().invoke
    q = run(app, ["quantize", str(d), "--data", str(tmp_path / "c.npz"), "--preset", "x86-avx2"])
    assert q.exit_code == 0, q.stderr
    m = re.search(r"wrote\s+\S+ \((\d+\.\d+) MB; FP32 (\d+\.\d+) MB", q.stdout)
    assert m, q.stdout
    for p in ("fp32", "int8"):
        b = run(app, ["bench", str(d / f"model.{p}.onnx"), "--in-process", "--warmup-iters", "1", "--min-iters", "3",
                      "--min-seconds", "0", "-t", "1", "-o", str(tmp_path / "res")])
        assert b.exit_code == 0, b.stderr
    c = run(app, ["compare", str(tmp_path / "res"), "-o", str(tmp_path / "rep"), "--no-plots"])
    assert c.exit_code == 0, c.stderr
    rows = {r["variant"]: float(r["file_size_mb"]) for r in csv.DictReader((tmp_path / "rep/report.csv").open())}
    assert f"{rows['m-int8']:.3f}" == m.group(1)
    assert f"{rows['m-fp32']:.3f}" == m.group(2)
    assert rows["m-int8"] == pytest.approx((d / "model.int8.onnx").stat().st_size / 1e6)
    md = (tmp_path / "rep/report.md").read_text()
    assert f"| {m.group(1)} |" in md and f"| {m.group(2)} |" in md
