"""Registry-driven conformance: every available runtime gives the same top-1 on the same images.

Reference: ONNX Runtime on the FP32 ResNet-20 (published weights) over the first 500 CIFAR-10 test
images. Stated tolerance, per runtime and model precision:

- FP32 (ort-cpu on model.fp32.onnx, torch): the top-1 prediction equals the reference on >= 99.4 % of
  the images (at most 3 of 500 flips, from float summation order) and top-1 accuracy is within 0.6 points;
- INT8 (ort-cpu and openvino on model.int8.onnx, torch-int8, openvino NNCF, litert PT2E): agreement >= 97 %
  and top-1 accuracy within 2.0 points;
- bf16 (8 mantissa bits: openvino's hint, ncnn's storage, torch autocast): agreement >= 97 %, within 1.5 points;
  fp16 (11 bits: ort-cpu on model.fp16.onnx, openvino's f16 hint, ncnn fp16): agreement >= 99 %, within 0.6.

Reduced float precisions run where the runtime runs them (`runtimes.precisions.runs`): case id
`NAME:FILE@PRECISION` loads FILE with the options that select PRECISION. A case this CPU or build cannot run
(OpenVINO f16 on x86 without fp16 arithmetic) is skipped with the runtime's one-line reason.

Runtimes that run converted models (their class lists `converts`, e.g. litert: fp32, int8) are tested on
what `edgebench convert` writes (case id `NAME:convert-PRECISION`); a runtime that reads ONNX (openvino)
is also tested on both ONNX files. Every INT8 model is calibrated on the same 256 CIFAR-10 training
images (seed 0).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.errors import UserInputError
from edgebench.runtimes import RUNTIMES, get_runtime, runtime_names
from edgebench.runtimes.options import RuntimeOptions
from edgebench.runtimes.precisions import REDUCED, plan_precision, precision_way, runs

N_IMAGES = 500
TOLERANCE = {"fp32": {"agreement": 0.994, "top1_points": 0.6}, "int8": {"agreement": 0.97, "top1_points": 2.0},
             "bf16": {"agreement": 0.97, "top1_points": 1.5}, "fp16": {"agreement": 0.99, "top1_points": 0.6}}


def test_every_registered_runtime_follows_the_protocol() -> None:
    names = runtime_names()
    assert {"ort-cpu", "torch", "torch-int8", "openvino", "litert", "ncnn"} <= set(names)
    for name in names:
        cls = RUNTIMES.get(name)
        rt = cls()
        assert cls.name == name
        assert "pip install" in cls.install_hint
        assert isinstance(rt.available(), bool)
        assert issubclass(cls.Options, RuntimeOptions) and cls.Options.runtime == name
        if rt.available():
            assert rt.version()


@pytest.fixture(scope="module")
def resnet20_folder(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    pytest.importorskip("torch")
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.quantize import convert_fp16_model, quantize_static_model
    from edgebench.calibration.recipes import resolve_preset
    from edgebench.cpu import cpu_info
    from edgebench.exporter.checkpoint import find_weights, load_weights
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec

    folder = tmp_path_factory.mktemp("conf") / "resnet20"
    spec = get_spec("resnet20")
    model = spec.build()
    weights = find_weights(spec.weights, shared_data, download=False)  # type: ignore[arg-type]
    sha = load_weights(model, weights, "resnet20")
    export_model(model, spec, folder, parity_images=16, weights={"sha256": sha, "file": weights.name,
                                                                  "source": "published"})
    shutil.copy2(weights, folder / weights.name)  # a manifest names only files inside its model folder
    calib = load_dataset("cifar10:train", shared_data, size=256, seed=0)
    quantize_static_model(folder / "model.fp32.onnx", calib, resolve_preset("auto", None, cpu_info()),
                          dataset_spec="cifar10:train", seed=0)
    convert_fp16_model(folder / "model.fp32.onnx")  # model.fp16.onnx: ort-cpu's fp16
    return folder


@pytest.fixture(scope="module")
def images(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.preprocess import preprocess
    from edgebench.exporter.zoo import get_spec

    ds = load_dataset("cifar10:test", shared_data, size=N_IMAGES)
    return preprocess(ds.images, get_spec("resnet20").input.preprocessing, (32, 32)), ds.labels


def _predict(runtime: str, model: Path, x: np.ndarray, options: RuntimeOptions | None = None) -> Any:
    rt = get_runtime(runtime)
    sess = rt.load(model, rt.Options.coerce(options) if options is not None else rt.Options(intra_op_threads=2))
    name = sess.inputs[0].name
    fixed = sess.inputs[0].shape[0]
    step = fixed if isinstance(fixed, int) and fixed > 0 else 100  # a static artifact (batch 1) runs its own batch
    out = [next(iter(sess.run({name: x[i:i + step]}).values())) for i in range(0, len(x), step)]
    return np.concatenate(out).argmax(1), sess


def _cases() -> list[Any]:
    cases = []
    for name in runtime_names():
        cls = RUNTIMES.get(name)
        fixed = getattr(cls, "precision", None)
        converts = getattr(cls, "converts", None)
        if converts is not None:  # a runtime of converted models; ONNX files too when it reads them
            files = (["model.fp32.onnx", "model.int8.onnx"] if cls.reads_onnx else []) + \
                [f"convert-{p}" for p in converts]
        else:
            files = ["model.fp32.onnx"] + ([] if fixed else ["model.int8.onnx"])
        for p in REDUCED:  # bf16/fp16 where the runtime runs them: its own file, or the FP32 one with options
            if p in runs(name):
                way = precision_way(name, p)
                files.append(f"model.{p}.onnx" if way is None else
                             ("convert-fp32" if converts is not None and not cls.reads_onnx else "model.fp32.onnx")
                             + f"@{p}")
        for f in files:
            marks = [] if cls().available() else [pytest.mark.skip(reason=f"{name} not installed: {cls.install_hint}")]
            cases.append(pytest.param(name, f, id=f"{name}:{f}", marks=marks))
    return cases


@pytest.mark.data
@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize(("runtime", "model_file"), _cases())
@pytest.mark.usefixtures("torch_provided")  # the torch runtimes rebuild the module (as the command line gives them)
def test_same_top1_as_reference(runtime: str, model_file: str, resnet20_folder: Path,
                                images: tuple[np.ndarray, np.ndarray], torch_provided: None) -> None:
    x, labels = images
    ref, _ = _predict("ort-cpu", resnet20_folder / "model.fp32.onnx", x)
    model_file, _, reduced = model_file.partition("@")
    path = converted(resnet20_folder, runtime, model_file[len("convert-"):]) if model_file.startswith("convert-") \
        else resnet20_folder / model_file
    _, options = plan_precision(runtime, reduced or None, RuntimeOptions(intra_op_threads=2))
    try:
        pred, sess = _predict(runtime, path, x, options)
    except UserInputError as e:  # this CPU/build cannot run it (the runtime said what it would run instead)
        if not reduced:
            raise
        pytest.skip(str(e))
    if reduced:
        assert sess.info["execution_precision"] == reduced
    precision = getattr(sess, "precision", None) or next((p for p in ("int8", "fp16") if p in model_file), "fp32")
    tol = TOLERANCE[precision]
    agreement = float((pred == ref).mean())
    ref_top1, top1 = 100 * float((ref == labels).mean()), 100 * float((pred == labels).mean())
    assert ref_top1 > 88.0  # the published ResNet-20 scores 91.5 % on these images
    assert agreement >= tol["agreement"], f"{runtime} on {model_file}: agreement {agreement:.3f}"
    assert abs(top1 - ref_top1) <= tol["top1_points"], f"{runtime} on {model_file}: {top1:.1f} vs {ref_top1:.1f}"


_CONVERTED: dict[tuple[Path, str, str], Path] = {}


def converted(folder: Path, runtime: str, precision: str) -> Path:
    """`edgebench convert` of the module's ResNet-20 (once per runtime x precision), same calibration set."""
    from edgebench.calibration.convert import ConvertConfig, convert_model
    from edgebench.exporter.rebuild import build_module

    key = (folder, runtime, precision)
    if key not in _CONVERTED:
        data = "cifar10:train" if precision == "int8" else None
        _CONVERTED[key] = convert_model(folder, ConvertConfig(runtime=runtime, precision=precision, data=data,
                                                              calib_size=256, seed=0, parity_images=128,
                                                              threads=2, force=True), build_module=build_module)
    return _CONVERTED[key]


