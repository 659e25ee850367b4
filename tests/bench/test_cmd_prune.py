"""`edgebench prune / train / sensitivity` and the pruned `export --weights` hook, through the CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from typer.testing import CliRunner

pytestmark = pytest.mark.torch


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(r, *fragments: str) -> None:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("edgebench: error:") and "Traceback" not in r.stderr + r.stdout
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """resnet20 random weights (a plain state dict), a toy 32x32 dataset, a pruned round folder."""
    import torch
    from edgebench.exporter.prune.config import RatioConfig
    from edgebench.exporter.prune.saved import save_pruned
    from edgebench.exporter.prune.structured import prune_once
    from edgebench.exporter.zoo import create_model

    d = tmp_path_factory.mktemp("prunecli")
    torch.manual_seed(0)
    model = create_model("resnet20")
    torch.save(model.state_dict(), d / "rand.pt")
    rng = np.random.default_rng(0)
    np.savez(d / "toy.npz", images=rng.integers(0, 255, (48, 32, 32, 3)).astype(np.uint8),
             labels=rng.integers(0, 10, 48))
    prune_once(model, torch.zeros(1, 3, 32, 32), RatioConfig.uniform(0.5))
    save_pruned(model, d / "pruned" / "round1", arch="resnet20", num_classes=10, stem="round1", round=1)
    return {"dir": d, "weights": d / "rand.pt", "data": d / "toy.npz", "round": d / "pruned" / "round1"}


def _prune(work: dict[str, Path], out: Path, *extra: object):
    return invoke("prune", "resnet20", "--weights", work["weights"], "--data", work["data"], "-o", out, *extra)


@pytest.mark.parametrize("ratios,fragments", [
    ("1.2", ["1.2", "outside [0, 1)"]),
    ("-0.1", ["outside [0, 1)"]),
    ("0.1,0.2", ["has 2 values but the model has 9 prunable blocks", "give 9 values"]),
    ("layer1.0.conv9=0.3", ["no prunable layer or block named 'layer1.0.conv9'", "Did you mean 'layer1.0.conv1'"]),
    ("layer1.0.conv2=0.3", ["'layer1.0.conv2' exists but is not prunable", ": output feeds a residual add"]),
    ("0.99", ["would remove every filter of 'layer1.0.conv1' (16 filters)"]),
])
def test_bad_ratios_one_line_exit_2_nothing_written(work: dict[str, Path], tmp_path: Path, ratios: str,
                                                     fragments: list[str]) -> None:
    out = tmp_path / "out"
    assert_one_line_error(_prune(work, out, "--ratios", ratios), *fragments)
    assert not out.exists()


def test_bad_options(work: dict[str, Path], tmp_path: Path) -> None:
    assert_one_line_error(_prune(work, tmp_path / "o", "--ratios", "0.3", "--importance", "l3"), "unknown importance")
    assert_one_line_error(_prune(work, tmp_path / "o", "--ratios", "0.3", "--rounds", "0"), "--rounds 0")
    assert_one_line_error(_prune(work, tmp_path / "o", "--ratios", "0.3", "--scope", "coupled"),
                          "zero-padding shortcut; use --scope internal")
    assert_one_line_error(invoke("prune", "resnet18_cifar", "--ratios", "0.3", "-o", tmp_path / "o"),
                          "has no published weights", "edgebench train resnet18_cifar")
    assert_one_line_error(invoke("prune", "resnet56x", "--ratios", "0.3", "-o", tmp_path / "o"),
                          "Did you mean 'resnet56'")


def test_missing_structure_file_is_refused(work: dict[str, Path], tmp_path: Path) -> None:
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(work["round"] / "round1.pt", lone / "round1.pt")
    for args in (["export", "resnet20", "--weights", lone / "round1.pt", "-o", tmp_path / "exp"],
                 ["prune", "resnet20", "--weights", lone / "round1.pt", "--ratios", "0.2", "-o", tmp_path / "p"]):
        assert_one_line_error(invoke(*args), "no structure.json beside it")
    assert not (tmp_path / "exp" / "model.fp32.onnx").exists()
    assert_one_line_error(invoke("export", "resnet56", "--weights", work["round"], "-o", tmp_path / "exp"),
                          "is a pruned 'resnet20', not 'resnet56'")


def test_export_accepts_a_round_folder_or_its_pt(work: dict[str, Path], tmp_path: Path) -> None:
    import onnx

    for i, w in enumerate((work["round"], work["round"] / "round1.pt")):
        out = tmp_path / f"exp{i}"
        r = invoke("export", "resnet20", "--weights", w, "-o", out, "--parity-data", "none", "--no-simplify")
        assert r.exit_code == 0, r.stderr
        graph = onnx.load(str(out / "model.fp32.onnx")).graph
        dims = {tuple(init.dims) for init in graph.initializer}
        assert (8, 16, 3, 3) in dims and (16, 8, 3, 3) in dims  # layer1 convs pruned from 16 to 8 filters
        manifest = json.loads((out / "model.fp32.json").read_text())
        assert manifest["weights"]["source"] == "pruned" and manifest["weights"]["filters"]["layer1.0.conv1"] == 8


def test_prune_logs_and_records_the_layers_it_leaves_alone(work: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "p"
    r = _prune(work, out, "--ratios", "0.5", "--no-onnx", "--limit-test", "8")
    assert r.exit_code == 0, r.stderr
    assert "9 prunable layers (scope internal)" in r.stderr
    assert "skipped 10 conv layers" in r.stderr and "10 x residual: conv1, layer1.0.conv2" in r.stderr
    skipped = {s["name"]: s for s in json.loads((out / "summary.json").read_text())["skipped_layers"]}
    assert len(skipped) == 10 and skipped["layer1.0.conv2"]["kind"] == "residual"
    assert skipped["layer1.0.conv2"]["reason"].startswith("output feeds a residual add, coupled with 'conv1'")


@pytest.mark.slow
def test_prune_train_sensitivity_flow(work: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "p"
    r = _prune(work, out, "--ratios", "0.25,0.25,0.25,0.5,0.5,0.5,0.5,0.5,0.5", "--rounds", "2",
               "--finetune-epochs", "1", "--batch-size", "16", "--train-data", work["data"], "--no-onnx")
    assert r.exit_code == 0, r.stderr
    assert "round" in r.stdout and len([ln for ln in r.stdout.splitlines() if ln.strip()[:1].isdigit()]) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rounds"][2]["filters"]["layer1.0.conv1"] == 12 and summary["rounds"][2]["filters"][
        "layer3.0.conv1"] == 32
    assert_one_line_error(_prune(work, out, "--ratios", "0.3"), "--resume or --force")

    tr = tmp_path / "t"
    r = invoke("train", "resnet20", "--weights", out / "round2", "--epochs", "1", "--batch-size", "16",
               "--train-data", work["data"], "--data", work["data"], "-o", tr)
    assert r.exit_code == 0, r.stderr
    from edgebench.exporter.prune.saved import load_pruned

    model, _ = load_pruned(tr / "best.pt")
    assert model.layer3[0].conv1.out_channels == 32
    assert json.loads((tr / "train.json").read_text())["epochs"] == 1
    assert_one_line_error(invoke("train", "resnet20", "--epochs", "1", "--train-data", work["data"], "--data",
                                 work["data"], "-o", tr), "--resume to continue or --force")

    sens = tmp_path / "s"
    r = invoke("sensitivity", "resnet20", "--weights", work["weights"], "--data", work["data"], "--grid", "0.5",
               "--limit", "16", "--target-macs", "0.2", "-o", sens)
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader((sens / "sensitivity.csv").open()))
    assert len(rows) == 9 and (sens / "sensitivity.png").is_file()
    assert "10 conv layers left alone" in r.stdout and "skipped 10 conv layers" in r.stderr
    assert len(json.loads((sens / "sensitivity.json").read_text())["skipped_layers"]) == 10
    derived = json.loads((sens / "ratios.json").read_text())
    assert derived["macs_reduction"] >= 0.2
    r = _prune(work, tmp_path / "p2", "--ratios", sens / "ratios.json", "--no-onnx")
    assert r.exit_code == 0, r.stderr
