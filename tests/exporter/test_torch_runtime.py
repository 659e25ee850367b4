"""The `torch` and `torch-int8` runtimes: rebuild from the model folder, agree with ONNX Runtime, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.errors import BadCheckpoint, ModelFileError, RuntimeUnavailable
from edgebench.runtimes import RuntimeOptions, get_runtime
from typer.testing import CliRunner

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def random_resnet20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ResNet-20 with seeded random weights saved to a .pt, exported with its manifest (no shared data)."""
    import torch
    from edgebench.exporter.export import export_model
    from edgebench.exporter.zoo import get_spec
    from edgebench.manifest import sha256_file

    root = tmp_path_factory.mktemp("rn20")
    spec = get_spec("resnet20")
    torch.manual_seed(0)
    model = spec.build()
    folder = root / "model"
    folder.mkdir()
    weights = folder / "weights.pt"  # a manifest names only files inside its model folder
    torch.save(model.state_dict(), weights)
    export_model(model, spec, folder, parity_images=8, simplify=False,
                 weights={"sha256": sha256_file(weights), "file": weights.name, "source": "test"})
    rng = np.random.default_rng(0)
    np.savez(root / "calib.npz", images=rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8),
             labels=rng.integers(0, 10, 64))
    return folder


def _x(n: int = 4) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 3, 32, 32), dtype=np.float32)


@pytest.mark.usefixtures("torch_provided")
def test_torch_matches_onnx_runtime(random_resnet20: Path) -> None:
    onnx_file = random_resnet20 / "model.fp32.onnx"
    ort = get_runtime("ort-cpu").load(onnx_file, RuntimeOptions())
    sess = get_runtime("torch").load(onnx_file, RuntimeOptions(intra_op_threads=1))
    assert [s.name for s in sess.inputs] == [s.name for s in ort.inputs]
    x = _x()
    want = next(iter(ort.run({ort.inputs[0].name: x}).values()))
    got = sess.run({sess.inputs[0].name: x})
    assert list(got) == [o.name for o in ort.outputs]
    np.testing.assert_allclose(next(iter(got.values())), want, rtol=1e-4, atol=1e-4)
    assert sess.info["precision"] == "fp32" and sess.info["weights_file"].endswith("weights.pt")


@pytest.mark.usefixtures("torch_provided")
def test_torch_int8_quantizes_with_the_host_engine(random_resnet20: Path) -> None:
    import platform

    from edgebench.runtimes.torch.session import default_engine

    calib = random_resnet20.parent / "calib.npz"
    rt = get_runtime("torch-int8")
    opts = rt.Options.from_strings({"calibration_data": str(calib), "calibration_size": "32"})
    sess = rt.load(random_resnet20 / "model.fp32.onnx", opts)
    assert sess.info["engine"] == default_engine() == ("x86" if platform.machine() == "x86_64" else "qnnpack")
    assert sess.info["calibration"]["images"] == 32 and sess.info["calibration"]["source"] == "runtime option"
    kinds = {type(m).__module__ for m in sess.module.modules()}
    assert any("quantized" in k for k in kinds), kinds  # real quantized modules, not fake-quant
    y = sess.run({"input": _x(2)})["logits"]
    assert y.shape == (2, 10) and np.isfinite(y).all()
    assert sess.info["file_size_mb"] < 0.5  # int8 weights: about a quarter of the 1.05 MB FP32 state dict


def test_default_engine_by_machine() -> None:
    from edgebench.runtimes.torch.session import default_engine

    assert default_engine("x86_64") == "x86"
    assert default_engine("aarch64") == "qnnpack"
    assert default_engine("armv7l") == "qnnpack"


def test_bare_onnx_is_refused(tiny_onnx: Path) -> None:
    with pytest.raises(ModelFileError, match="no manifest"):
        get_runtime("torch").load(tiny_onnx, RuntimeOptions())