# --- refusals: parity, precision, static batch, unknown names ---------------------------------------------------


@pytest.mark.data
@pytest.mark.torch
@pytest.mark.slow
def test_a_conversion_whose_parity_fails_is_never_written(resnet20_folder: Path, tmp_path: Path) -> None:
    """ncnn FP32 differs from ORT by ~3e-5: a zero tolerance must refuse it and leave no file behind."""
    from edgebench.calibration.convert import ConvertConfig, convert_model
    from edgebench.errors import ParityError
    from edgebench.parity import ConvertTolerance

    if not RUNTIMES.get("ncnn")().available():
        pytest.skip(f"ncnn not installed: {RUNTIMES.get('ncnn').install_hint}")
    cfg = ConvertConfig(runtime="ncnn", out=tmp_path, parity_images=16, tolerance=ConvertTolerance(atol=0, rtol=0))
    with pytest.raises(ParityError, match=r"refused, nothing written: random inputs max\|diff\|"):
        convert_model(resnet20_folder, cfg)
    assert not (tmp_path / "ncnn" / "fp32").exists()
    assert list((tmp_path / "ncnn").iterdir()) == []  # no temporary folder left either
    ok = convert_model(resnet20_folder, ConvertConfig(runtime="ncnn", out=tmp_path, parity_images=16))
    assert ok == tmp_path / "ncnn" / "fp32" / "model.param" and ok.with_suffix(".bin").is_file()


