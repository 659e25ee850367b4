"""`latency-table --probes PACK` measures only the pack's own model: inside the pack, verified by its hash and of
the precision the table will claim (issue #23: `model_file: ../../r20/model.fp32.onnx` gave an "int8" table
of an FP32 model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.cli import app
from edgebench.errors import ModelFileError, UserInputError
from edgebench.latency_table import PROBES_FILE, load_probes, probe_model, structure_hash
from edgebench.manifest import InputInfo, Manifest, sha256_file
from edgebench.tools.synthetic import conv_net
from typer.testing import CliRunner


def _pack(d: Path, precision: str = "fp32", *, model_file: str | None = None, sha: bool = True) -> Path:
    onnx = conv_net(d / f"model.{precision}.onnx")
    m = Manifest(name="tiny", input=InputInfo("input", ("batch", 3, 16, 16)), precision=precision).with_file(onnx)
    (d / f"model.{precision}.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    doc = {"schema_version": 1, "kind": "edgebench.latency-probes", "precision": precision,
           "model": {"arch": "tiny", "hash": structure_hash([], None)}, "units": [],
           "model_file": model_file or onnx.name}
    if sha:
        doc["model_sha256"] = sha256_file(onnx)
    (d / PROBES_FILE).write_text(json.dumps(doc), encoding="utf-8")
    return d


def _doc(pack: Path) -> dict:
    return json.loads((pack / PROBES_FILE).read_text())


def test_the_packs_own_model_is_measured(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "pack")
    assert probe_model(pack, _doc(pack), "fp32") == pack / "model.fp32.onnx"
    out = tmp_path / "t.json"
    r = CliRunner().invoke(app, ["latency-table", "--probes", str(pack), "--precision", "fp32", "--rounds", "2",
                                 "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    assert json.loads(out.read_text())["model_file"] == "model.fp32.onnx"


def test_a_model_outside_the_pack_is_refused(tmp_path: Path) -> None:
    _pack(tmp_path / "r20")
    pack = _pack(tmp_path / "pack", "int8", model_file="../r20/model.fp32.onnx", sha=False)
    with pytest.raises(ModelFileError, match="points outside the model folder"):
        probe_model(pack, _doc(pack), "int8")


def test_a_model_of_another_precision_is_refused(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "pack", "fp32")
    doc = {**_doc(pack), "precision": "int8"}  # probes.json claims int8, the model is the FP32 one
    with pytest.raises(UserInputError, match="says precision fp32, not --precision int8"):
        probe_model(pack, doc, "int8")


def test_a_changed_model_is_refused_by_the_recorded_hash(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "pack")
    conv_net(pack / "model.fp32.onnx", seed=3)
    with pytest.raises(UserInputError, match="the pack's model changed"):
        probe_model(pack, _doc(pack), "fp32")


def test_an_older_pack_is_verified_by_its_manifest(tmp_path: Path) -> None:
    pack = _pack(tmp_path / "pack", sha=False)
    assert probe_model(pack, _doc(pack), "fp32").name == "model.fp32.onnx"
    conv_net(pack / "model.fp32.onnx", seed=3)
    with pytest.raises(ModelFileError, match="changed after export"):
        probe_model(pack, _doc(pack), "fp32")


UNIT = {"name": "layer1.0.conv1", "block": "layer1.0", "channels": 16, "input": [1, 16, 8, 8], "residual": True,
        "removable": True, "widths": [8, 16],
        "convs": [{"cin": 16, "cout": "w", "k": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1], "groups": 1,
                   "relu": True},
                  {"cin": "w", "cout": 16, "k": [3, 3], "stride": [1, 1], "pad": [1, 1, 1, 1], "relu": False}]}


def _probes(tmp_path: Path, units: list, hash_units: list | None = None) -> Path:
    path = tmp_path / PROBES_FILE
    path.write_text(json.dumps({"schema_version": 1, "kind": "edgebench.latency-probes", "input_shape": [1, 16, 8, 8],
                                "model": {"arch": "tiny", "hash": structure_hash(hash_units or units, [1, 16, 8, 8])},
                                "units": units}), encoding="utf-8")
    return path


def test_probe_units_are_read_when_they_match_their_hash(tmp_path: Path) -> None:
    assert load_probes(_probes(tmp_path, [UNIT]))["units"] == [UNIT]


def test_edited_probe_units_are_refused_by_the_model_hash(tmp_path: Path) -> None:
    edited = {**UNIT, "input": [1, 16, 4096, 4096]}
    with pytest.raises(UserInputError, match="do not match the model hash"):
        load_probes(_probes(tmp_path, [edited], hash_units=[UNIT]))


@pytest.mark.parametrize("change", [{"input": [1, 16, 100000, 8]}, {"input": [1, 3, 8]}, {"widths": [0, 16]},
                                    {"widths": []}, {"convs": []},
                                    {"convs": [{**UNIT["convs"][0], "cin": 10**6}]},
                                    {"convs": [{**UNIT["convs"][0], "k": [3, 300]}]},
                                    {"convs": [{**UNIT["convs"][0], "pad": [1, 1]}]}])
def test_probe_units_out_of_bounds_are_refused_even_with_a_matching_hash(tmp_path: Path, change: dict) -> None:
    with pytest.raises(UserInputError, match="write the probe pack again"):
        load_probes(_probes(tmp_path, [{**UNIT, **change}]))
