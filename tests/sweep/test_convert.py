"""The convert stage on a tiny real sweep: ncnn (pnnx) and OpenVINO run, a conversion refused for parity is a
failed cell with its reason while the other runtimes go on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.cli import app
from typer.testing import CliRunner

from tests.sweep.tiny_sweep import sweep_text


def _needs(*modules: str) -> None:
    for m in modules:
        pytest.importorskip(m)


def test_ncnn_and_openvino_cells_and_a_parity_refusal(tiny: Path) -> None:
    _needs("ncnn", "pnnx", "openvino")
    text = sweep_text(tiny, models=[str(tiny / "tiny")], precisions='["fp32"]', threads="[1]")
    text = text.replace('runtimes = ["ort-cpu"]', 'runtimes = ["ort-cpu", "openvino", "ncnn"]')
    (tiny / "s.toml").write_text(text)
    r = CliRunner().invoke(app, ["sweep", str(tiny / "s.toml"), "-o", str(tiny / "out")])
    s = json.loads((tiny / "out" / "summary.json").read_text())
    ncnn = [n for n in s["nodes"] if n["stage"] == "convert" and n["settings"]["runtime"] == "ncnn"]
    assert len(ncnn) == 1 and ncnn[0]["status"] == "done", r.output
    names = {p.name.split(".b1")[0] for p in (tiny / "out" / "results" / "local").glob("*.json")}
    assert {"tiny-fp32.ncnn", "tiny-fp32.openvino", "tiny-fp32.ort-cpu"} <= names
    res = json.loads(next((tiny / "out" / "results" / "local").glob("tiny-fp32.ncnn.*.json")).read_text())
    assert res["runtime"]["name"] == "ncnn" and res["model"]["path"].endswith("ncnn/fp32/model.param")
    assert res["accuracy"]["n"] == 48 and res["sweep"]["precision"] == "fp32"

    # no float difference allowed: ncnn's FP32 model is refused by the parity check -> its cell fails, the
    # others are measured; the refusal's reason is in the summary and error.json
    strict = text.replace("[bench]", "[convert]\natol = 0.0\nrtol = 0.0\n[bench]")
    (tiny / "strict.toml").write_text(strict)
    r = CliRunner().invoke(app, ["sweep", str(tiny / "strict.toml"), "-o", str(tiny / "strict")])
    assert r.exit_code == 1, r.output
    s = json.loads((tiny / "strict" / "summary.json").read_text())
    failed = [n for n in s["nodes"] if n["status"] == "failed"]
    assert [n["stage"] for n in failed] == ["convert"] and "ParityError" in failed[0]["error"]
    assert "refused, nothing written" in failed[0]["error"] and "max|diff|" in failed[0]["error"]
    cell = next(n for n in s["nodes"] if n["stage"] == "bench" and n["settings"]["runtime"] == "ncnn")
    assert cell["status"] == "skipped" and "ParityError" in cell["error"]
    names = {p.name.split(".b1")[0] for p in (tiny / "strict" / "results" / "local").glob("*.json")}
    assert "tiny-fp32.openvino" in names and "tiny-fp32.ort-cpu" in names and "tiny-fp32.ncnn" not in names
