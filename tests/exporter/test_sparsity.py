"""Magnitude sparsity: the fraction of zeros is the one asked, and survives ONNX export and INT8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from edgebench.calibration.datasets import Dataset  # noqa: E402
from edgebench.calibration.quantize import quantize_static_model  # noqa: E402
from edgebench.calibration.recipes import resolve_preset  # noqa: E402
from edgebench.errors import UserInputError  # noqa: E402
from edgebench.exporter.prune.sparsity import (  # noqa: E402
    SparsityConfig,
    apply_masks,
    magnitude_masks,
    onnx_zero_fraction,
    run_sparsify,
    zero_fraction,
)
from edgebench.exporter.zoo import ModelSpec  # noqa: E402
from edgebench.manifest import InputInfo, load_manifest  # noqa: E402

from tests.exporter.tiny_nets import conv_resnet  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.5, 0.75, 0.9])
def test_masks_zero_the_fraction_asked(scope: str, sparsity: float) -> None:
    model = conv_resnet()
    apply_masks(model, magnitude_masks(model, sparsity, scope))
    z = zero_fraction(model)
    assert z["overall"] == pytest.approx(sparsity, abs=2e-3)
    if scope == "layer":
        assert all(v == pytest.approx(sparsity, abs=0.02) for v in z["per_layer"].values())


def test_sparsity_survives_finetune_export_and_int8(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    data = Dataset(rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8), rng.integers(0, 10, 64), "toy")
    spec = ModelSpec("tiny", lambda num_classes=10: conv_resnet(), InputInfo("input", ("batch", 3, 16, 16)), "test",
                     "tiny conv-shortcut resnet")
    m = run_sparsify(conv_resnet(), spec, tmp_path, data, SparsityConfig(0.75, epochs=1, batch_size=16), force=True)
    sp = m.sparsity
    assert sp is not None and sp["zero_fraction_torch"] == pytest.approx(0.75, abs=2e-3)
    assert sp["zero_fraction_onnx"] >= 0.75 - 2e-3  # BN folding scales zeros, never un-zeros them
    assert sp["gzip_mb"] < m.file_size_mb
    assert load_manifest(tmp_path / "model.fp32.json")["sparsity"]["target"] == 0.75
    int8 = quantize_static_model(tmp_path, data, resolve_preset("x86-vnni"), batch_size=16)
    assert int8.sparsity == m.sparsity  # the INT8 child keeps the network's sparsity record
    assert onnx_zero_fraction(tmp_path / "model.int8.onnx")["overall"] >= 0.75 - 2e-3


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])
def test_sparsity_outside_range_is_refused(bad: float) -> None:
    with pytest.raises(UserInputError, match=r"\[0, 1\)"):
        SparsityConfig(bad)
