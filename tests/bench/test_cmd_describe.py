"""`edgebench describe` and the preprocessing options of quantize/eval from the command line (CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.bench.schema import load_result
from edgebench.cli import app
from edgebench.manifest import read_manifest
from typer.testing import CliRunner

from tests.calibration.byo_graphs import IMAGE_NET_MACS, broken_net, image_net, segmentation_net

pytest.importorskip("onnx")
QUICK = ["--warmup-iters", "1", "--min-iters", "3", "--min-seconds", "0"]


def invoke(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "described in memory" not in ln]  # progress notes
    assert len(lines) == 1 and lines[0].startswith("edgebench: error:"), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]


def labelled(path: Path, n: int = 40, size: int = 16) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (n, size, size, 3)).astype(np.uint8), labels=rng.integers(0, 10, n))
    return path


def test_describe_prints_and_writes(tmp_path: Path) -> None:
    p = image_net(tmp_path / "net.onnx", layout="NHWC", batch=1, opset=11, softmax=True, input_name="input_1:0")
    code, out, err = invoke("describe", p, "--preprocessing", "symmetric", "--labels", "cifar10")
    assert code == 0, err
    assert "opset 11" in out and "input_1:0 [1, 16, 16, 3] NHWC" in out and "probabilities" in out
    assert f"{IMAGE_NET_MACS / 1e6:.2f} M MACs" in out and "described, not exported" in out
    m = read_manifest(tmp_path / "net.json")
    assert m.described and m.input is not None and m.input.preprocessing.scale == pytest.approx(1 / 127.5)
    code, out, _ = invoke("describe", p, "--preprocessing", "symmetric", "--force", "--json")
    assert code == 0 and json.loads(out)["provenance"]["source"] == "described"


def test_describe_options_and_output_path(tmp_path: Path) -> None:
    p = image_net(tmp_path / "net.onnx", size="H")  # type: ignore[arg-type]
    code, _, err = invoke("describe", p, "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--size", "24x24",
                          "--layout", "nchw", "-o", tmp_path / "elsewhere.json")
    assert code == 0, err
    assert "read the manifest beside the model (net.json)" in err
    m = read_manifest(tmp_path / "elsewhere.json")
    assert m.input is not None and m.input.shape == ("N", 3, 24, 24) and m.provenance is not None
    assert m.provenance["preprocessing"] == "options (--mean, --std, --size, --layout)"


def test_describe_quantize_bench_eval(tmp_path: Path) -> None:
    p = image_net(tmp_path / "net.onnx", opset=9, batch=1)
    data = labelled(tmp_path / "d.npz")
    assert invoke("describe", p, "--preprocessing", "unit", "--labels", "cifar10")[0] == 0
    code, out, err = invoke("quantize", p, "-d", data, "--calib-size", "16")
    assert code == 0, err
    assert "upgraded to opset 13 with onnx.version_converter" in err and "nodes" in out
    int8 = read_manifest(tmp_path / "net.int8.json")
    assert int8.described and int8.macs == IMAGE_NET_MACS and int8.graph is not None
    for model in (p, tmp_path / "net.int8.onnx"):
        code, out, err = invoke("bench", model, "-o", tmp_path / "res", "--threads", "1", "--in-process", *QUICK)
        assert code == 0, err
    results = [load_result(f).to_dict() for f in sorted((tmp_path / "res").glob("*.json"))]
    assert sorted(r["model"]["name"] for r in results) == ["net-fp32", "net-int8"]
    for r in results:  # graph MACs give the efficiency figures of a third-party model
        assert r["model"]["macs"] == IMAGE_NET_MACS and r["efficiency"]["achieved_gmacs"] > 0
    code, out, err = invoke("eval", tmp_path / "net.int8.onnx", "-d", data, "-t", "1", "--baseline", p)
    assert code == 0, err and "agreement" in out


def test_quantize_and_eval_take_the_options_without_a_manifest(tmp_path: Path) -> None:
    p = image_net(tmp_path / "net.onnx", softmax=True)
    data = labelled(tmp_path / "d.npz")
    code, _, err = invoke("quantize", p, "-d", data)
    one_line_error(code, err, "has no manifest", "edgebench describe", "same options to this command")
    code, _, err = invoke("eval", p, "-d", data)
    one_line_error(code, err, "has no manifest", "edgebench describe", "same options to eval")
    code, out, err = invoke("quantize", p, "-d", data, "--calib-size", "16", "--preprocessing", "unit",
                            "--labels", "cifar10")
    assert code == 0, err and "described in memory" in err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["d.npz", "net.int8.json", "net.int8.onnx", "net.onnx"]
    assert read_manifest(tmp_path / "net.int8.json").described
    code, out, err = invoke("eval", p, "-d", data, "-t", "1", "--preprocessing", "unit")
    assert code == 0, err
    assert "top-1" in out and "final Softmax" in out and not (tmp_path / "net.json").exists()


def test_options_refused_when_a_manifest_exists(tmp_path: Path) -> None:
    p = image_net(tmp_path / "net.onnx")
    assert invoke("describe", p, "--preprocessing", "unit")[0] == 0
    code, _, err = invoke("eval", p, "-d", labelled(tmp_path / "d.npz"), "--preprocessing", "imagenet")
    one_line_error(code, err, "already has a manifest", "describe ... --force")


def test_eval_refuses_a_non_logit_output(tmp_path: Path) -> None:
    p = segmentation_net(tmp_path / "seg.onnx")
    code, _, err = invoke("eval", p, "-d", labelled(tmp_path / "d.npz"), "--preprocessing", "unit")
    one_line_error(code, err, "not one score per class", "edgebench bench")


@pytest.mark.parametrize(("build", "args", "fragments"), [
    (lambda d: image_net(d / "n.onnx", second_image=True), ["--preprocessing", "unit"],
     ["2 image-like inputs", "which one is the image"]),
    (lambda d: image_net(d / "n.onnx", extra_input=True), ["--preprocessing", "unit"], ["non-image input", "mask"]),
    (lambda d: broken_net(d / "n.onnx"), ["--preprocessing", "unit"], ["at node 'bad_add' (Add)"]),
    (lambda d: image_net(d / "n.onnx"), ["--preprocessing", "unit", "--size", "32x32"], ["contradicts input"]),
    (lambda d: image_net(d / "n.onnx"), ["--preprocessing", "unit", "--layout", "NHWC"], ["--layout NHWC"]),
    (lambda d: image_net(d / "n.onnx", classes=1000), ["--preprocessing", "unit", "--labels", "cifar10"],
     ["names 10 classes", "has 1000"]),
    (lambda d: image_net(d / "n.onnx"), [], ["--preprocessing PRESET", "nothing is guessed"]),
    (lambda d: image_net(d / "n.onnx"), ["--preprocessing", "imagenett"], ["Did you mean 'imagenet'"]),
    (lambda d: image_net(d / "n.onnx"), ["--preprocessing", "unit", "--input-like", "resnet20"], ["not both"]),
    (lambda d: image_net(d / "n.onnx"), ["--mean", "0.5,x", "--std", "1,1"], ["--mean"]),
])
def test_describe_bad_input(tmp_path: Path, build: object, args: list[str], fragments: list[str]) -> None:
    p = build(tmp_path)  # type: ignore[operator]
    code, _, err = invoke("describe", p, *args)
    one_line_error(code, err, *fragments)
    assert not (tmp_path / "n.json").exists()


def test_describe_existing_manifest_needs_force(tmp_path: Path) -> None:
    p = image_net(tmp_path / "n.onnx")
    assert invoke("describe", p, "--preprocessing", "unit")[0] == 0
    code, _, err = invoke("describe", p, "--preprocessing", "imagenet")
    one_line_error(code, err, "already exists", "--force")
    assert invoke("describe", p, "--preprocessing", "imagenet", "--force")[0] == 0
    m = read_manifest(tmp_path / "n.json")
    assert m.input is not None and m.input.preprocessing.mean == (0.485, 0.456, 0.406)