@pytest.mark.data
@pytest.mark.torch
def test_convert_and_bench_refuse_bad_requests(resnet20_folder: Path, tmp_path: Path) -> None:
    import shutil

    from edgebench.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    bare = tmp_path / "bare"  # the FP32 model alone: no converted artifacts beside it (other tests make some)
    bare.mkdir()
    for f in ("model.fp32.onnx", "model.fp32.json"):
        shutil.copy(resnet20_folder / f, bare / f)
    cases = {
        ("convert", str(resnet20_folder), "-r", "openvno"): "Did you mean 'openvino'?",
        ("convert", str(resnet20_folder), "-r", "ncnn", "--precision", "int8"): "ncnn2table/ncnn2int8",
        ("convert", str(resnet20_folder), "-r", "openvino", "--precision", "fp32"): "reads the FP32 ONNX model",
        ("convert", str(resnet20_folder / "model.int8.onnx"), "-r", "litert"): "convert the FP32 model",
        ("convert", str(resnet20_folder), "-r", "ort-cpu"): "nothing to convert",
        ("bench", str(resnet20_folder), "-r", "ncnn", "--precision", "int8"): "cannot run --precision int8",
        ("bench", str(bare), "-r", "litert", "-o", str(tmp_path)): "edgebench convert",
        ("bench", str(resnet20_folder), "-r", "ort-cpu", "--precision", "int4"): "is not one of fp32, bf16, fp16, int8",
    }
    for args, message in cases.items():
        r = runner.invoke(app, list(args))
        assert r.exit_code == 2, (args, r.output)
        assert message in r.output, (args, r.output)
    assert not (resnet20_folder / "ort-cpu").exists()


@pytest.mark.data
@pytest.mark.torch
@pytest.mark.slow
def test_a_static_artifact_refuses_another_batch(resnet20_folder: Path) -> None:
    """LiteRT/ncnn artifacts are batch 1: a batch of 8 is refused (resizing would be wrong), never resized."""
    from edgebench.errors import UserInputError

    path = converted(resnet20_folder, "ncnn", "fp32")
    rt = get_runtime("ncnn")
    sess = rt.load(path, rt.Options(intra_op_threads=1))
    assert sess.inputs[0].shape == (1, 3, 32, 32)
    x = np.zeros((8, 3, 32, 32), dtype=np.float32)
    with pytest.raises(UserInputError, match="static"):
        sess.run({sess.inputs[0].name: x})
    with pytest.raises(UserInputError, match="fixed batch of 1"):
        sess.inputs[0].resolve(batch=8)


def test_missing_packages_are_listed_with_the_extra(tmp_path: Path) -> None:
    """With openvino, ai_edge_litert, ncnn and the converters hidden (as on a bare device install)."""
    import subprocess
    import sys

    script = tmp_path / "hide.py"
    script.write_text(
        "import sys\n"
        "for name in ('openvino', 'ai_edge_litert', 'ncnn', 'pnnx', 'nncf', 'litert_torch'):\n"
        "    sys.modules[name] = None  # find_spec() -> None, import -> ImportError: as if not installed\n"
        "from typer.testing import CliRunner\n"
        "from edgebench.cli import app\n"
        "r = CliRunner().invoke(app, ['runtimes'])\n"
        "print(r.output)\n"
        "from edgebench.runtimes.converters import get_converter\n"
        "try:\n"
        "    get_converter('ncnn')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True).stdout
    for name in ("openvino", "litert", "ncnn"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name + " "))
        assert "not installed: pip install 'edgebench[runtimes]'" in line, line
    assert "ort-cpu      available" in out
    assert "RuntimeUnavailable the ncnn converter needs pnnx" in out and "on the workstation" in out


# --- scenarios: every runtime runs multi/offline/server, or refuses with its reason -----------------------------

SCENARIOS = ("multi", "offline", "server")