@pytest.mark.usefixtures("torch_provided")
def test_torch_fp32_refuses_a_quantized_file(random_resnet20: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    for f in ("model.fp32.onnx", "model.fp32.json"):
        (folder / f).write_bytes((random_resnet20 / f).read_bytes())
    (folder / "model.int8.onnx").write_bytes((random_resnet20 / "model.fp32.onnx").read_bytes())
    m = json.loads((folder / "model.fp32.json").read_text())
    m.update(precision="int8", parent_file="model.fp32.onnx", parent_sha256=m["onnx_sha256"])
    (folder / "model.int8.json").write_text(json.dumps(m))
    with pytest.raises(ModelFileError, match="not an FP32 model"):
        get_runtime("torch").load(folder / "model.int8.onnx", RuntimeOptions())


@pytest.mark.usefixtures("torch_provided")
def test_missing_weights_are_named(random_resnet20: Path, tmp_path: Path) -> None:
    folder = tmp_path / "moved"
    folder.mkdir()
    for f in ("model.fp32.onnx", "model.fp32.json"):
        (folder / f).write_bytes((random_resnet20 / f).read_bytes())
    m = json.loads((folder / "model.fp32.json").read_text())
    m["weights"]["file"] = "gone.pt"
    (folder / "model.fp32.json").write_text(json.dumps(m))
    with pytest.raises(BadCheckpoint, match=r"gone\.pt"):
        get_runtime("torch").load(folder / "model.fp32.onnx", RuntimeOptions())


def test_not_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgebench.runtimes.torch.session as tr

    monkeypatch.setattr(tr, "_torch_available", lambda: False)
    with pytest.raises(RuntimeUnavailable, match=r"runtime 'torch-int8' is not installed.*edgebench\[export\]"):
        get_runtime("torch-int8")


def test_bench_cli_with_model_folder(random_resnet20: Path, tmp_path: Path) -> None:
    from edgebench.cli import app

    data = random_resnet20.parent / "calib.npz"
    r = CliRunner().invoke(app, ["bench", str(random_resnet20), "-r", "torch", "-t", "1", "--min-iters", "5",
                                 "--min-seconds", "0", "--warmup-iters", "1", "-o", str(tmp_path), "--json",
                                 "--eval", str(data), "--eval-limit", "16"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    acc = res["accuracy"]
    assert acc["n"] == 16 and acc["runtime"] == "torch" and 0 <= acc["top1_pct"] <= acc["top5_pct"] <= 100
    assert res["runtime"]["name"] == "torch" and res["runtime"]["precision"] == "fp32"
    assert res["model"]["name"] == "resnet20-fp32" and res["model"]["macs"] > 40e6
    assert res["efficiency"]["achieved_gmacs"] > 0
    r = CliRunner().invoke(app, ["bench", str(random_resnet20 / "model.fp32.onnx"), "-r", "torch-int9"])
    assert r.exit_code == 2 and "Did you mean 'torch-int8'" in r.stderr
    r = CliRunner().invoke(app, ["bench", str(random_resnet20), "-r", "torch", "--eval", str(tmp_path / "no.npz"),
                                 "-o", str(tmp_path / "none")])
    assert r.exit_code == 2 and "no.npz" in r.stderr and not list(tmp_path.glob("none/*.json"))


@pytest.mark.slow  # ~9 s idle: a measurement process that imports torch and calibrates ResNet-20
def test_torch_int8_engine_from_the_cli(random_resnet20: Path, tmp_path: Path) -> None:
    """--runtime-option reaches torch-int8 through the measurement process (the old `extra` came back garbled)."""
    from edgebench.cli import app

    data = random_resnet20.parent / "calib.npz"
    r = CliRunner().invoke(app, ["bench", str(random_resnet20), "-r", "torch-int8", "-t", "1", "--ro", "engine=x86",
                                 "--ro", f"calibration_data={data}", "--ro", "calibration-size=16", "--min-iters", "3",
                                 "--min-seconds", "0", "--warmup-iters", "1", "-o", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["runtime"]["options"]["engine"] == "x86" and res["runtime"]["info"]["engine"] == "x86"
    assert res["runtime"]["info"]["calibration"]["images"] == 16
    assert res["options"]["graph_optimization"] is None  # an ORT option; torch has none
    r = CliRunner().invoke(app, ["bench", str(random_resnet20), "-r", "torch-int8", "--ro", "engin=x86",
                                 "-o", str(tmp_path / "none")])
    assert r.exit_code == 2 and "Did you mean 'engine'" in r.stderr and not (tmp_path / "none").exists()


def test_runtimes_layer_never_imports_the_exporter() -> None:
    import re

    root = Path(__file__).resolve().parents[2] / "runtimes"
    offenders = [p.name for p in root.glob("*.py") if re.search(r"^\s*(from|import) edgebench\.exporter",
                                                                p.read_text(), re.M)]
    assert offenders == []


@pytest.mark.usefixtures("torch_provided")
def test_torch_int8_rebuilds_an_int8_folder_only_from_its_verified_parent(random_resnet20: Path,
                                                                         tmp_path: Path) -> None:
    """#23: an INT8 manifest whose parent is another model (re-exported FP32, or a path out of the folder) was
    measured as the INT8 model; the parent is now followed inside the folder and only with its sha256."""
    import shutil

    from edgebench.calibration.datasets import Dataset
    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import resolve_preset
    from edgebench.cpu import cpu_info
    from edgebench.errors import ModelFileError

    folder = tmp_path / "r20"
    shutil.copytree(random_resnet20, folder)
    imgs = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    quantize_static_model(folder / "model.fp32.onnx", Dataset(imgs, np.zeros(16, np.int64), "random"),
                          resolve_preset("auto", None, cpu_info()))
    rt = get_runtime("torch-int8")
    opts = rt.Options.from_strings({"calibration_data": str(random_resnet20.parent / "calib.npz"),
                                    "calibration_size": "16"})
    sess = rt.load(folder / "model.int8.onnx", opts)  # what `quantize` wrote: parent in the folder, hash matches
    assert sess.info["built_from"] == "model.fp32.onnx"
    with (folder / "model.fp32.onnx").open("ab") as f:
        f.write(b"\0")  # the FP32 model changed since the INT8 one was made from it
    with pytest.raises(ModelFileError, match="was made from another model"):
        rt.load(folder / "model.int8.onnx", opts)


def test_a_process_not_given_the_exporter_says_so(random_resnet20: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtimes layer never looks the exporter up: a process whose top layer did not provide it is refused."""
    from edgebench.runtimes.torch import session

    monkeypatch.setattr(session, "_provided_targets", {})
    with pytest.raises(RuntimeUnavailable, match=r"'build_module' from the exporter.*provide\("):
        get_runtime("torch").load(random_resnet20 / "model.fp32.onnx", RuntimeOptions(intra_op_threads=1))


def test_what_was_provided_reaches_the_measurement_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgebench.exporter import TORCH_RUNTIME_NEEDS
    from edgebench.runtimes.torch import session

    monkeypatch.setattr(session, "_provided_targets", {})
    assert session.provided_env() == {}
    session.provide(**TORCH_RUNTIME_NEEDS)
    env = session.provided_env()
    monkeypatch.setattr(session, "_provided_targets", {})
    session.provide_from_env(env)  # what bench.worker does with its parent's environment
    assert session._provided_targets == TORCH_RUNTIME_NEEDS
    from edgebench.exporter.rebuild import build_module

    assert session._provided("build_module") is build_module
