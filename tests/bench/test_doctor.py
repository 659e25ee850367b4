"""`edgebench doctor` and its known-bad suite (issue #28): each planted cause is named, and its fix is measured.

No speed figure is asserted (a shared machine): the tests assert the cause class and that each fix was tried and
measured (interleaved speed and paired top-1). The figures are `make bench-doctor`'s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.bench import doctor as doc
from edgebench.bench import doctor_measure as dm
from edgebench.manifest import RecipeRecord
from edgebench.tools.doctor_cases import ZEN3, ZEN4, cases, dataset

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

CASES = cases()
FAST = {"rounds": 2, "iters": 5}


def test_the_suite_has_ten_cases_with_distinct_causes() -> None:
    assert len(CASES) >= 10
    assert len({c.cause for c in CASES}) == len(CASES)
    assert {c.cause for c in CASES} <= set(doc.CAUSE_KINDS)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_known_bad_case_names_its_cause_and_measures_a_fix(case, tmp_path: Path) -> None:
    fp32, int8 = case.build(tmp_path / "case")
    data = dataset(fp32, 200)
    d = doc.diagnose(int8, fp32, cpu=case.cpu, threads=case.threads, data=data, usable_cores=2, profile_runs=10,
                     **FAST)
    assert case.cause in d.kinds, d.to_dict()
    if case.cause == "sensitive-nodes":  # its one wide activation channel is seen, and its nodes are a candidate
        assert d.facts["activation_outliers"] and any("se.mul" in c.label for c in d.candidates)
    if case.cause == "float-islands":  # ordinary activations: none flagged
        assert d.facts["activation_outliers"] == []
    assert d.verdict().startswith(f"INT8 is {d.speedup:.2f}x FP32 here")
    trials = doc.try_fixes(d, int8, fp32, data, tmp_path / "try", **FAST)
    mine = [t for t in trials if t.candidate.cause == case.cause]
    assert mine, [t.to_dict() for t in trials]
    for t in trials:  # every fix measured: a speed ratio and a paired drop
        assert t.speedup > 0 and t.drop_pts is not None and t.agreement_pct is not None
    if case.cause != "qdq-overhead":  # the tiny model's only fix is keeping FP32
        assert any(not t.candidate.keep_fp32 for t in mine)
    best = doc.best_trial(trials)
    assert best is not None and (best.meets_goal or best.candidate.keep_fp32)
    assert doc.decision_line(d, best)


def _int8(tmp_path: Path, preset: str, **changes) -> tuple[object, object]:
    from dataclasses import replace

    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import PresetChoice, get_preset
    from edgebench.tools.doctor_cases import block_net

    fp32 = block_net(tmp_path / "model.fp32.onnx", **changes.pop("net", {}))
    r = replace(get_preset(preset), **changes)
    man = quantize_static_model(fp32, dataset(fp32, 32, seed=3), PresetChoice(r, r.name, "test", "test"))
    return onnx.load(str(fp32)), onnx.load(str(tmp_path / man.onnx_file))


def test_s8s8_is_a_cause_only_without_vnni(tmp_path: Path) -> None:
    p32, p8 = _int8(tmp_path, "qdq-s8s8-tensor")
    rec = RecipeRecord(name="qdq-s8s8-tensor")
    assert "s8s8-no-vnni" in [c.kind for c in doc.graph_causes(p8, p32, rec, ZEN3, 1, 2)]
    assert "s8s8-no-vnni" not in [c.kind for c in doc.graph_causes(p8, p32, rec, ZEN4, 1, 2)]
    fix = next(c for c in doc.graph_causes(p8, p32, rec, ZEN3, 1, 2) if c.kind == "s8s8-no-vnni").fix
    assert fix == "preset x86-avx2"


def test_outlier_channel_only_under_per_tensor_weights(tmp_path: Path) -> None:
    p32, p8 = _int8(tmp_path / "a", "x86-vnni", per_channel=False, net={"outlier": 60.0})
    assert "outlier-channel" in [c.kind for c in doc.graph_causes(p8, p32, None, ZEN4, 1, 2)]
    p32, p8 = _int8(tmp_path / "b", "x86-vnni", net={"outlier": 60.0})
    assert "outlier-channel" not in [c.kind for c in doc.graph_causes(p8, p32, None, ZEN4, 1, 2)]


def test_threads_within_the_cores_are_no_cause(tmp_path: Path) -> None:
    p32, p8 = _int8(tmp_path, "x86-vnni")
    assert not doc.graph_causes(p8, p32, None, ZEN4, 2, 2)
    assert [c.kind for c in doc.graph_causes(p8, p32, None, ZEN4, 3, 2)] == ["oversubscribed-threads"]


def test_best_trial_is_fp32_when_no_int8_variant_reaches_the_goal() -> None:
    slow = doc.Trial(doc.Candidate("x", "float-islands", threads=2), 0.9, 0.0, 100.0)
    lossy = doc.Trial(doc.Candidate("y", "float-islands", threads=1), 1.5, 2.0, 90.0)
    fp32 = doc.Trial(doc.Candidate("keep FP32", "float-islands", keep_fp32=True), 1.0, 0.0, 100.0)
    assert doc.best_trial([slow, lossy, fp32]) is fp32
    good = doc.Trial(doc.Candidate("z", "float-islands", threads=2), 1.1, 0.25, 99.0)
    assert doc.best_trial([slow, lossy, good, fp32]) is good
    healthy = doc.Diagnosis(2.0, 0.0, (), ())  # the given INT8 model is faster than every fix: it stays
    assert doc.best_trial([slow, lossy, good, fp32], healthy) is None
    barely = doc.Trial(doc.Candidate("w", "float-islands", threads=2), 2.05, 0.0, 100.0)  # within the drift
    assert doc.best_trial([barely, fp32], healthy) is None
    clearly = doc.Trial(doc.Candidate("v", "float-islands", threads=2), 2.2, 0.0, 100.0)
    assert doc.best_trial([barely, clearly, fp32], healthy) is clearly
    assert doc.decision_line(healthy, None).startswith("keep this INT8 model")
    assert "keep FP32" in doc.decision_line(doc.Diagnosis(0.9, 0.0, (), ()), fp32)


def test_cause_and_candidate_are_validated() -> None:
    with pytest.raises(ValueError, match="is not one of"):
        doc.Cause("slow", "x", "y")
    with pytest.raises(ValueError, match="exactly one"):
        doc.Candidate("x", "qdq-overhead")


def test_cli_prints_the_verdict_first_and_applies_the_measured_fix(tmp_path: Path, monkeypatch) -> None:
    from edgebench.cli.main import app
    from typer.testing import CliRunner

    case = next(c for c in CASES if c.cause == "dynamic-conv")
    fp32, int8 = case.build(tmp_path / "case")
    data = dataset(fp32, 100)
    monkeypatch.setattr("edgebench.calibration.evaluate.load_eval_dataset", lambda *a, **k: data)
    r = CliRunner().invoke(app, ["doctor", str(int8), "--data", "synthetic", "--apply", "-o", str(tmp_path / "fixed")])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("INT8 is ")
    assert "dynamic-conv" in r.output and "decision:" in r.output
    written = sorted(p.name for p in (tmp_path / "fixed").iterdir())
    assert written in (["model.int8.json", "model.int8.onnx"], ["doctor.json"])
    if "model.int8.json" in written:
        import json

        man = json.loads((tmp_path / "fixed" / "model.int8.json").read_text())
        assert man["doctor"]["causes"][0]["kind"] == "dynamic-conv" and man["doctor"]["trials"]


def test_compare_report_shows_a_verdict_for_slow_or_lossy_int8_only(tmp_path: Path) -> None:
    import copy

    from edgebench.bench.report.analysis import build_report
    from edgebench.bench.report.data import load_entries

    from tests.bench.result_factory import PI4, X86, result, write

    no_vnni = copy.deepcopy(X86)
    no_vnni["id"], no_vnni["cpu"]["isa"] = "x86noVNNIaaa", {"avx2": True, "fma": True}
    write(tmp_path / "res", [
        result(no_vnni, p50=2.0), result(no_vnni, precision="int8", p50=1.9),  # 1.05x: slow
        result(X86, p50=2.0), result(X86, precision="int8", p50=1.0),  # 2x, same top-1: no verdict
        result(PI4, p50=4.0), result(PI4, precision="int8", p50=1.0, top1=90.0),  # 4x but 1.5 points lost
    ])
    entries, machines, _ = load_entries([tmp_path / "res"])
    notes = [n for n in build_report(entries, machines).notes if n.startswith("doctor,")]
    assert len(notes) == 2, notes
    slow = next(n for n in notes if "x86noVNNIaaa" in n)
    assert "INT8 is 1.05x FP32 here" in slow and "without VNNI" in slow and "fix: preset x86-avx2" in slow
    lossy = next(n for n in notes if PI4["id"] in n)
    assert "top-1 -1.50 points" in lossy and "edgebench doctor" in lossy


def test_interleave_runs_one_model_at_its_own_thread_count(tmp_path: Path) -> None:
    from edgebench.bench.interleave import interleaved_latency
    from edgebench.runtimes.ort.options import OrtCpuOptions
    from edgebench.tools.synthetic import conv_net

    m = conv_net(tmp_path / "m.onnx")
    r = interleaved_latency({"a": m, "b": m}, threads=1, rounds=1, iters=2, warmup=0,
                            model_options={"b": OrtCpuOptions(intra_op_threads=2)})
    assert r["b"]["threads"] == 2 and "cpu_p50_ms" not in r["b"]  # CPU time of one thread says nothing of two


@pytest.fixture
def dyn_case(tmp_path: Path) -> tuple[Path, Path]:
    return next(c for c in CASES if c.cause == "dynamic-conv").build(tmp_path / "case")


def _doctor(*args: str):
    from edgebench.cli.main import app
    from typer.testing import CliRunner

    return CliRunner().invoke(app, ["doctor", *args])


def test_cli_refuses_a_parent_with_other_inputs_before_timing(dyn_case, tmp_path: Path, monkeypatch) -> None:
    from edgebench.tools.synthetic import conv_net

    monkeypatch.setattr(dm, "measure_speed", lambda *a, **k: pytest.fail("timed before the check"))
    other = conv_net(tmp_path / "other" / "m32.onnx", size=32)
    r = _doctor(str(dyn_case[1]), "--fp32", str(other))
    assert r.exit_code == 2 and "takes input [batch, 3, 32, 32] float32 but" in r.output
    assert "give the FP32 model the INT8 one was quantized from" in r.output


def test_cli_refuses_images_of_another_size_before_timing(dyn_case, monkeypatch) -> None:
    import numpy as np
    from edgebench.calibration.dataset import Dataset

    small = Dataset(np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4, np.int64), "small")
    monkeypatch.setattr("edgebench.calibration.evaluate.load_eval_dataset", lambda *a, **k: small)
    monkeypatch.setattr(dm, "measure_speed", lambda *a, **k: pytest.fail("timed before the check"))
    r = _doctor(str(dyn_case[1]), "--data", "small")
    assert r.exit_code == 2 and "images are 8x8 after preprocessing but the model wants 16x16" in r.output


def test_cli_model_folder_means_its_int8_model_and_a_bare_file_needs_fp32(dyn_case, tmp_path: Path,
                                                                          monkeypatch) -> None:
    import shutil

    monkeypatch.setattr(dm, "measure_speed", lambda *a, **k: (1.0, 1.0))
    monkeypatch.setattr(dm, "profile_shares", lambda *a, **k: {"precision_pct": {}, "float_time_by_op": {},
                                                                "fp32_nodes": []})
    r = _doctor(str(dyn_case[0].parent))  # the folder holds model.fp32 and model.int8-dynamic: no model.int8
    assert r.exit_code == 2 and "has no quantized op" in r.output
    (tmp_path / "bare").mkdir()
    shutil.copy(dyn_case[1], tmp_path / "bare" / "model.int8.onnx")
    r = _doctor(str(tmp_path / "bare"))
    assert r.exit_code == 2 and "model.int8.onnx' has no manifest; give --fp32" in r.output
    r = _doctor(str(tmp_path / "bare"), "--fp32", str(dyn_case[0]))
    assert r.exit_code == 0, r.output
    assert "dynamic-conv" in r.output


def test_doctor_quantize_and_profile_agree_on_the_float_islands(tmp_path: Path) -> None:
    import json

    from edgebench.bench.op_profile import float_nodes_why

    case = next(c for c in CASES if c.cause == "float-islands")
    fp32, int8 = case.build(tmp_path / "case")
    recorded = json.loads(int8.with_suffix(".json").read_text())["nodes"]["float_nodes"]  # what quantize said
    islands = {n for n, why in recorded.items() if why.startswith("no INT8 kernel")}
    cause = next(c for c in doc.graph_causes(onnx.load(str(int8)), onnx.load(str(fp32)), None, ZEN4, 1, 2)
                 if c.kind == "float-islands")
    assert cause.detail.startswith(f"{len(islands)} node(s) without an INT8 kernel")
    pads = sorted(n for n in islands if n.startswith("pad"))
    assert pads and float_nodes_why(int8, pads) == {n: recorded[n] for n in pads}  # profile's reasons


def test_cli_json_holds_the_verdict_and_the_evidence(dyn_case, monkeypatch) -> None:
    import json

    monkeypatch.setattr(dm, "measure_speed", lambda *a, **k: (0.5, 0.03))
    r = _doctor(str(dyn_case[1]), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["verdict"].startswith("INT8 is 0.50x FP32 here: dynamic INT8 of a conv net")
    assert out["causes"][0]["kind"] == "dynamic-conv" and out["facts"]["precision_pct"] and out["trials"] == []


def test_int8_kernels_slower_than_fp32s_are_named_when_nothing_else_explains_it(tmp_path: Path) -> None:
    """FastestDet on ORT (a 3-channel stem, stride-2 channel slices in the INT8 NHWC layout) was "0.73x FP32: no
    problem found"; the per-op-type profiles of both models now name the kernels that lose the time."""
    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import PresetChoice, get_preset
    from edgebench.tools.doctor_cases import block_net

    fp32 = block_net(tmp_path / "model.fp32.onnx")
    r = get_preset("x86-vnni")
    man = quantize_static_model(fp32, dataset(fp32, 32, seed=3), PresetChoice(r, r.name, "test", "test"))
    pair = doc.read_pair(tmp_path / man.onnx_file, fp32)
    measured = {"speedup": 0.73, "fp32_ms": 3.9, "precision_pct": {"int8": 98.0, "convert": 2.0},
                "float_time_by_op": {}, "fp32_nodes": [], "paired": None,
                "op_ms": {"QLinearConv": 2.95, "Slice": 1.34, "QuantizeLinear": 0.15, "Transpose": 0.11},
                "slowest_by_op": {"QLinearConv": ["stem", 1.11], "Slice": ["s1", 0.11]},
                "fp32_op_ms": {"Conv": 2.61, "Slice": 0.20, "ReorderOutput": 0.45}}
    d = doc.conclude(pair, measured, cpu=ZEN4, threads=1, usable_cores=2)
    assert d.kinds == ["slow-int8-kernels"], d.to_dict()
    assert d.causes[0].detail == ("INT8 kernels slower than FP32's: Slice 1.34 vs 0.20 ms (slowest: s1 0.11 ms), "
                                  "Conv 2.95 vs 2.61 ms (slowest: stem 1.11 ms)")
    assert d.verdict().startswith("INT8 is 0.73x FP32 here: INT8 kernels slower than FP32's: Slice")
    assert [c.label for c in d.candidates] == ["keep FP32"]
    faster = doc.conclude(pair, {**measured, "speedup": 1.6}, cpu=ZEN4, threads=1, usable_cores=2)
    assert "slow-int8-kernels" not in faster.kinds  # INT8 wins overall: a slower op type is no cause
    old_device = {k: v for k, v in measured.items() if k not in ("op_ms", "fp32_op_ms", "slowest_by_op")}
    unknown = doc.conclude(pair, old_device, cpu=ZEN4, threads=1, usable_cores=2)
    assert unknown.kinds == [] and "slower, and no known cause found" in unknown.verdict()
    assert d.causes[0].fix.startswith("keep FP32")  # this graph has no channel split


