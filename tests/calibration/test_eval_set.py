"""The accuracy-aware search evaluates through the model's task itself: `BudgetConfig` is plain data, no callback."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from edgebench.atomic import write_json
from edgebench.calibration.accuracy_aware import AccuracyBudget
from edgebench.calibration.entry import BudgetConfig, StaticConfig
from edgebench.calibration.eval_set import LOADERS, eval_set
from edgebench.calibration.recipes import resolve_preset
from edgebench.manifest import InputInfo, Manifest, new_manifest, sha256_file
from edgebench.task import TASKS
from edgebench.tools.synthetic import conv_net


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    p = tmp_path / "eval.npz"
    np.savez(p, images=rng.integers(0, 256, (20, 16, 16, 3)).astype(np.uint8), labels=rng.integers(0, 10, 20))
    return p


def test_budget_config_is_plain_data(labelled: Path) -> None:
    """No callable inside: what to evaluate on, as values (two configs of the same settings are equal)."""
    static = StaticConfig(resolve_preset("x86-avx2"), str(labelled))
    c = BudgetConfig(static, AccuracyBudget(1.0), str(labelled), 12)
    assert [f.name for f in fields(c)] == ["static", "budget", "eval_spec", "eval_size"]
    assert not any(callable(getattr(c, f.name)) for f in fields(c))
    assert c == BudgetConfig(static, AccuracyBudget(1.0), str(labelled), 12)


def test_every_registered_task_has_an_eval_loader() -> None:
    assert set(LOADERS) == set(TASKS.names())


def test_classification_eval_set_predicts_its_images(labelled: Path, tmp_path: Path) -> None:
    path = conv_net(tmp_path / "tiny" / "model.fp32.onnx", size=16)
    d = new_manifest(name="tiny", precision="fp32", onnx_file=path.name, onnx_sha256=sha256_file(path),
                     input=InputInfo("input", ("batch", 3, 16, 16)).to_dict())
    write_json(path.with_suffix(".json"), d)  # evaluate reads the preprocessing from the model's manifest
    manifest = Manifest.from_dict(d)
    ev, predict, task = eval_set(manifest, str(labelled), 12)
    assert task.name == "classification" and len(ev) == 12
    preds = predict(path)
    assert len(preds) == 12 and all(isinstance(p, int) for p in preds)
