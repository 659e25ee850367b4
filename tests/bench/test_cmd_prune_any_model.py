"""`prune`/`train` on any model spec (--model-file, tv:), distillation options, latency-aware bad input (CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from typer.testing import CliRunner

from tests.bench.test_cmd_prune import assert_one_line_error, invoke

pytestmark = pytest.mark.torch

NET = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.Hardswish())
        self.b = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.c = nn.Sequential(nn.Conv2d(32, 24, 3, stride=2, padding=1), nn.BatchNorm2d(24), nn.ReLU())
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = self.dw(torch.cat([self.a(x), self.b(x)], 1))
        return self.fc(self.c(x).mean((2, 3)))


def build():
    return Net()
'''


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import importlib.util

    import torch

    d = tmp_path_factory.mktemp("anymodel")
    (d / "net.py").write_text(NET)
    spec = importlib.util.spec_from_file_location("anymodel_net", d / "net.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    torch.save(mod.build().state_dict(), d / "w.pt")
    rng = np.random.default_rng(0)
    np.savez(d / "toy.npz", images=rng.integers(0, 255, (40, 32, 32, 3)).astype(np.uint8),
             labels=rng.integers(0, 10, 40))
    return {"dir": d, "file": d / "net.py", "weights": d / "w.pt", "data": d / "toy.npz"}


def _mf(user: dict[str, Path], factory: str = "build") -> list[object]:
    return ["--model-file", f"{user['file']}:{factory}", "--input-like", "resnet20"]


def test_prune_a_model_file_keeps_it_valid_and_exports(user: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "p"
    r = invoke("prune", *_mf(user), "-w", user["weights"], "--ratios", "0.3", "--data", user["data"],
               "--train-data", user["data"], "-e", "1", "--batch-size", "8", "--distill", "-o", out)
    assert r.exit_code == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert {la["name"] for la in s["prunable_layers"]} >= {"a.0", "b.0"}  # through the concatenation
    assert s["rounds"][1]["filters"]["a.0"] == 11 and s["rounds"][1]["filters"]["dw"] == 22  # depthwise follows
    assert s["distill"]["alpha"] == 0.9 and s["rounds"][1]["distill"]["temperature"] == 4.0
    assert (out / "round1" / "model.fp32.onnx").exists()  # export ran its parity check
    # the pruned round of a user model loads back through the same --model-file (export, train)
    r = invoke("export", *_mf(user), "--weights", out / "round1", "-o", tmp_path / "e", "--parity-data", "none")
    assert r.exit_code == 0, r.stderr


@pytest.mark.slow  # ~8 s idle: prunes and exports a torchvision MobileNetV3-small
def test_prune_a_torchvision_model(tmp_path: Path, user: dict[str, Path]) -> None:
    import torch
    from edgebench.exporter.zoo import create_model

    torch.manual_seed(0)
    torch.save(create_model("tv:mobilenet_v3_small").state_dict(), tmp_path / "mnv3.pt")
    out = tmp_path / "tvp"
    r = invoke("prune", "tv:mobilenet_v3_small", "-w", tmp_path / "mnv3.pt", "--ratios", "0.25", "--data",
               user["data"], "--limit-test", "2", "-o", out)
    assert r.exit_code == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["rounds"][1]["macs"] < s["rounds"][0]["macs"]
    assert (out / "round1" / "model.fp32.onnx").exists()


def test_bad_input_one_line(user: dict[str, Path], tmp_path: Path) -> None:
    r = invoke("prune", *_mf(user, "biuld"), "-w", user["weights"], "--ratios", "0.3", "-o", tmp_path / "x")
    assert_one_line_error(r, "no factory 'biuld'", "build")
    r = invoke("train", *_mf(user), "-w", user["weights"], "--distill", "--train-data", user["data"], "--data",
               user["data"], "-o", tmp_path / "t")
    assert_one_line_error(r, "--distill needs a teacher")
    r = invoke("train", *_mf(user), "-w", user["weights"], "--teacher", "tv:resnet18", "--train-data", user["data"],
               "--data", user["data"], "-o", tmp_path / "t2")
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    r = invoke("prune", *_mf(user), "-w", user["weights"], "--target-speedup", "2", "-o", tmp_path / "y")
    assert_one_line_error(r, "--latency-table")
    assert not (tmp_path / "y").exists()


def test_latency_table_of_another_precision_or_model_is_refused(tmp_path: Path, user: dict[str, Path]) -> None:
    r = invoke("latency-table", *_mf(user), "-w", user["weights"], "--precision", "fp32", "--rounds", "1",
               "-o", tmp_path / "t.json")
    assert r.exit_code == 0, r.stderr
    table = json.loads((tmp_path / "t.json").read_text())
    assert table["precision"] == "fp32" and table["fingerprint"]["cpu"] and table["model"]["hash"]
    base = ["prune", *_mf(user), "-w", user["weights"], "--latency-table", tmp_path / "t.json",
            "--data", user["data"], "--train-data", user["data"]]
    assert_one_line_error(invoke(*base, "--target-speedup", "1.2", "--precision", "int8", "-o", tmp_path / "a"),
                          "precision 'fp32', not 'int8'")
    assert_one_line_error(invoke(*base, "--target-speedup", "50", "-o", tmp_path / "b"), "best reachable")
    r = invoke("prune", "resnet20", "-w", tmp_path / "none.pt", "--latency-table", tmp_path / "t.json",
               "--target-speedup", "1.2", "-o", tmp_path / "c")
    assert r.exit_code == 2
    _ = CliRunner, app


def test_train_seed_draws_the_initial_weights(user: dict[str, Path], tmp_path: Path) -> None:
    """`train --seed` makes a from-scratch run reproducible: the same seed gives the same weights."""
    import torch

    def run(seed: int, name: str) -> dict[str, torch.Tensor]:
        r = invoke("train", *_mf(user), "--epochs", "1", "--batch-size", "8", "--seed", seed, "--train-data",
                   user["data"], "--data", user["data"], "-o", tmp_path / name)
        assert r.exit_code == 0, r.output
        ckpt = torch.load(tmp_path / name / "last.pt", map_location="cpu", weights_only=False)
        return ckpt.get("model", ckpt.get("state_dict", ckpt)) if isinstance(ckpt, dict) else ckpt

    a, b, c = run(3, "a"), run(3, "b"), run(4, "c")
    keys = [k for k, v in a.items() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    assert keys and all(torch.equal(a[k], b[k]) for k in keys)
    assert not all(torch.equal(a[k], c[k]) for k in keys)


def test_a_model_torch_pruning_cannot_trace_is_one_line(tmp_path: Path, user: dict[str, Path]) -> None:
    """ShuffleNet's channel shuffle breaks torch-pruning's graph (ZeroDivisionError): one line, exit 2."""
    import torch
    from edgebench.exporter.zoo import create_model

    torch.save(create_model("tv:shufflenet_v2_x0_5").state_dict(), tmp_path / "sn.pt")
    r = invoke("prune", "tv:shufflenet_v2_x0_5", "-w", tmp_path / "sn.pt", "--ratios", "0.3", "--data",
               user["data"], "--limit-test", "2", "-o", tmp_path / "s")
    assert_one_line_error(r, "cannot trace the channel dependencies", "channel shuffle")
    assert not (tmp_path / "s").exists()
