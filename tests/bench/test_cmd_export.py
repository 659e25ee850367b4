"""`edgebench export`, `edgebench models`, `edgebench eval` through the CLI: outputs and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.cli import app
from typer.testing import CliRunner

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(r, code: int, *fragments: str) -> None:
    assert r.exit_code == code, (r.exit_code, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("warning:", "note:"))]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("edgebench: error:") and "Traceback" not in r.stderr + r.stdout
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.fixture(scope="module")
def r20_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ResNet-20 checkpoint saved like akamaster's (DataParallel prefixes inside a dict)."""
    import torch
    from edgebench.exporter.zoo import create_model

    torch.manual_seed(0)
    p = tmp_path_factory.mktemp("w") / "r20.th"
    sd = create_model("resnet20").state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "best_prec1": 10.0}, p)
    return p


def test_export_writes_model_and_manifest(r20_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "r20"
    r = invoke("export", "resnet20", "--weights", r20_weights, "-o", out, "--parity-data", "none")
    assert r.exit_code == 0, r.stderr
    assert "params 0.270 M, MACs 40.6 M" in r.stdout and "parity: random max|diff|" in r.stdout
    m = json.loads((out / "model.fp32.json").read_text())
    assert m["weights"]["source"] == "user" and m["weights"]["file"] == "r20.th"
    assert m["parity"]["passed"] and "real" not in m["parity"]
    # eval needs real data; a tiny .npz of 32x32 images works anywhere
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, 30))
    e = invoke("eval", out, "--data", tmp_path / "d.npz", "--json")
    assert e.exit_code == 0, e.stderr
    res = json.loads(e.stdout)
    assert res["n"] == 30 and 0 <= res["top1_pct"] <= res["top5_pct"] <= 100


def test_export_fixed_batch_json(r20_weights: Path, tmp_path: Path) -> None:
    r = invoke("export", "resnet20", "-w", r20_weights, "-o", tmp_path, "--batch", "4", "--no-simplify",
               "--parity-data", "none", "--json")
    assert r.exit_code == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["input"]["shape"] == [4, 3, 32, 32] and m["simplify"]["applied"] is False


def test_models_lists_zoo() -> None:
    r = invoke("models", "--json")
    assert r.exit_code == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["resnet20"]["params"] == 269_722 and rows["resnet20"]["input"] == ["batch", 3, 32, 32]
    assert rows["resnet56"]["weights"] == "resnet56-4bfd9763.th"
    assert rows["resnet18_cifar"]["macs"] > rows["resnet56"]["macs"] > rows["resnet20"]["macs"]


def test_unknown_model_suggests(tmp_path: Path) -> None:
    assert_one_line_error(invoke("export", "resnet2", "-o", tmp_path), 2, "unknown model 'resnet2'", "Did you mean")
    assert_one_line_error(invoke("export", "tv:resnt18", "-o", tmp_path), 2, "tv:resnet18")


def test_checkpoint_of_another_architecture(r20_weights: Path, tmp_path: Path) -> None:
    r = invoke("export", "resnet56", "--weights", r20_weights, "-o", tmp_path / "o")
    assert_one_line_error(r, 2, "does not fit model 'resnet56'", "missing keys")
    assert not (tmp_path / "o" / "model.fp32.onnx").exists()


def test_checkpoint_needing_pickled_code(tmp_path: Path) -> None:
    import torch
    from edgebench.exporter.zoo import create_model

    p = tmp_path / "whole.pt"
    torch.save(create_model("resnet20"), p)
    assert_one_line_error(invoke("export", "resnet20", "--weights", p, "-o", tmp_path / "o"), 2,
                          "needs pickled code", "torch.save(model.state_dict()")


def test_opset_the_ops_cannot_use(r20_weights: Path, tmp_path: Path) -> None:
    r = invoke("export", "resnet20", "-w", r20_weights, "--opset", "9", "-o", tmp_path / "o", "--parity-data", "none")
    assert_one_line_error(r, 2, "cannot express this model at opset 9")
    assert not (tmp_path / "o").exists()  # nothing written, not even an empty folder (docs/errors.md)
    assert_one_line_error(invoke("export", "resnet20", "--opset", "99", "-o", tmp_path), 2, "--opset 99")


def test_existing_output_without_force(tmp_path: Path) -> None:
    (tmp_path / "model.fp32.onnx").write_bytes(b"keep me")
    assert_one_line_error(invoke("export", "resnet20", "-o", tmp_path), 2, "already exists", "--force")
    assert (tmp_path / "model.fp32.onnx").read_bytes() == b"keep me"


def test_model_file(tmp_path: Path) -> None:
    f = tmp_path / "mynet.py"
    f.write_text("import torch\n\ndef build():\n    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), "
                 "torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10))\n")
    assert_one_line_error(invoke("export", "--model-file", f"{f}:biuld", "--input-like", "resnet20", "-o", tmp_path),
                          2, "no factory 'biuld'", "Did you mean 'build'")
    r = invoke("export", "--model-file", f"{f}:build", "--input-like", "resnet20", "-o", tmp_path / "o",
               "--random-init", "--parity-data", "none")
    assert r.exit_code == 0, r.stderr
    assert json.loads((tmp_path / "o" / "model.fp32.json").read_text())["name"] == "mynet:build"


def test_eval_of_bare_onnx_refuses_to_guess(tiny_onnx: Path, tmp_path: Path) -> None:
    import numpy as np

    np.savez(tmp_path / "d.npz", images=np.zeros((2, 16, 16, 3), np.uint8), labels=np.zeros(2, np.int64))
    assert_one_line_error(invoke("eval", tiny_onnx, "--data", tmp_path / "d.npz"), 2, "no manifest")


@pytest.mark.data
@pytest.mark.slow
def test_export_published_resnet20_default(tmp_path: Path, shared_data: Path) -> None:
    """The `make export` path: published weights found locally, real-image parity, top-1 in the summary."""
    r = invoke("export", "resnet20", "-o", tmp_path, "--data-dir", shared_data, "--no-download",
               "--parity-images", "200")
    assert r.exit_code == 0, r.stderr
    assert "top-1 (ONNX Runtime)" in r.stdout and "(published: 91.73 %" in r.stdout
    assert "on 1000 images of cifar10" in r.stdout
    m = json.loads((tmp_path / "model.fp32.json").read_text())
    assert m["weights_sha256"] == "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8"
    assert m["parity"]["real"]["n"] == 200 and m["parity"]["real"]["top1_agreement"] == 1.0
