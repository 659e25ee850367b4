"""Every reader of a file the user gives, fuzzed (issue #23 §3): truncated, garbage, empty, wrong-type and deeply
nested files give a value or one `UserInputError` line, never another exception; and at the CLI, one
representative command per reader exits 2 with exactly one `edgebench: error:` line and writes nothing.

Readers: .npz (datasets and `bench --inputs`), image folder, manifest, result JSON, sweep TOML, devices TOML,
latency probes, weights. Inputs are derived from a valid file of each kind: byte-level variants (empty, random
bytes, truncations, flipped bytes, not UTF-8, deep nesting, JSON/TOML of the wrong type, a folder instead of
the file) and, for the structured kinds, every field replaced by every value of `WRONG`.
"""

from __future__ import annotations

import copy
import io
import json
import math
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.cli import app
from edgebench.errors import UserInputError
from typer.testing import CliRunner

from tests import reader_inputs as bad
from tests.test_bad_input import QUICK, _snapshot

REPO = Path(__file__).resolve().parent.parent
SWEEP = (REPO / "examples" / "sweep-resnet20.toml").read_text(encoding="utf-8")
WRONG: list[Any] = [None, "x", "", [], {}, -1, 0, 10**30, 1e-300, math.inf, math.nan, True, [[[]]], {"a": {"b": []}}]


# ----------------------------------------------------------------------------------------- the readers


def _spec() -> Any:
    from edgebench.runtimes.base import TensorSpec

    return [TensorSpec("input", ("batch", 3, 16, 16), "float32")]


def _image_folder(path: Path) -> Any:
    from edgebench.calibration.imagefolder import load_image_folder

    folder = path.parent / f"{path.name}.images"
    (folder / "cat").mkdir(parents=True)
    if path.is_dir():
        (folder / "cat" / "a.png").mkdir()
    else:
        (folder / "cat" / "a.png").write_bytes(path.read_bytes())
    return load_image_folder(folder)


def _results(path: Path) -> Any:
    from edgebench.bench.report.data import load_results

    return load_results([path]).rows


def _weights(path: Path) -> Any:
    from edgebench.exporter.checkpoint import extract_state_dict, read_checkpoint

    return extract_state_dict(read_checkpoint(path), str(path))


def _npz_dataset(path: Path) -> Any:
    from edgebench.calibration.datasets import load_npz

    return load_npz(path)


def _npz_inputs(path: Path) -> Any:
    from edgebench.bench.inputs import npz_feeds

    return npz_feeds(path, _spec(), 2)


def _manifest(path: Path) -> Any:
    from edgebench.manifest import read_manifest

    return read_manifest(path)


def _sweep(path: Path) -> Any:
    from edgebench.sweep.config import load_sweep

    return load_sweep(path)


def _devices(path: Path) -> Any:
    from edgebench.devices.registry import DeviceRegistry

    return DeviceRegistry(path).devices


def _probes(path: Path) -> Any:
    from edgebench.latency_table import load_probes

    return load_probes(path)


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buf, "PNG")
    return buf.getvalue()


def _weights_bytes() -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"conv.weight": torch.zeros(2, 3, 3, 3), "fc.bias": torch.zeros(2)}, buf)
    return buf.getvalue()



def _manifest_dict() -> dict[str, Any]:
    from edgebench.manifest import InputInfo, Manifest

    return Manifest(name="m", arch="resnet20", input=InputInfo("input", ("batch", 3, 32, 32)),
                    onnx_file="model.fp32.onnx", onnx_sha256="ab" * 32, file_size_mb=1.0, opset=17,
                    precision="fp32").to_dict()


# name -> (reader, valid bytes, text format of the file: "json" | "toml" | None)
READERS: dict[str, tuple[Callable[[Path], Any], Callable[[], bytes], str | None]] = {
    "npz-dataset": (_npz_dataset, lambda: _npz_bytes(images=np.zeros((2, 16, 16, 3), np.uint8),
                                                      labels=np.arange(2)), None),
    "npz-inputs": (_npz_inputs, lambda: _npz_bytes(input=np.zeros((2, 3, 16, 16), np.float32)), None),
    "image-folder": (_image_folder, _png_bytes, None),
    "manifest": (_manifest, lambda: json.dumps(_manifest_dict()).encode(), "json"),
    "result": (_results, lambda: json.dumps(bad.result_dict()).encode(), "json"),
    "sweep": (_sweep, lambda: SWEEP.encode(), "toml"),
    "devices": (_devices, lambda: b'[devices.pi4]\nurl = "ssh://pi@raspberrypi.local"\npython = "python3"\n'
                                b'workdir = "~/edgebench"\n', "toml"),
    "probes": (_probes, lambda: json.dumps(bad.PROBES).encode(), "json"),
    "weights": (_weights, _weights_bytes, None),
}