def test_slow_channel_slices_name_the_reshaped_split_as_the_fix(tmp_path: Path) -> None:
    """An FP32 graph whose Slices take every other channel (`x[:, 0::2]`, FastestDet's first export): when Slice is
    among the slower INT8 kernels the fix is the reshaped split, not "keep FP32"."""
    from dataclasses import replace

    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import PresetChoice, get_preset
    from edgebench.tools.doctor_cases import block_net
    from onnx import helper, numpy_helper

    fp32 = block_net(tmp_path / "model.fp32.onnx")
    r = get_preset("x86-vnni")
    man = quantize_static_model(fp32, dataset(fp32, 32, seed=3), PresetChoice(r, r.name, "test", "test"))
    pair = doc.read_pair(tmp_path / man.onnx_file, fp32)
    p32 = type(pair.p32)()
    p32.CopyFrom(pair.p32)
    for name, v in (("s", 1), ("e", 1 << 30), ("a", 1), ("st", 2)):
        p32.graph.initializer.append(numpy_helper.from_array(np.asarray([v], np.int64), name))
    p32.graph.node.append(helper.make_node("Slice", [p32.graph.node[0].output[0], "s", "e", "a", "st"], ["odd"],
                                           name="odd_channels"))
    measured = {"speedup": 0.77, "fp32_ms": 3.9, "precision_pct": {"int8": 98.0, "convert": 2.0},
                "float_time_by_op": {}, "fp32_nodes": [], "paired": None,
                "op_ms": {"QLinearConv": 2.6, "Slice": 1.34}, "fp32_op_ms": {"Conv": 2.61, "Slice": 0.20}}
    d = doc.conclude(replace(pair, p32=p32), measured, cpu=ZEN4, threads=1, usable_cores=2)
    assert d.kinds == ["slow-int8-kernels"]
    assert "1 Slices take every other channel, e.g. 'odd_channels'" in d.causes[0].fix
    assert "reshape to [N, C/2, 2, H*W]" in d.causes[0].fix
    no_slice = doc.conclude(replace(pair, p32=p32), {**measured, "op_ms": {"QLinearConv": 3.9, "Slice": 0.2}},
                            cpu=ZEN4, threads=1, usable_cores=2)
    assert no_slice.causes[0].fix.startswith("keep FP32")  # Slice is not what loses the time
