"""`edgebench quantize` from the command line: success paths and every bad input of the issue."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.cli import app
from edgebench.manifest import InputInfo, new_manifest
from edgebench.tools.synthetic import conv_net
from typer.testing import CliRunner

pytest.importorskip("onnx")


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    conv_net(d / "model.fp32.onnx", size=16)
    write_json(d / "model.fp32.json",
               new_manifest(name="tiny", precision="fp32", input=InputInfo("input", ("batch", 3, 16, 16)).to_dict()))
    return d


def npz(path: Path, n: int = 24, size: int = 16, channels: int = 3, dtype: type = np.uint8) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (n, size, size, channels)).astype(dtype), labels=np.zeros(n))
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_static_quantize_writes_model_and_manifest(model_dir: Path, tmp_path: Path) -> None:
    code, out, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "c.npz"), "--preset", "x86-avx2",
                            "--calib-size", "16", "--seed", "3")
    assert code == 0, err
    assert "x86-avx2" in out and "16 images" in out and "5 INT8, 0 float" in out
    m = json.loads((model_dir / "model.int8.json").read_text())
    assert m["calibration"]["size"] == 16 and m["calibration"]["seed"] == 3 and m["recipe"]["reduce_range"]
    assert files(model_dir) == ["model.fp32.json", "model.fp32.onnx", "model.int8.json", "model.int8.onnx"]


def test_auto_preset_and_target(model_dir: Path, tmp_path: Path) -> None:
    code, out, err = invoke("quantize", model_dir / "model.fp32.onnx", "-d", npz(tmp_path / "c.npz"), "--target",
                            "pi4", "-o", tmp_path / "out", "--json")
    assert code == 0, err
    m = json.loads(out)
    assert m["preset"]["preset"] == "arm64-neon" and m["preset"]["chosen_for"] == "target pi4"
    assert (tmp_path / "out" / "model.int8.onnx").is_file()


@pytest.mark.parametrize(("mode", "name"), [("dynamic", "model.int8-dynamic.onnx"), ("fp16", "model.fp16.onnx")])
def test_other_modes(model_dir: Path, mode: str, name: str) -> None:
    code, _, err = invoke("quantize", model_dir, "--mode", mode)
    assert code == 0, err
    assert (model_dir / name).is_file() and (model_dir / name).with_suffix(".json").is_file()


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgebench: error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_empty_calibration_set(model_dir: Path, tmp_path: Path) -> None:
    code, _, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "e.npz", n=0))
    assert_one_line_error(code, err, "empty")
    assert "model.int8.onnx" not in files(model_dir)


def test_wrong_size_and_wrong_channels(model_dir: Path, tmp_path: Path) -> None:
    code, _, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "big.npz", size=32))
    assert_one_line_error(code, err, "32x32", "16x16")
    code, _, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "gray.npz", channels=1))
    assert_one_line_error(code, err, "1 channels", "wants 3")
    assert files(model_dir) == ["model.fp32.json", "model.fp32.onnx"]


def test_unreadable_image_in_folder_is_named(model_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), i * 40, np.uint8)).save(tmp_path / "imgs" / "cat" / f"{i}.png")
    (tmp_path / "imgs" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    code, _, err = invoke("quantize", model_dir, "--data", tmp_path / "imgs")
    assert_one_line_error(code, err, "broken.jpg")
    (tmp_path / "imgs" / "cat" / "broken.jpg").unlink()
    code, out, err = invoke("quantize", model_dir, "--data", tmp_path / "imgs")
    assert code == 0, err
    assert "3 images" in out


def test_already_quantized_model(model_dir: Path, tmp_path: Path) -> None:
    data = npz(tmp_path / "c.npz")
    assert invoke("quantize", model_dir, "--data", data)[0] == 0
    code, _, err = invoke("quantize", model_dir / "model.int8.onnx", "--data", data, "-o", tmp_path / "again")
    assert_one_line_error(code, err, "already quantized", "FP32 parent")
    assert not (tmp_path / "again").exists()


def test_nan_in_calibration_data(model_dir: Path, tmp_path: Path) -> None:
    x = np.zeros((8, 16, 16, 3), np.float32)
    x[5, 0, 0, 0] = np.inf
    np.savez(tmp_path / "nan.npz", images=x, labels=np.zeros(8))
    code, _, err = invoke("quantize", model_dir, "--data", tmp_path / "nan.npz")
    assert_one_line_error(code, err, "NaN/Inf", "image 5")


def test_unknown_preset_suggests(model_dir: Path, tmp_path: Path) -> None:
    code, _, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "c.npz"), "--preset", "arm64-dotprd")
    assert_one_line_error(code, err, "unknown preset 'arm64-dotprd'", "Did you mean 'arm64-dotprod'?")
    code, _, err = invoke("quantize", model_dir, "--data", npz(tmp_path / "c.npz"), "--target", "pi6")
    assert_one_line_error(code, err, "unknown target device 'pi6'")


def test_missing_data_existing_output_and_bad_mode(model_dir: Path, tmp_path: Path) -> None:
    code, _, err = invoke("quantize", model_dir)
    assert_one_line_error(code, err, "needs calibration data")
    data = npz(tmp_path / "c.npz")
    assert invoke("quantize", model_dir, "--data", data)[0] == 0
    code, _, err = invoke("quantize", model_dir, "--data", data)
    assert_one_line_error(code, err, "already exists", "--force")
    assert invoke("quantize", model_dir, "--data", data, "--force")[0] == 0
    code, _, err = invoke("quantize", model_dir, "--mode", "int4")
    assert_one_line_error(code, err, "--mode 'int4'")
    code, _, err = invoke("quantize", tmp_path / "missing.onnx", "--data", data)
    assert_one_line_error(code, err, "does not exist")
    code, _, err = invoke("quantize", model_dir, "--data", data, "--calib-size", "0")
    assert_one_line_error(code, err, "--calib-size 0")
