from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.errors import ModelFileError, NotFoundError
from edgebench.runtimes import RuntimeOptions, get_runtime, runtime_names
from edgebench.runtimes.ort.options import OrtCpuOptions


def test_ort_cpu_is_registered() -> None:
    assert "ort-cpu" in runtime_names()


def test_unknown_runtime_suggests() -> None:
    with pytest.raises(NotFoundError, match="Did you mean 'ort-cpu'"):
        get_runtime("ort-cu")


def test_load_reports_inputs_and_runs(tiny_onnx: Path) -> None:
    sess = get_runtime("ort-cpu").load(tiny_onnx, RuntimeOptions(intra_op_threads=1))
    (inp,) = sess.inputs
    assert inp.name == "input" and inp.dtype == "float32"
    assert inp.shape[1:] == (3, 16, 16) and inp.dynamic_dims == [0]
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16), dtype=np.float32)
    out = sess.run({"input": x})
    assert list(out) == ["logits"] and out["logits"].shape == (4, 10)
    assert np.isfinite(out["logits"]).all()


def test_session_options_are_applied(tiny_onnx: Path) -> None:
    rt = get_runtime("ort-cpu")
    opts = OrtCpuOptions(intra_op_threads=2, inter_op_threads=2, graph_optimization="basic",
                         execution_mode="parallel", memory_arena=False)
    sess = rt.load(tiny_onnx, opts)
    so = sess.ort_session.get_session_options()
    import onnxruntime as ort

    assert so.intra_op_num_threads == 2
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert so.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    assert so.enable_cpu_mem_arena is False
    assert sess.effective_options()["execution_mode"] == "parallel"


def test_spin_wait_off_is_passed_to_ort(tiny_onnx: Path) -> None:
    rt = get_runtime("ort-cpu")
    so = rt.session_options(OrtCpuOptions(spin_wait=False))
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert rt.load(tiny_onnx, OrtCpuOptions(spin_wait=False)).run(
        {"input": np.zeros((1, 3, 16, 16), np.float32)})["logits"].shape == (1, 10)


def test_parallel_with_one_inter_thread_is_recorded_as_sequential(tiny_onnx: Path) -> None:
    opts = OrtCpuOptions(inter_op_threads=1, execution_mode="parallel")
    sess = get_runtime("ort-cpu").load(tiny_onnx, opts)
    assert sess.effective_options()["execution_mode"] == "sequential"


def test_same_output_across_optimization_levels(tiny_onnx: Path) -> None:
    rt = get_runtime("ort-cpu")
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16), dtype=np.float32)
    a = rt.load(tiny_onnx, OrtCpuOptions(graph_optimization="disable")).run({"input": x})["logits"]
    b = rt.load(tiny_onnx, OrtCpuOptions(graph_optimization="all")).run({"input": x})["logits"]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("content", [b"", b"this is not onnx at all", None])
def test_bad_model_files(tmp_path: Path, tiny_onnx: Path, content: bytes | None) -> None:
    p = tmp_path / "bad.onnx"
    if content is None:  # truncated copy of a real model
        data = tiny_onnx.read_bytes()
        content = data[: len(data) // 2]
    p.write_bytes(content)
    with pytest.raises(ModelFileError, match=r"bad\.onnx"):
        get_runtime("ort-cpu").load(p, RuntimeOptions())


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        get_runtime("ort-cpu").load(tmp_path / "nope.onnx", RuntimeOptions())
