"""`edgebench sweep-bits` on a tiny model built here: the JSON, the table, the ONNX types per setting, and the bad
inputs (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.test_cmd_quant_types import labelled
from tests.bench.test_cmd_quantize import assert_one_line_error, invoke, model_dir, npz  # noqa: F401 (fixture)

pytest.importorskip("onnx")

FAST = ("--rounds", "1", "--iters", "2", "--calib-size", "16")


def test_sweep_bits_writes_json_and_table(model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "sweep"
    code, stdout, err = invoke("sweep-bits", model_dir, "--data", npz(tmp_path / "c.npz"), "--eval-data",
                               labelled(tmp_path / "e.npz"), "-o", out, "--weights", "8,4", "--activations", "8,16",
                               "--preset", "x86-vnni", *FAST)
    assert code == 0, err
    result = json.loads((out / "sweep-bits.json").read_text())
    assert result["schema_version"] == 1 and result["eval"]["images"] == 40
    rows = {(r["weight_bits"], r["activation_bits"]): r for r in result["rows"]}
    assert list(rows) == [(8, 8), (8, 16), (4, 8), (4, 16)]
    for key in ("file_size_mb", "gzip_mb", "top1_pct", "drop_pts", "agreement_pct", "p50_ms", "speedup_vs_fp32"):
        assert all(isinstance(r[key], float) for r in rows.values()), key
    # the ONNX types are the ones asked, and what ORT runs is the one quantize records
    assert rows[8, 8]["onnx_types"] == {"weights": {"int8": 3}, "activations": {"uint8": 5}}
    assert rows[4, 8]["onnx_types"]["weights"] == {"int4": 3}
    assert rows[8, 16]["onnx_types"]["activations"] == {"uint16": 5}
    assert rows[8, 8]["ort_cpu"] is None and rows[8, 8]["ort_runs"] == "INT8 kernels"
    assert rows[4, 8]["ort_cpu"]["all_integer"] is False and "Conv" in rows[4, 8]["ort_cpu"]["float_compute"]
    assert rows[4, 16]["ort_runs"].startswith("float on DQ (Conv x2")
    for (w, a), r in rows.items():
        manifest = json.loads((out / f"w{w}a{a}" / "model.int8.json").read_text())
        assert manifest["nodes"].get("ort_cpu") == r["ort_cpu"]
        assert (manifest["recipe"]["weight_bits"], manifest["recipe"]["activation_bits"]) == (w, a)
    lines = stdout.splitlines()
    assert any(line.startswith("FP32 ") for line in lines)
    assert any(line.startswith("4/16 ") and "int4, uint16" in line for line in lines), stdout
    assert "sweep-bits.json" in lines[-1]
    # an existing result is not overwritten without --force
    code, _, err = invoke("sweep-bits", model_dir, "--data", tmp_path / "c.npz", "--eval-data", tmp_path / "e.npz",
                          "-o", out, "--weights", "8", "--activations", "8", *FAST)
    assert_one_line_error(code, err, "exists", "--force")


@pytest.mark.parametrize(("args", "msg"), [
    (("--weights", "8,3"), "--weights 3: not a width ORT can run"),
    (("--weights", "2"), "QLinearConv"),
    (("--activations", "4"), "no CPU kernel (QLinearConv, QGemm, QLinearAdd) computes on 4-bit activations"),
    (("--weights", "8,x"), "'x' is not a bit width"),
    (("--weights", "4,4"), "repeats a width"),
    (("--activations", ","), "names no bit width"),
    (("--threads", "0"), "--threads 0"),
    (("--preset", "x86-vnn"), "unknown preset"),
    (("--calib-size", "0"), "--calib-size 0 must be >= 1"),
])
def test_bad_sweep_input(model_dir: Path, tmp_path: Path, args: tuple[str, ...], msg: str) -> None:  # noqa: F811
    out = tmp_path / "sweep"
    code, _, err = invoke("sweep-bits", model_dir, "--data", npz(tmp_path / "c.npz"), "--eval-data",
                          labelled(tmp_path / "e.npz"), "-o", out, *args)
    assert_one_line_error(code, err, msg)
    assert not out.exists()


def test_bits_sweep_run_checks_calib_size_on_construction(tmp_path: Path) -> None:
    from edgebench.bench.bits_sweep import BitsSweepRun
    from edgebench.errors import UserInputError

    with pytest.raises(UserInputError, match="--calib-size 0 must be >= 1"):
        BitsSweepRun(model=tmp_path / "none", data="cifar10", eval_data="cifar10", calib_size=0)
    assert BitsSweepRun(model=tmp_path / "none", data="a", eval_data="b").grid.settings()[0] == (8, 8)