def _variants(valid: bytes, fmt: str | None) -> Iterator[tuple[str, bytes | None]]:
    """(label, content) of every byte-level variant of `valid`; None: a folder in the file's place."""
    rng = random.Random(23)
    yield "empty", b""
    yield "folder", None
    yield "not-utf8", b"\xff\xfe\x00\x80" + valid[:40]
    for n in (1, 3, 17, 500):
        yield f"garbage-{n}", bytes(rng.randrange(256) for _ in range(n))
    yield "pk-garbage", b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(200))
    for frac in (0.02, 0.3, 0.6, 0.97):
        yield f"truncated-{frac}", valid[: max(1, int(len(valid) * frac))]
    for i in range(4):
        flipped = bytearray(valid)
        for _ in range(3):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        yield f"flipped-{i}", bytes(flipped)
    yield "deep-json", b"[" * 50_000 + b"]" * 50_000
    yield "deep-json-object", b'{"a":' * 5_000 + b"1" + b"}" * 5_000
    yield "deep-toml", b"x = " + b"[" * 5_000 + b"]" * 5_000
    for text in ("null", "5", '"x"', "[]", "{}", "[1, 2]", "x = 5", "[devices]\npi4 = 5", "9" * 5_000, "NaN"):
        yield f"wrong-type-{text[:12]}", text.encode()


def _value_or_user_error(read: Callable[[Path], Any], path: Path) -> None:
    try:
        read(path)
    except UserInputError as e:
        assert str(e).strip() and "\n" not in str(e), repr(str(e))


def _cases() -> Iterator[Any]:
    for name, (_, _valid, fmt) in READERS.items():
        marks = [pytest.mark.torch] if name == "weights" else []
        yield pytest.param(name, "valid", id=f"{name}-valid", marks=marks)
        for label, _ in _variants(b"x" * 100, fmt):
            yield pytest.param(name, label, id=f"{name}-{label}", marks=marks)


@pytest.mark.parametrize(("reader", "variant"), list(_cases()))
def test_reader_gives_a_value_or_one_user_error(reader: str, variant: str, tmp_path: Path) -> None:
    read, valid, fmt = READERS[reader]
    content = dict(_variants(valid(), fmt))[variant] if variant != "valid" else valid()
    path = tmp_path / ("probes.json" if reader == "probes" else f"input.{reader}")
    if reader == "probes":
        from edgebench.tools.synthetic import conv_net

        conv_net(tmp_path / "model.fp32.onnx")
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    if variant == "valid":
        assert read(path) is not None  # the valid file is read: the variants test the reader, not a typo
    else:
        _value_or_user_error(read, path)


