"""Bit widths: the ONNX types are the ones asked, 6-bit weights stay in [-31, 31], and what ORT cannot run is
refused with the ops named."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from edgebench.calibration.bits import activation_types, weight_types
from edgebench.calibration.quantize import quantize_dynamic_model, quantize_static_model
from edgebench.calibration.recipes import QuantRecipe, resolve_preset
from edgebench.errors import UserInputError

from tests.calibration.test_quantize import exported, images, run

onnx = pytest.importorskip("onnx")


def _quantize(tmp_path: Path, preset: str = "x86-vnni", **bits: int) -> tuple[dict, Path]:
    model = exported(tmp_path)
    choice = resolve_preset(preset)
    choice = replace(choice, recipe=choice.recipe.with_overrides(**bits))
    m = quantize_static_model(model, images(), choice, batch_size=8, output=tmp_path / "q.onnx").to_dict()
    return m, tmp_path / "q.onnx"


@pytest.mark.parametrize(("preset", "wbits", "abits", "wtype", "atype"), [
    ("x86-vnni", 8, 8, "int8", "uint8"),
    ("x86-vnni", 4, 8, "int4", "uint8"),
    ("x86-vnni", 8, 16, "int8", "uint16"),
    ("arm64-dotprod", 4, 16, "int4", "int16"),
])
def test_onnx_types_are_the_ones_asked(tmp_path: Path, preset: str, wbits: int, abits: int, wtype: str,
                                       atype: str) -> None:
    m, path = _quantize(tmp_path, preset, weight_bits=wbits, activation_bits=abits)
    proto = onnx.load(str(path))
    assert set(weight_types(proto)) == {wtype}
    assert set(activation_types(proto)) == {atype}
    assert m["recipe"]["weight_bits"] == wbits and m["recipe"]["activation_bits"] == abits
    assert m["nodes"]["weight_types"] == weight_types(proto)
    if (wbits, abits) != (8, 8):  # ORT's CPU kernels are 8-bit: the Convs run in float on dequantized tensors
        assert m["nodes"]["ort_cpu"]["float_compute"].get("Conv") == 2
        assert not m["nodes"]["ort_cpu"]["all_integer"]
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    assert np.isfinite(run(path, x)).all()


def test_six_bit_weights_are_narrowed_and_still_accurate(tmp_path: Path) -> None:
    m6, p6 = _quantize(tmp_path / "a", weight_bits=6)
    _, p8 = _quantize(tmp_path / "b")
    proto = onnx.load(str(p6))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    weights = [inits[n.input[0]] for n in proto.graph.node if n.op_type == "DequantizeLinear"
               and n.input[0] in inits and inits[n.input[0]].dtype == np.int8]
    assert weights and all(np.abs(w.astype(int)).max() == 31 for w in weights)  # every channel's max hits 31
    assert m6["nodes"]["ort_cpu"]["all_integer"]  # int8 storage: ORT's INT8 kernels still run it
    x = np.random.default_rng(1).standard_normal((8, 3, 16, 16)).astype(np.float32)
    fp32 = run(tmp_path / "a" / "model.fp32.onnx", x)
    err6, err8 = (np.abs(run(p, x) - fp32).max() for p in (p6, p8))
    assert err8 < err6 < 0.25 * np.abs(fp32).max()  # coarser than 8 bits, but the bias was rescaled to match


def test_bit_widths_ort_cannot_run_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="weight-bits 3"):
        QuantRecipe(weight_bits=3)
    with pytest.raises(UserInputError, match="activation-bits 4"):
        QuantRecipe(activation_bits=4)
    with pytest.raises(UserInputError, match="QLinearConv"):
        QuantRecipe(quant_format="qoperator", weight_bits=4)
    choice = resolve_preset("x86-vnni")
    choice = replace(choice, recipe=choice.recipe.with_overrides(weight_bits=4))
    with pytest.raises(UserInputError, match="ConvInteger"):
        quantize_dynamic_model(exported(tmp_path), choice)
    assert not (tmp_path / "model.int8-dynamic.onnx").exists()


def test_effective_bits_and_reduce_range() -> None:
    assert QuantRecipe(reduce_range=True).effective_weight_bits == 7
    assert QuantRecipe(reduce_range=True, weight_bits=4).to_ort_kwargs()["reduce_range"] is False
    assert QuantRecipe(weight_bits=4, activation_bits=16).onnx_types() == ("uint16", "int4")