def scenario_support(runtime: str, scenario: str) -> str:
    """What a runtime declares for a scenario: "yes", "one stream" (its sessions take turns: offline tries one
    stream, server refuses --streams > 1) or "refused"."""
    from edgebench.bench.scenarios import check_supported

    rt = RUNTIMES.get(runtime)()
    try:
        check_supported(rt, scenario)
    except UserInputError:
        return "refused"
    try:
        check_supported(rt, scenario, 2)
    except UserInputError:
        return "one stream"
    return "one stream" if scenario == "offline" and getattr(rt, "serial_sessions", "") else "yes"


def test_docs_state_each_runtimes_scenarios() -> None:
    """docs/bench.md's table has a row per registered runtime, each cell what the runtime declares."""
    doc = (Path(__file__).parents[2] / "docs" / "bench.md").read_text(encoding="utf-8")
    rows = {ln.split("|")[1].strip().strip("`"): [c.strip() for c in ln.split("|")[2:6]]
            for ln in doc.splitlines() if ln.startswith("| `") and ln.count("|") >= 7}
    for name in runtime_names():
        assert name in rows, f"docs/bench.md: no scenario row for runtime {name}"
        declared = ["yes"] + [scenario_support(name, s) for s in SCENARIOS]
        shown = [c.split(":")[0].split(" (")[0] for c in rows[name]]
        assert shown == declared, f"docs/bench.md row of {name}: {rows[name]}, declared {declared}"


def _scenario_cases() -> list[Any]:
    return [pytest.param(name, s, id=f"{name}:{s}", marks=[] if RUNTIMES.get(name)().available() else
                         [pytest.mark.skip(reason=f"{name} not installed: {RUNTIMES.get(name).install_hint}")])
            for name in runtime_names() for s in SCENARIOS]


@pytest.mark.data
@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize(("runtime", "scenario"), _scenario_cases())
def test_every_runtime_runs_each_scenario_or_says_why(runtime: str, scenario: str, resnet20_folder: Path,
                                                      tmp_path: Path) -> None:
    """ResNet-20 (FP32, or the runtime's converted FP32 artifact) through the scenario, 2 streams where it has
    streams, each pinned to a CPU of its own when there are 2: the result must show every stream served and
    every thread a stream's session started kept on the stream's CPUs. A scenario the runtime does not claim
    must be refused (exit 2) with its reason."""
    import json
    import os

    from edgebench.cli import app
    from typer.testing import CliRunner

    if "fp32" in getattr(RUNTIMES.get(runtime), "converts", ()):
        converted(resnet20_folder, runtime, "fp32")  # DIR/<runtime>/fp32/: bench finds it from the folder
    pin = ["--pin-streams"] if len(os.sched_getaffinity(0)) >= 2 else []
    args = {"multi": ["--streams", "2", "-t", "4", *pin],  # 2 threads a stream: the runtime's own threads too
            "offline": ["-t", "2", *pin], "server": ["--streams", "2", "--qps", "200", "-t", "2", *pin]}[scenario]
    extra = ["--ro", "calibration_size=32"] if runtime == "torch-int8" else []
    r = CliRunner().invoke(app, ["bench", str(resnet20_folder), "-r", runtime, "--scenario", scenario, *args,
                                 *extra, "--in-process", "--warmup-iters", "1", "--min-iters", "3",
                                 "--min-seconds", "0", "--json", "-o", str(tmp_path)])
    support = scenario_support(runtime, scenario)
    rt = RUNTIMES.get(runtime)
    if support == "refused" or (support == "one stream" and scenario == "server"):
        assert r.exit_code == 2, r.output
        reason = (getattr(rt, "scenario_refusals", None) or {}).get(scenario) or rt.serial_sessions
        assert f"runtime '{runtime}' cannot" in r.output and reason in r.output.replace("\n", " "), r.output
        return
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["scenario"]["name"] == scenario and d["throughput"]["items_per_s"] > 0
    streams = d["placement"]["streams"]
    assert len(streams) == d["scenario"]["streams"] == len(d["throughput"]["streams"])
    if scenario != "server":  # a server's queue may hand one stream fewer queries
        assert all(s["queries"] >= 3 for s in d["throughput"]["streams"])
    if support == "one stream":
        assert {c["streams"] for c in d["scenario"]["configs"]} == {1}
    if pin:
        sets = [set(s["cpus"]) for s in streams]
        assert all(len(a & b) == 0 for i, a in enumerate(sets) for b in sets[i + 1:])  # disjoint
        for s in streams:
            assert s["thread_allowed_cpus"] == s["cpus"], (runtime, s)
            assert s["session_threads_outside_cpus"] == 0, (runtime, s)
    if runtime == "openvino":
        assert d["scenario"]["stream_options"] == {"cpu_pinning": False}
