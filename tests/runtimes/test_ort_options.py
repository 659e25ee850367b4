"""The one onnxruntime SessionOptions builder (runtimes/ort/options.py) and the rule that every ORT session
of the package, scripts/ and tools/ is built through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ort = pytest.importorskip("onnxruntime")

from edgebench.runtimes.ort.options import OrtCpuOptions, cpu_session, session_options  # noqa: E402
from edgebench.tools.synthetic import conv_net  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUILDER = REPO / "runtimes" / "ort" / "options.py"
FOLDERS = ("core", "runtimes", "calibration", "exporter", "bench", "devices", "sweep", "cli", "tools", "scripts")


def test_parameters_left_at_none_keep_ort_defaults() -> None:
    plain, so = ort.SessionOptions(), session_options(log_level=None)
    for attr in ("intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level", "enable_cpu_mem_arena",
                 "log_severity_level", "execution_mode"):
        assert getattr(so, attr) == getattr(plain, attr), attr


def test_parameters_are_set() -> None:
    so = session_options(intra_op_threads=3, inter_op_threads=2, graph_optimization="basic", memory_arena=False,
                         execution_mode="parallel", log_level=4)
    assert (so.intra_op_num_threads, so.inter_op_num_threads, so.enable_cpu_mem_arena, so.log_severity_level) == \
        (3, 2, False, 4)
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert so.execution_mode == ort.ExecutionMode.ORT_PARALLEL
    assert session_options().log_severity_level == 3  # errors only, unless asked


def test_ort_cpu_options_map_onto_the_builder() -> None:
    so = OrtCpuOptions(intra_op_threads=2, spin_wait=False, graph_optimization="extended",
                       config_entries=(("session.use_env_allocators", "1"),)).session_options()
    assert so.intra_op_num_threads == 2
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert so.get_session_config_entry("session.use_env_allocators") == "1"


def test_cpu_session_runs_a_model(tmp_path: Path) -> None:
    import numpy as np

    sess = cpu_session(conv_net(tmp_path / "m.onnx"), intra_op_threads=1, optimized_model_file=tmp_path / "opt.onnx")
    x = np.zeros((1, 3, 16, 16), np.float32)
    assert sess.run(None, {sess.get_inputs()[0].name: x})[0].shape == (1, 10)
    assert (tmp_path / "opt.onnx").is_file()
    assert sess.get_session_options().intra_op_num_threads == 1


def test_no_session_options_built_by_hand() -> None:
    """`ort.SessionOptions()` / `ort.InferenceSession(` only in the builder: one place for threads, level, arena."""
    pattern = re.compile(r"\b(SessionOptions|InferenceSession)\(")
    found = [f"{p.relative_to(REPO)}:{i}" for folder in FOLDERS for p in sorted((REPO / folder).rglob("*.py"))
             if p != BUILDER for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line.split("#")[0])]
    assert not found, f"ORT sessions built by hand (use edgebench.runtimes.ort.options.cpu_session): {found}"
