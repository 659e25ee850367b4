"""export's onnxslim step (`exporter.export._simplified`): the simplified graph is kept only when it passes
parity; otherwise the unsimplified one, with the reason recorded and said (paths no export test takes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from edgebench.exporter import export as ex

FAILED = {"passed": False, "random": {"max_abs_diff": 0.5, "bound": 1e-4}}


def _run(tmp_path: Path, check: Any) -> tuple[Path, Any, dict[str, Any], list[str]]:
    said: list[str] = []
    chosen, parity, info = ex._simplified(tmp_path / "raw.onnx", tmp_path / "slim.onnx", check, said.append)
    return chosen, parity, info, said


def test_onnxslim_failing_keeps_the_raw_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(raw: Path, slim: Path) -> None:
        raise RuntimeError("cannot fold\nsecond line")

    monkeypatch.setattr(ex, "_simplify", boom)
    chosen, parity, info, said = _run(tmp_path, lambda p: pytest.fail("no parity without a simplified graph"))
    assert chosen == tmp_path / "raw.onnx" and parity is None
    assert info == {"requested": True, "applied": False, "reason": "onnxslim failed: RuntimeError: cannot fold"}
    assert said == ["kept the unsimplified graph: onnxslim failed: RuntimeError: cannot fold"]


def test_a_simplified_graph_failing_parity_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex, "_simplify", lambda raw, slim: None)
    chosen, parity, info, said = _run(tmp_path, lambda p: FAILED)
    assert chosen == tmp_path / "raw.onnx" and parity is None and info["applied"] is False
    assert info["reason"] == "simplified graph failed parity (random max|diff| 5.00e-01 (bound 1.00e-04))"
    assert said == [f"kept the unsimplified graph: {info['reason']}"]


def test_a_simplified_graph_passing_parity_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex, "_simplify", lambda raw, slim: None)
    checked: list[Path] = []
    chosen, parity, info, said = _run(tmp_path, lambda p: checked.append(p) or {"passed": True})
    assert chosen == tmp_path / "slim.onnx" == checked[0] and parity == {"passed": True}
    assert info == {"requested": True, "applied": True} and said == []
