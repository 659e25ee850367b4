"""The bad inputs of the adversarial pass on the readers (issue #23 §3) that broke before: each now exits 2 with one
`edgebench: error:` line naming the problem, and writes nothing. (Before: exit 1 with a traceback class, or a
silent wrong success: float/negative labels, NaN or complex `--inputs`, 16-bit images clipped to white,
`ssh_config = false`, `batch = 0` results, top-1 150 %, a probes `model_file` outside its pack.)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.cli import app
from typer.testing import CliRunner

from tests import reader_inputs as bad
from tests.test_bad_input import QUICK, _snapshot


def _npz(d: Path, name: str, **arrays: np.ndarray) -> str:
    np.savez(d / name, **arrays)
    return str(d / name)


def _png16(d: Path) -> str:
    from PIL import Image

    p = d / "i16" / "cat" / "a.png"
    p.parent.mkdir(parents=True)
    Image.new("I;16", (16, 16), 4000).save(p)
    return str(d / "i16")


def _text(d: Path, name: str, text: str | bytes) -> str:
    p = d / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(p)


def _result(d: Path, name: str, **changes: object) -> str:
    r = bad.result_dict()
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        cur = r
        for k in parents:
            cur = cur[k]
        cur[last] = value
    return _text(d, f"results/{name}.json", json.dumps(r))


def _model_with_input(d: Path, name: str, elem_type: int, shape: list[int]) -> str:
    from edgebench.bench.onnx_proto import Graph

    g = Graph(name)
    x = g.input("x", shape, elem_type=elem_type)
    g.output(g.node("Identity", [x]), shape, elem_type=elem_type)
    return _text(d, f"{name}/model.onnx", g.model_bytes())


def _inputs(d: Path) -> dict[str, str]:
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    model = conv_net(d / "tiny" / "model.fp32.onnx")
    m = Manifest(name="tiny", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(model)
    (model.parent / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    img = np.zeros((4, 16, 16, 3), np.uint8)
    unit = {**bad.UNIT, "convs": [{**bad.UNIT["convs"][0], "k": [99, 99], "pad": [0, 0, 0, 0]}]}
    onnx_bytes = model.read_bytes()
    buf = io.BytesIO()
    np.save(buf, img)
    return {
        "model": str(model),
        "labels_float": _npz(d, "lf.npz", images=img, labels=np.array([0.5, 1, 2, 3])),
        "labels_2d": _npz(d, "l2.npz", images=img, labels=np.zeros((4, 2), np.int64)),
        "labels_negative": _npz(d, "ln.npz", images=img, labels=np.array([-5, 1, 2, 3])),
        "npz_zero_bytes": _text(d, "zero.npz", b""),
        "npy_as_npz": _text(d, "npy.npz", buf.getvalue()),
        "inputs_no_rows": _npz(d, "nr.npz", input=np.zeros((0, 3, 16, 16), np.float32)),
        "inputs_nan": _npz(d, "nan.npz", input=np.full((2, 3, 16, 16), np.nan, np.float32)),
        "inputs_complex": _npz(d, "cx.npz", input=np.zeros((2, 3, 16, 16), np.complex64)),
        "png16": _png16(d),
        "dev_python_int": _text(d, "dev1.toml", '[devices.pi4]\nurl = "ssh://pi@h"\npython = 3\n'),
        "dev_ssh_config_bool": _text(d, "dev2.toml", '[devices.pi4]\nurl = "ssh://pi@h"\nssh_config = false\n'),
        "dev_deep": _text(d, "dev3.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n"),
        "res_batch_0": _result(d, "b0", options__batch=0),
        "res_ci_strings": _result(d, "ci", latency__p50_ci95_ms=["a", "b"]),
        "res_board_str": _result(d, "bs", machine__board="pi"),
        "res_id_int": _result(d, "id", machine__id=5),
        "res_top1_150": _result(d, "t150", accuracy={"top1_pct": 150.0, "n": 10, "dataset": "x"}),
        "sweep_binary": _text(d, "sw1.toml", b"\xff\x00\xfe"),
        "sweep_huge_int": _text(d, "sw2.toml", 'name = "x"\nmodels = ["resnet20"]\n[bench]\nthreads = ['
                                + "9" * 5000 + "]\n"),
        "probes_no_input": str(bad.probes_pack(d / "p1", {**bad.PROBES, "units": [{"name": "u"}]},
                                               {"model.fp32.onnx": onnx_bytes})),
        "probes_escape": str(bad.probes_pack(d / "p2", {**bad.PROBES, "model_file": "../../tiny/model.fp32.onnx"},
                                             {})),
        "probes_kernel": str(bad.probes_pack(d / "p3", {**bad.PROBES, "units": [unit]},
                                             {"model.fp32.onnx": onnx_bytes})),
        "probes_string_model": str(bad.probes_pack(d / "p4", bad.PROBES,
                                                   {"model.fp32.onnx": bad.string_input_model(d).read_bytes()})),
        "int16_model": _model_with_input(d, "i16", 5, [1, 3]),
        "scalar_model": _model_with_input(d, "scalar", 1, []),
    }


CASES = [
    ("labels-float", ("eval", "{model}", "--data", "{labels_float}"), "expected whole numbers [N]"),
    ("labels-2d", ("eval", "{model}", "--data", "{labels_2d}"), "expected whole numbers [N]"),
    ("labels-negative", ("eval", "{model}", "--data", "{labels_negative}"), "labels hold -5"),
    ("npz-zero-bytes", ("eval", "{model}", "--data", "{npz_zero_bytes}"), "is not an .npz"),
    ("npy-named-npz", ("eval", "{model}", "--data", "{npy_as_npz}"), "is not an .npz"),
    ("inputs-no-rows", ("bench", "{model}", "--inputs", "{inputs_no_rows}", "-o", "{out}", *QUICK), "no samples"),
    ("inputs-nan", ("bench", "{model}", "--inputs", "{inputs_nan}", "-o", "{out}", *QUICK), "NaN/Inf"),
    ("inputs-complex", ("bench", "{model}", "--inputs", "{inputs_complex}", "-o", "{out}", *QUICK), "complex64"),
    ("image-16-bit", ("eval", "{model}", "--data", "{png16}"), "I;16 pixels"),
    ("devices-python-int", ("device", "list", "--config", "{dev_python_int}"), "python 3 is not a string"),
    ("devices-ssh-config-bool", ("device", "list", "--config", "{dev_ssh_config_bool}"), "is not a string (bool)"),
    ("devices-deep", ("device", "list", "--config", "{dev_deep}"), "nests deeper than 64 levels"),
    ("result-batch-0", ("compare", "{res_batch_0}", "-o", "{out}"), "'options.batch' is 0"),
    ("result-ci-strings", ("compare", "{res_ci_strings}", "-o", "{out}"), "must be two numbers"),
    ("result-board-str", ("compare", "{res_board_str}", "-o", "{out}"), "'machine.board' is str"),
    ("result-id-int", ("compare", "{res_id_int}", "-o", "{out}"), "'machine.id' is int"),
    ("result-top1-150", ("recommend", "{res_top1_150}"), "'accuracy.top1_pct' is 150.0"),
    ("sweep-not-utf8", ("sweep", "{sweep_binary}", "-o", "{out}", "--dry-run"), "is not UTF-8"),
    ("sweep-huge-int", ("sweep", "{sweep_huge_int}", "-o", "{out}", "--dry-run"), "TOML cannot give"),
    ("probes-unit-no-input", ("latency-table", "--probes", "{probes_no_input}", "--precision", "fp32", "-o",
                              "{out}/t.json"), "has input None"),
    ("probes-model-outside", ("latency-table", "--probes", "{probes_escape}", "--precision", "fp32", "-o",
                              "{out}/t.json"), "beside probes.json"),
    ("probes-kernel-too-big", ("latency-table", "--probes", "{probes_kernel}", "--precision", "fp32", "-o",
                               "{out}/t.json"), "kernel is larger"),
    ("probes-string-model", ("latency-table", "--probes", "{probes_string_model}", "--precision", "fp32", "-o",
                             "{out}/t.json"), "has no manifest"),  # packs edgebench writes have one
    ("model-int16-input", ("bench", "{int16_model}", "-o", "{out}", *QUICK), "is tensor(int16)"),
    ("model-scalar-input", ("bench", "{scalar_model}", "-o", "{out}", *QUICK), "is a scalar (rank 0)"),
]


@pytest.mark.parametrize(("args", "message"), [pytest.param(a, m, id=i) for i, a, m in CASES])
def test_adversarial_input_exits_2_with_one_line(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    paths = {**_inputs(d), "out": str(tmp_path / "out" / "deeper")}
    before = _snapshot(tmp_path)
    r = CliRunner().invoke(app, [a.format(**paths) for a in args])
    assert r.exit_code == 2, (r.exit_code, r.stderr, r.stdout)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("note:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("edgebench: error:"), r.stderr
    assert message in lines[0], lines[0]
    assert _snapshot(tmp_path) == before, "a refused command wrote or left something"


@pytest.mark.torch
def test_a_pickle_of_protocol_4_gets_one_line_without_torchs_warning(tmp_path: Path) -> None:
    import warnings

    weights = tmp_path / "w.pt"
    weights.write_bytes(b"\x80\x04\x95garbage")
    with warnings.catch_warnings(record=True) as shown:  # outside pytest, a warning is a second stderr line
        warnings.simplefilter("always")
        r = CliRunner().invoke(app, ["export", "resnet20", "-w", str(weights), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "is not a readable PyTorch checkpoint" in r.stderr, r.stderr
    assert [str(w.message) for w in shown if issubclass(w.category, UserWarning)] == []


def test_a_conversion_that_fails_leaves_no_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The converter raising (e.g. litert on a model without 'arch') used to leave OUT/<runtime>/ behind."""
    from edgebench.errors import ModelFileError
    from edgebench.runtimes import RUNTIMES, converters, runtime_names

    runtime_names()
    runtime = next((n for n in ("ncnn", "litert") if n in RUNTIMES and RUNTIMES.get(n)().available()
                    and "fp32" in getattr(RUNTIMES.get(n), "converts", ())), None)
    if runtime is None:
        pytest.skip("no runtime with an fp32 conversion is installed here (the convert extra)")

    def failing(job: object) -> object:
        raise ModelFileError("the converter refused this model")

    monkeypatch.setattr(converters, "get_converter", lambda name: failing)
    d = tmp_path / "in"
    d.mkdir()
    model = _inputs(d)["model"]
    before = _snapshot(tmp_path)
    r = CliRunner().invoke(app, ["convert", model, "-r", runtime, "--parity-data", "", "-o",
                                 str(tmp_path / "out" / "deeper")])
    assert r.exit_code == 2 and "the converter refused this model" in r.stderr, r.stderr
    assert _snapshot(tmp_path) == before
