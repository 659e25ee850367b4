"""One parity bound, relative to the output's scale; degenerate outputs are flagged (issue #24 item 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.parity import ParityReference, compare_outputs, degenerate_warning, parity_bound


def test_bound_is_relative_to_the_scale() -> None:
    assert parity_bound(10.0, 1e-4, 1e-4) == pytest.approx(1.1e-3)
    assert parity_bound(1e-9, 1e-4, 1e-4) == pytest.approx(2e-13)
    ref = np.array([[1e-9, -3e-9, 2e-9]])
    # 1e-6 off logits of 1e-9 is 1000x the output: the old absolute bound (1e-4 + 1e-4 * max|ref|) passed it
    assert not compare_outputs(ref + 1e-6, ref, 1e-4, 1e-4)["passed"]


def test_degenerate_outputs_are_flagged() -> None:
    tiny = np.array([[1e-9, -3e-9, 2e-9]])
    flat = np.full((4, 10), 3.0)
    normal = np.array([[1.5, -2.0, 0.3]])
    assert compare_outputs(tiny, tiny, 1e-4, 1e-4)["degenerate"]
    assert compare_outputs(flat, flat, 1e-4, 1e-4)["degenerate"]
    r = compare_outputs(normal + 1e-5, normal, 1e-4, 1e-4)
    assert r["passed"] and not r["degenerate"]
    assert degenerate_warning({"degenerate": False, "random": r}) is None
    w = degenerate_warning({"degenerate": True, "random": compare_outputs(tiny, tiny, 1e-4, 1e-4)})
    assert w is not None and w.startswith("warning: the reference output is degenerate (max|ref| 3.0e-09")


def _scaled_net(path: Path, factor: float) -> Path:
    import onnx
    from edgebench.tools.synthetic import conv_net
    from onnx import numpy_helper

    conv_net(path, size=8)
    m = onnx.load(str(path))
    for init in m.graph.initializer:
        if init.name in ("fc.w", "fc.b"):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(factor), init.name))
    onnx.save(m, str(path))
    return path


def _ort_reference(path: Path) -> tuple[ParityReference, object]:
    from edgebench.runtimes import get_runtime

    ort = get_runtime("ort-cpu")
    sess = ort.load(path, ort.Options(intra_op_threads=1))
    x = np.random.default_rng(0).standard_normal((8, 3, 8, 8), dtype=np.float32)
    y = np.concatenate([next(iter(sess.run({"input": x[i:i + 1]}).values())) for i in range(len(x))])
    return ParityReference(x, y, None, None, None, None, "no parity data given"), sess


@pytest.mark.parametrize(("factor", "degenerate"), [(1.0, False), (1e-12, True)])
def test_export_and_convert_share_the_bound(tmp_path: Path, factor: float, degenerate: bool) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("torch")
    from edgebench.calibration.convert import ConvertConfig, _parity
    from edgebench.exporter.export import measure_parity
    from edgebench.parity import ParityTolerance

    path = _scaled_net(tmp_path / "m.onnx", factor)
    ref, sess = _ort_reference(path)
    exported = measure_parity(path, ref, "input", None, ParityTolerance(), 1)
    converted = _parity(sess, ref, ConvertConfig(runtime="ncnn", parity_data=None))
    assert exported["passed"] and converted["passed"]
    assert exported["degenerate"] is converted["degenerate"] is degenerate
    assert exported["random"]["bound"] == pytest.approx(converted["random"]["bound"])
    assert exported["random"]["bound"] == pytest.approx(parity_bound(exported["random"]["max_abs_ref"], 1e-4, 1e-4))