def _leaves(d: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path (keys / indices) into `d`, inner nodes included."""
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        yield (*prefix, k)
        yield from _leaves(v, (*prefix, k))


def _replaced(d: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(d)
    cur = out
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return out


@pytest.mark.parametrize("reader", ["manifest", "result", "probes"])
def test_every_json_field_replaced_by_a_wrong_value(reader: str, tmp_path: Path) -> None:
    """Each field (leaf or block) of a valid file replaced by each value of WRONG: a value or one UserInputError."""
    from edgebench.tools.synthetic import conv_net

    read, valid, _ = READERS[reader]
    doc = json.loads(valid())
    conv_net(tmp_path / "model.fp32.onnx")
    path = tmp_path / ("probes.json" if reader == "probes" else f"{reader}.json")
    tried = 0
    for leaf in _leaves(doc):
        for value in WRONG:
            path.write_text(json.dumps(_replaced(doc, leaf, value)), encoding="utf-8")
            _value_or_user_error(read, path)
            tried += 1
    assert tried > 100


TOML_WRONG = ["5", "-1", "0", "true", '""', '"x"', "[]", "[[1]]", "{}", "{ a = 1 }", "nan", "inf", "1979-05-27",
              "9" * 30]


@pytest.mark.parametrize("reader", ["sweep", "devices"])
def test_every_toml_value_replaced_by_a_wrong_value(reader: str, tmp_path: Path) -> None:
    """Each `key = value` line of a valid file with its value replaced by each TOML literal of TOML_WRONG."""
    read, valid, _ = READERS[reader]
    lines = valid().decode().splitlines()
    path = tmp_path / f"{reader}.toml"
    tried = 0
    for i, line in enumerate(lines):
        key, eq, _ = line.partition("=")
        if not eq or line.lstrip().startswith("#"):
            continue
        for value in TOML_WRONG:
            path.write_text("\n".join([*lines[:i], f"{key}= {value}", *lines[i + 1:]]) + "\n", encoding="utf-8")
            _value_or_user_error(read, path)
            tried += 1
    assert tried >= 3 * len(TOML_WRONG)


@pytest.mark.torch
@pytest.mark.parametrize("obj", ["list", "str", "empty", "nested", "tensor", "int-keys"])
def test_weights_of_the_wrong_type(obj: str, tmp_path: Path) -> None:
    import torch

    value = {"list": [1, 2], "str": {"a": "b"}, "empty": {}, "nested": {"state_dict": {"x": [torch.zeros(1)]}},
             "tensor": torch.zeros(3), "int-keys": {1: torch.zeros(1)}}[obj]
    path = tmp_path / "w.pt"
    torch.save(value, path)
    _value_or_user_error(READERS["weights"][0], path)


def test_npz_header_larger_than_its_data(tmp_path: Path) -> None:
    """An .npz member whose header declares a terabyte array: refused from the header, nothing allocated."""
    import zipfile

    from edgebench.readers import read_npz

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images.npy", buf.getvalue())  # the header only: no data
    with pytest.raises(UserInputError, match="declares shape"):
        read_npz(path, "dataset file")


# ------------------------------------------------------------------------------------- one command per reader


def _cli_inputs(d: Path) -> dict[str, str]:
    from edgebench.manifest import InputInfo, Manifest
    from edgebench.tools.synthetic import conv_net

    model = conv_net(d / "tiny" / "model.fp32.onnx")
    m = Manifest(name="tiny", input=InputInfo("input", ("batch", 3, 16, 16))).with_file(model)
    (model.parent / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    deep_model = d / "deepman"
    deep_model.mkdir()
    (deep_model / "model.fp32.onnx").write_bytes(model.read_bytes())
    bad.deep_json(deep_model, "model.fp32.json")
    sweep = d / "sweep.toml"
    sweep.write_text("name = 'x'\nmodels = " + "[" * 5_000 + "]" * 5_000 + "\n", encoding="utf-8")
    return {"model": str(model), "pk_npz": str(bad.not_a_zip_npz(d)), "bomb": str(bad.bomb_folder(d)),
            "deep_manifest": str(deep_model), "deep_result": str(bad.deep_json(d / "results")),
            "sweep": str(sweep), "devices": str(bad.devices_url_int(d)), "probes": str(bad.probes_pack(d)),
            "weights": str(bad.text_weights(d)), "string_model": str(bad.string_input_model(d))}


CLI = [
    pytest.param(("eval", "{model}", "--data", "{pk_npz}"), id="npz"),
    pytest.param(("bench", "{model}", "--inputs", "{pk_npz}", "-o", "{out}", *QUICK), id="npz-bench-inputs"),
    pytest.param(("eval", "{model}", "--data", "{bomb}"), id="image-folder"),
    pytest.param(("eval", "{deep_manifest}", "--data", "{pk_npz}"), id="manifest"),
    pytest.param(("compare", "{deep_result}", "-o", "{out}"), id="result-compare"),
    pytest.param(("recommend", "{deep_result}"), id="result-recommend"),
    pytest.param(("sweep", "{sweep}", "-o", "{out}", "--dry-run"), id="sweep"),
    pytest.param(("device", "list", "--config", "{devices}"), id="devices"),
    pytest.param(("latency-table", "--probes", "{probes}", "--precision", "fp32", "-o", "{out}/t.json"), id="probes"),
    pytest.param(("export", "resnet20", "-w", "{weights}", "-o", "{out}"), id="weights", marks=pytest.mark.torch),
    pytest.param(("bench", "{string_model}", "-o", "{out}", *QUICK), id="model-input"),
]


@pytest.mark.parametrize("args", CLI)
def test_one_command_per_reader_exits_2_with_one_line(args: tuple[str, ...], tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    paths = {**_cli_inputs(d), "out": str(tmp_path / "out" / "deeper")}
    before = _snapshot(tmp_path)
    r = CliRunner().invoke(app, [a.format(**paths) for a in args])
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("note:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("edgebench: error:"), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert _snapshot(tmp_path) == before, "a refused command wrote or left something"
