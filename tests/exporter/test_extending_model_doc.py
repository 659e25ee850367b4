"""docs/extending/model.md: its example registers a zoo model, which is found by name and exported with parity."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending" / "model.md"


def python_block(path: Path) -> str:
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, f"{path.name} should hold exactly one python example"
    return blocks[0]


def test_model_doc_example_registers_and_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgebench.exporter.zoo import MODELS, get_spec
    from edgebench.manifest import read_manifest

    monkeypatch.chdir(tmp_path)
    assert "tiny_cnn" not in MODELS
    ns: dict[str, object] = {"__name__": "doc_example"}
    try:
        exec(compile(python_block(DOC), str(DOC), "exec"), ns)
        assert "tiny_cnn" in MODELS.names()
        spec = get_spec("tiny_cnn")
        assert spec.family == "tiny" and spec.num_classes == 10
        manifest = ns["manifest"]
        on_disk = read_manifest(tmp_path / "artifacts" / "tiny_cnn" / "model.fp32.json")
        assert on_disk == manifest and on_disk.arch == "tiny_cnn" and on_disk.parity is not None
        assert on_disk.parity["passed"] is True and on_disk.params == sum(
            p.numel() for p in spec.build().parameters())
        assert on_disk.weights is not None and on_disk.weights.is_random
        assert (tmp_path / "artifacts" / "tiny_cnn" / "model.fp32.onnx").is_file()
    finally:
        MODELS._items.pop("tiny_cnn", None)  # the registry is process-wide; leave it as we found it
