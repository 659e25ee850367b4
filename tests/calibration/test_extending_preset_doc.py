"""docs/extending/preset.md: its example registers an INT8 preset, found by name, that quantizes a tiny model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("onnx")

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending" / "preset.md"


def test_preset_doc_example_registers_and_quantizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx
    from edgebench.calibration.recipes import PRESETS, get_preset, preset_names
    from edgebench.manifest import read_manifest

    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    assert "s8s8-tensor-entropy" not in PRESETS
    ns: dict[str, object] = {"__name__": "doc_example"}
    try:
        exec(compile(blocks[0], str(DOC), "exec"), ns)
        assert "s8s8-tensor-entropy" in preset_names()
        recipe = get_preset("s8s8-tensor-entropy")
        assert (recipe.activation_type, recipe.per_channel, recipe.method) == ("int8", False, "entropy")
        out = tmp_path / "artifacts" / "tiny" / "model.int8.onnx"
        m = read_manifest(out.with_suffix(".json"))
        assert m == ns["int8"] and m.precision == "int8" and m.preset is not None
        assert m.preset["preset"] == "s8s8-tensor-entropy" and m.recipe is not None and m.recipe.method == "entropy"
        assert m.parent_file == "model.fp32.onnx" and m.nodes is not None and m.nodes["int8"] > 0
        graph = onnx.load(str(out)).graph
        inits = {i.name: i for i in graph.initializer}
        q_zero_points = [inits[n.input[2]] for n in graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2
                         and n.input[2] in inits]
        assert q_zero_points and all(z.data_type == onnx.TensorProto.INT8 for z in q_zero_points)  # signed activations
    finally:
        PRESETS._items.pop("s8s8-tensor-entropy", None)
