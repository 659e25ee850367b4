"""bf16 and fp16 next to fp32 and int8: every runtime x precision either runs and records what really ran
(`execution_precision`, read back from the runtime) or is refused in one line naming what the runtime runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.errors import UserInputError
from edgebench.runtimes import RUNTIMES, get_runtime, runtime_names
from edgebench.runtimes.artifacts import resolve_precision
from edgebench.runtimes.precisions import PRECISIONS, plan_precision, runs
from typer.testing import CliRunner

from tests.sweep.tiny_sweep import make_tiny

# what each built-in runtime runs (on any CPU: the session then says what this one did with it)
EXPECTED = {"ort-cpu": ("fp32", "fp16", "int8"), "openvino": PRECISIONS, "ncnn": ("fp32", "bf16", "fp16"),
            "litert": ("fp32", "int8"), "torch": ("fp32", "bf16"), "torch-int8": ("fp32", "int8")}


def _available(name: str) -> bool:
    runtime_names()  # registers the built-in runtimes
    return bool(RUNTIMES.get(name)().available())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny(tmp_path_factory.mktemp("prec"))


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("runtime", sorted(EXPECTED))
def test_each_runtime_runs_its_precisions_and_refuses_the_others_in_one_line(runtime: str) -> None:
    assert runtime in runtime_names()
    assert runs(runtime) == EXPECTED[runtime]
    for p in PRECISIONS:
        if p in EXPECTED[runtime]:
            plan_precision(runtime, p)
            continue
        with pytest.raises(UserInputError) as e:
            plan_precision(runtime, p)
        msg = str(e.value)
        assert "\n" not in msg and f"cannot run --precision {p}: " in msg
        assert msg.endswith(f"it runs {', '.join(EXPECTED[runtime])}")


def test_reduced_precision_is_selected_by_the_runtime_options() -> None:
    assert plan_precision("openvino", "bf16")[1].inference_precision == "bf16"
    assert plan_precision("openvino", "fp16")[1].inference_precision == "f16"
    assert plan_precision("openvino", "fp32")[1] is None  # the FP32 file with the runtime's defaults (f32)
    assert plan_precision("ncnn", "fp16")[1].fp16 is True and plan_precision("ncnn", "bf16")[1].bf16 is True
    assert plan_precision("torch", "bf16")[1].autocast == "bf16"
    assert plan_precision("ort-cpu", "fp16") == ("fp16", None)  # its own file, model.fp16.onnx
    with pytest.raises(UserInputError, match="inference_precision=f32 was given too"):
        plan_precision("openvino", "bf16", RUNTIMES.get("openvino").Options(), given={"inference_precision"})


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_openvino_records_what_it_ran_or_refuses(tiny: Path, precision: str) -> None:
    if not _available("openvino"):
        pytest.skip("openvino not installed")
    path, opts = resolve_precision(tiny / "tiny", "openvino", precision)
    assert path.name == "model.fp32.onnx"
    rt = get_runtime("openvino")
    try:
        sess = rt.load(path, opts)
    except UserInputError as e:  # f16 on a CPU without fp16 arithmetic: OpenVINO would run bf16 instead
        assert precision == "fp16" and "\n" not in str(e) and "use --precision bf16" in str(e)
        return
    assert sess.info["precision"] == precision
    assert sess.info["execution_precision"] == precision
    assert sum(sess.info["execution_precisions"].values()) >= 3  # two convolutions and the classifier


@pytest.mark.skipif(not _available("openvino"), reason="openvino not installed")
def test_eval_baseline_on_bf16_gives_a_paired_block(tiny: Path) -> None:
    r = CliRunner().invoke(app, ["eval", str(tiny / "tiny"), "-r", "openvino", "--precision", "bf16", "--baseline",
                                 str(tiny / "tiny"), "-d", str(tiny / "data.npz"), "-t", "1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["model"]["execution_precision"] == "bf16" and out["baseline"]["execution_precision"] == "fp32"
    p = out["paired"]
    assert p["n"] == 48 and p["agree"] + p["flipped_to_correct"] + p["flipped_to_wrong"] + \
        p["changed_both_wrong"] == 48
    # without --precision the same file is its own baseline: refused as before
    r = CliRunner().invoke(app, ["eval", str(tiny / "tiny"), "-r", "openvino", "--baseline", str(tiny / "tiny"),
                                 "-d", str(tiny / "data.npz"), "-t", "1"])
    assert r.exit_code == 2 and "is the model itself" in r.stderr


@pytest.mark.skipif(not _available("openvino"), reason="openvino not installed")
def test_bench_records_requested_and_execution_precision(tiny: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["bench", str(tiny / "tiny"), "-r", "openvino", "--precision", "bf16", "-t", "1",
                                 "--in-process", "--warmup-iters", "0", "--min-iters", "2", "--min-seconds", "0",
                                 "-o", str(tmp_path / "res"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["runtime"]["precision"] == "bf16" and res["runtime"]["execution_precision"] == "bf16"
    assert res["runtime"]["options"]["inference_precision"] == "bf16" and res["model"]["precision"] == "fp32"


@pytest.mark.parametrize(("command", "runtime", "value", "fragment"), [
    ("bench", "openvino", "fp8", "runtime 'openvino' runs fp32, bf16, fp16, int8"),
    ("eval", "ncnn", "bf15", "runtime 'ncnn' runs fp32, bf16, fp16. Did you mean 'bf16'?"),
    ("bench", "ort-cpu", "bf16", "ONNX Runtime's CPU provider has no bfloat16"),
    ("eval", "litert", "fp16", "it runs fp32, int8"),
    ("bench", "torch-int8", "bf16", "-r torch --precision bf16"),
])
def test_a_bad_precision_is_refused_naming_what_the_runtime_runs(tiny: Path, tmp_path: Path, command: str,
                                                                 runtime: str, value: str, fragment: str) -> None:
    before = _snapshot(tmp_path)
    args = [command, str(tiny / "tiny"), "-r", runtime, "--precision", value]
    args += ["-o", str(tmp_path / "res")] if command == "bench" else ["-d", str(tiny / "data.npz")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgebench: error: ") and fragment in lines[0], r.stderr
    assert _snapshot(tmp_path) == before


def test_an_int8_file_given_with_a_reduced_precision_is_refused(tiny: Path, tmp_path: Path) -> None:
    int8 = tmp_path / "model.int8.onnx"
    int8.write_bytes((tiny / "tiny" / "model.fp32.onnx").read_bytes())
    with pytest.raises(UserInputError, match=r"runs the fp32 model, but .* is int8"):
        resolve_precision(int8, "openvino", "bf16")


def test_a_sweep_listing_bf16_and_fp16_pairs_them_with_the_lineage_fp32() -> None:
    from edgebench.sweep.config import parse_sweep
    from edgebench.sweep.graph import Host, build_graph

    host = Host(cpu={"arch": "x86_64", "model": "Zen4", "isa": {"avx2": True}}, machine_id="m1",
                runtimes=("ort-cpu", "torch", "torch-int8", "openvino", "litert", "ncnn"),
                file_sha256={"./m/model.fp32.onnx": "ab" * 32})
    text = ('models = ["./m/model.fp32.onnx"]\n[quantize]\nprecisions = ["fp32", "bf16", "fp16"]\n'
            '[bench]\nruntimes = ["installed"]\nthreads = [1]\n')
    g = build_graph(parse_sweep(text), host)
    evals = {(n.settings["variant"], n.settings["runtime"]): n for n in g.nodes.values() if n.stage == "evaluate"}
    base = evals[("m-fp32", "ort-cpu")]
    want = {("m-bf16", "openvino"): {"inference_precision": "bf16"}, ("m-fp16", "openvino"):
            {"inference_precision": "f16"}, ("m-bf16", "ncnn"): {"bf16": True}, ("m-fp16", "ncnn"): {"fp16": True},
            ("m-bf16", "torch"): {"autocast": "bf16"}, ("m-fp16", "ort-cpu"): {}}
    for key, options in want.items():
        n = evals[key]
        assert n.settings["runtime_options"] == options and n.settings["paired_with"] == base.label, key
        assert n.deps[1] == base.key
    # bf16/fp16 on openvino/ncnn/torch run the FP32 file itself: no conversion or quantization of their own
    imp = next(k for k, n in g.nodes.items() if n.stage == "import")
    assert evals[("m-bf16", "openvino")].deps[0] == imp and evals[("m-bf16", "torch")].deps[0] == imp
    quantize = [n.settings["mode"] for n in g.nodes.values() if n.stage == "quantize"]
    assert quantize == ["fp16"]  # ort-cpu's model.fp16.onnx
    for refused in ("ort-cpu x bf16", "litert x bf16", "litert x fp16", "torch-int8 x bf16"):
        assert any(refused in note for note in g.notes), (refused, g.notes)
    cells = {(g.nodes[c].settings["variant"], g.nodes[c].settings["runtime"]) for c in g.cells}
    assert set(want) <= cells


def test_recommend_considers_a_bf16_deployment_of_the_fp32_file(tmp_path: Path) -> None:
    """A bf16 result is the FP32 file run in bf16: another deployment of the lineage, never its FP32 reference."""
    from edgebench.bench.report.data import load_results
    from edgebench.bench.report.recommend import recommend

    from tests.bench.result_factory import X86, result, write

    fp32 = result(X86, runtime="openvino", p50=0.85, top1=91.5)
    bf16 = result(X86, runtime="openvino", p50=0.40, top1=91.3, runtime_precision="bf16")
    assert bf16["model"]["sha256"] == fp32["model"]["sha256"]  # the same model file
    rows = list(load_results(write(tmp_path / "r", [fp32, bf16])).rows)
    (rec,) = recommend(rows, budget=0.5)
    assert {r.precision for r in rec.candidates} == {"fp32", "bf16"}
    assert "unpruned FP32" in rec.reference and rec.reference_top1 == 91.5
    assert rec.best is not None and rec.best.precision == "bf16" and rec.best.variant == "resnet20-bf16"
    (tight,) = recommend(rows, budget=0.1)
    assert tight.best is not None and tight.best.precision == "fp32"


def test_convert_of_a_reduced_precision_says_bench_selects_it(tiny: Path) -> None:
    before = _snapshot(tiny)
    r = CliRunner().invoke(app, ["convert", str(tiny / "tiny"), "-r", "openvino", "--precision", "bf16"])
    assert r.exit_code == 2 and "no bf16 conversion; run edgebench bench MODEL -r openvino --precision bf16" \
        in r.stderr, r.output
    assert _snapshot(tiny) == before


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_ncnn_reduced_precision_eval_pairs_with_its_own_fp32_artifact(tiny: Path, precision: str) -> None:
    """ncnn reads no ONNX: a model folder as --baseline is its fp32 artifact (it was model.fp32.onnx: refused)."""
    if not _available("ncnn"):
        pytest.skip("ncnn not installed")
    from edgebench.errors import RuntimeUnavailable
    from edgebench.runtimes.converters import get_converter

    try:
        get_converter("ncnn")
    except RuntimeUnavailable as e:
        pytest.skip(str(e))
    folder = tiny / "tiny"
    if not (folder / "ncnn" / "fp32" / "model.param").is_file():
        r = CliRunner().invoke(app, ["convert", str(folder), "-r", "ncnn", "--parity-data", str(tiny / "data.npz")])
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["eval", str(folder), "-r", "ncnn", "--precision", precision, "--baseline",
                                 str(folder), "-d", str(tiny / "data.npz"), "-t", "1", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["model"]["execution_precision"] == precision and out["baseline"]["execution_precision"] == "fp32"
    assert out["model"]["model"] == out["baseline"]["model"] and out["paired"]["n"] == 48
