"""`edgebench quantize --accuracy-budget/--weight-bits`, `qat` and `sparsify`: success and the bad inputs of the
issue (one line, exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.manifest import load_manifest

from tests.bench.test_cmd_quantize import files, invoke, model_dir, npz  # noqa: F401 (fixture)

pytest.importorskip("onnx")


def labelled(path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(3)
    np.savez(path, images=rng.integers(0, 256, (n, 16, 16, 3)).astype(np.uint8), labels=rng.integers(0, 10, n))
    return path


def test_budget_met_writes_the_record(model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    code, out, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "c.npz"), "--batch-size", "8",
                            "--accuracy-budget", "10", "--eval-data", labelled(tmp_path / "e.npz"))
    assert code == 0, err
    assert "budget   10.0 points" in out and "(met)" in out
    aa = load_manifest(model_dir / "model.int8.json")["accuracy_aware"]
    assert aa["met"] and aa["eval_images"] == 40 and aa["drop_after_pts"] <= 10


def test_fallback_option_low_bit(model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    """--weight-bits 4 with a budget: the record says int8 fallback (the default for low-bit weights)."""
    code, out, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "c.npz"), "--batch-size", "8",
                            "--weight-bits", "4", "--accuracy-budget", "10", "--eval-data",
                            labelled(tmp_path / "e.npz"))
    assert code == 0, err
    assert "(met)" in out and "8-bit: " in out
    aa = load_manifest(model_dir / "model.int8.json")["accuracy_aware"]
    assert aa["fallback"] == "int8" and aa["fell_back"] == []


def test_weight_bits_option(model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    code, out, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "c.npz"), "--batch-size", "8",
                            "--weight-bits", "4")
    assert code == 0, err
    assert "bits w4/a8" in out and "float compute on dequantized tensors: Conv x2" in out
    assert load_manifest(model_dir / "model.int8.json")["nodes"]["weight_types"] == {"int4": 3}


@pytest.mark.parametrize(("args", "msg"), [
    (("--accuracy-budget", "-1", "--eval-data", "X"), "negative"),
    (("--accuracy-budget", "400", "--eval-data", "X"), "not a budget"),
    (("--accuracy-budget", "0.3"), "needs labelled images"),
    (("--eval-data", "X"), "go with --accuracy-budget"),
    (("--weight-bits", "3"), "weight-bits 3"),
    (("--activation-bits", "4"), "activation-bits 4"),
    (("--weight-bits", "4", "--mode", "dynamic"), "ConvInteger"),
    (("--accuracy-budget", "0.3", "--eval-data", "X", "--fallback", "int4"), "--fallback 'int4'"),
    (("--accuracy-budget", "0.3", "--eval-data", "X", "--fallback", "int8"), "already 8-bit"),
    (("--fallback", "float"), "go with --accuracy-budget"),
])
def test_bad_quantize_input(model_dir: Path, tmp_path: Path, args: tuple[str, ...], msg: str) -> None:  # noqa: F811
    before = files(model_dir)
    code, _, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "c.npz"), *args)
    assert code == 2 and msg in err and "Traceback" not in err, err
    assert files(model_dir) == before


def test_budget_on_an_already_quantized_model(model_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    assert invoke("quantize", model_dir, "--data", npz(tmp_path / "c.npz"), "--batch-size", "8")[0] == 0
    code, _, err = invoke("quantize", model_dir / "model.int8.onnx", "--data", tmp_path / "c.npz",
                          "--accuracy-budget", "0.3", "--eval-data", labelled(tmp_path / "e.npz"), "-o", tmp_path)
    assert code == 2 and "already quantized" in err


@pytest.mark.parametrize(("args", "msg"), [
    (("sparsify", "resnet20", "--sparsity", "1.0", "-o", "X"), "[0, 1)"),
    (("sparsify", "resnet20", "--sparsity", "0.5", "--scope", "row", "-o", "X"), "--scope 'row'"),
    (("qat", "resnet20", "--epochs", "-2", "-o", "X"), "--epochs -2"),
    (("qat", "resnet20", "--preset", "qdq-s8s8-tensor", "--method", "x", "-o", "X"), "No such option"),
])
def test_bad_qat_and_sparsify_input(tmp_path: Path, args: tuple[str, ...], msg: str) -> None:
    code, out, err = invoke(*[a if a != "X" else str(tmp_path / "o") for a in args])
    assert code == 2 and msg in (err + out), err + out
    assert not (tmp_path / "o").exists()
