"""The sweep's prune stage fine-tunes with distillation from the model before pruning (`prune --distill`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from typer.testing import CliRunner

pytestmark = [pytest.mark.torch, pytest.mark.slow]


def test_a_pruned_variant_fine_tuned_with_distillation(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, images=rng.integers(0, 256, (32, 32, 32, 3)).astype(np.uint8), labels=rng.integers(0, 10, 32))
    (tmp_path / "s.toml").write_text(f"""
name = "kd"
models = ["resnet20"]
[export]
random_init = true
[prune]
ratios = [0.5]
finetune_epochs = 1
batch_size = 16
train_data = "{data}"
limit_train = 32
distill = true
distill_alpha = 0.7
[quantize]
precisions = ["fp32"]
[eval]
data = "{data}"
limit = 32
[bench]
runtimes = ["ort-cpu"]
threads = [1]
min_seconds = 0
min_iters = 3
warmup_iters = 1
""", encoding="utf-8")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["sweep", str(tmp_path / "s.toml"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    (prune,) = [n for n in s["nodes"] if n["stage"] == "prune"]
    assert prune["status"] == "done" and prune["settings"]["distill"] == {"alpha": 0.7, "temperature": 4.0}
    run = json.loads((out / "cache" / prune["key"] / "run" / "summary.json").read_text())
    assert run["distill"]["alpha"] == 0.7 and run["finetune"]["epochs"] == 1  # what prune --distill records
    variants = {json.loads(p.read_text())["sweep"]["variant"] for p in (out / "results" / "local").glob("*.json")}
    assert variants == {"resnet20-fp32", "resnet20-p50-fp32"}
