"""`edgebench eval --baseline`: paired metrics of two models on the same images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.bench.evaluate import paired_metrics
from edgebench.cli import app
from edgebench.errors import UserInputError
from edgebench.manifest import InputInfo, new_manifest
from edgebench.tools.synthetic import conv_net
from typer.testing import CliRunner


def test_paired_metrics_counts_each_direction() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5])
    base = np.array([0, 1, 2, 9, 9, 9])  # 3 right
    new = np.array([0, 7, 2, 3, 8, 9])  # 3 right: lost image 1, gained image 3, image 4 changed but wrong
    m = paired_metrics(new, base, labels)
    assert m == {"n": 6, "agree": 3, "agreement_pct": 50.0, "flipped_to_correct": 1, "flipped_to_wrong": 1,
                 "changed_both_wrong": 1, "top1_delta_pts": 0.0}
    same = paired_metrics(base, base, labels)
    assert same["agreement_pct"] == 100.0 and same["flipped_to_wrong"] == same["flipped_to_correct"] == 0
    with pytest.raises(UserInputError, match="one prediction per image"):
        paired_metrics([0, 1], [0], [0, 1])


@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    pytest.importorskip("onnx")
    from edgebench.calibration.datasets import Dataset
    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import resolve_preset

    d = tmp_path / "m"
    conv_net(d / "model.fp32.onnx", size=16, channels=16)
    write_json(d / "model.fp32.json",
               new_manifest(name="tiny", precision="fp32", input=InputInfo("input", ("batch", 3, 16, 16)).to_dict()))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (200, 16, 16, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 200)
    np.savez(tmp_path / "data.npz", images=images, labels=labels)
    quantize_static_model(d / "model.fp32.onnx", Dataset(images[:64], labels[:64], "c"), resolve_preset("x86-avx2"))
    return d / "model.int8.onnx", d / "model.fp32.onnx", tmp_path / "data.npz"


def test_eval_baseline_cli_agrees_with_single_evals(pair: tuple[Path, Path, Path]) -> None:
    int8, fp32, data = pair
    r = CliRunner().invoke(app, ["eval", str(int8), "--baseline", str(fp32), "--data", str(data), "--json"])
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    single = {}
    for p in (int8, fp32):
        s = CliRunner().invoke(app, ["eval", str(p), "--data", str(data), "--json"])
        single[p] = json.loads(s.stdout)["top1_pct"]
    assert out["model"]["top1_pct"] == single[int8] and out["baseline"]["top1_pct"] == single[fp32]
    p = out["paired"]
    assert p["n"] == 200 and p["top1_delta_pts"] == pytest.approx(single[int8] - single[fp32])
    assert p["agree"] + p["flipped_to_correct"] + p["flipped_to_wrong"] + p["changed_both_wrong"] == 200
    assert p["agreement_pct"] > 50.0  # INT8 of the same network mostly agrees with its parent
    text = CliRunner().invoke(app, ["eval", str(int8), "-b", str(fp32), "--data", str(data), "--limit", "50"])
    assert text.exit_code == 0 and "agreement" in text.stdout and "on 50 images" in text.stdout


def test_eval_baseline_bad_inputs(pair: tuple[Path, Path, Path], tmp_path: Path) -> None:
    int8, _, data = pair
    r = CliRunner().invoke(app, ["eval", str(int8), "--baseline", str(int8), "--data", str(data)])
    assert r.exit_code == 2 and "is the model itself" in r.stderr
    r = CliRunner().invoke(app, ["eval", str(int8), "--baseline", str(tmp_path / "nope.onnx"), "--data", str(data)])
    assert r.exit_code == 2 and "does not exist" in r.stderr
