"""What edgebench reads back from a model folder is checked like an option (issue #23): manifest values by one
set of rules (`FIELD_RULES`), the files a manifest names only inside the model folder, a parent only by hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.artifact import ModelArtifact, confined_path
from edgebench.calibration.describe import PreprocessingChoice
from edgebench.errors import ModelFileError, UserInputError
from edgebench.manifest import InputInfo, Manifest, check_value, read_manifest
from edgebench.tools.synthetic import conv_net

GOOD = {"resize": 256, "crop": 224, "size": (32, 32), "scale": 1 / 255, "mean": (0.5, 0.5, 0.5), "std": (0.2, 0.2, 0.2),
        "layout": "NHWC", "channel_order": "BGR", "interpolation": "bicubic", "num_classes": 1000,
        "shape": ("batch", 3, 224, 224), "batch": "dynamic", "name": "input.1"}
BAD = [("resize", 100000), ("resize", 0), ("resize", True), ("resize", 2.5), ("crop", -1), ("size", (32, 5000)),
       ("scale", -1.0), ("scale", 0), ("scale", float("inf")), ("scale", "1/255"), ("mean", (float("nan"), 0, 0)),
       ("mean", ()), ("std", (float("nan"), 1, 1)), ("std", (0.2, -0.1, 0.2)), ("std", (1.0,) * 5),
       ("layout", "NCWH"), ("channel_order", "rgb"), ("interpolation", "magic"), ("num_classes", -3),
       ("num_classes", 0), ("num_classes", 10**9), ("shape", "1x3x16x16"), ("shape", (1, -3, 16, 16)),
       ("shape", (1, 3, "16", 16)), ("shape", ()), ("shape", (1, None, 16, 16)), ("batch", 0), ("name", "")]


@pytest.mark.parametrize("rule", sorted(GOOD))
def test_values_a_real_model_needs_pass(rule: str) -> None:
    assert check_value(rule, GOOD[rule], f"--{rule}") == GOOD[rule]


@pytest.mark.parametrize(("rule", "value"), BAD, ids=[f"{r}={v!r}" for r, v in BAD])
def test_out_of_bounds_values_are_refused_naming_them(rule: str, value: object) -> None:
    with pytest.raises(UserInputError, match=rf"^--{rule} is .*; allowed: "):
        check_value(rule, value, f"--{rule}")


def _manifest(**changes: object) -> dict:
    m = Manifest(name="m", arch="a", input=InputInfo("input", ("batch", 3, 32, 32)), onnx_file="model.fp32.onnx",
                 onnx_sha256="ab" * 32).to_dict()
    for key, value in changes.items():
        block, _, field = key.rpartition(".")
        target = m["input"]["preprocessing"] if block == "pp" else m["input"] if block == "input" else m
        target[field] = value
    return m


@pytest.mark.parametrize(("key", "value", "field"), [
    ("pp.resize", 100000, "input.preprocessing.resize"), ("pp.crop", 0, "input.preprocessing.crop"),
    ("pp.std", [float("nan"), 1, 1], "input.preprocessing.std"), ("pp.scale", -0.5, "input.preprocessing.scale"),
    ("pp.interpolation", "magic", "input.preprocessing.interpolation"), ("num_classes", -3, "num_classes"),
    ("input.shape", "1x3x32x32", "input.shape"), ("input.shape", [1, 3, -32, 32], "input.shape"),
    ("batch", -1, "batch"), ("onnx_file", "/etc/passwd", "onnx_file"), ("onnx_file", "../x.onnx", "onnx_file"),
    ("parent_file", "/abs/model.fp32.onnx", "parent_file"), ("weights_file", "../../w.pt", "weights_file"),
])
def test_loading_names_the_file_the_field_the_value_and_what_is_allowed(tmp_path: Path, key: str, value: object,
                                                                        field: str) -> None:
    path = tmp_path / "model.fp32.json"
    path.write_text(json.dumps(_manifest(**{key: value})), encoding="utf-8")
    with pytest.raises(UserInputError) as e:
        read_manifest(path)
    msg = str(e.value)
    assert msg.startswith(f"manifest '{path}': field '{field}' is ") and "allowed:" in msg and "\n" not in msg
    assert msg.endswith("fix the file or re-export the model")


@pytest.mark.parametrize(("block", "field", "value"), [("weights", "file", "/home/me/ckpt.pt"),
                                                       ("pruned", "weights_file", "../../round1.pt"),
                                                       ("pruned", "structure_file", "/etc/structure.json")])
def test_nested_file_fields_stay_in_the_folder(block: str, field: str, value: str) -> None:
    m = _manifest()
    m[block] = {"source": "user", "round": 1, "weights_file": "round1.pt", field: value}
    with pytest.raises(UserInputError, match=rf"field '{block}\.{field}' is .*relative path inside"):
        Manifest.from_dict(m, "m.json")


def test_a_converted_artifacts_parent_may_go_up_to_its_model_folder() -> None:
    m = Manifest.from_dict(_manifest(parent_file="../../model.fp32.onnx", parent_sha256="ab"), "m.json")
    assert m.parent_file == "../../model.fp32.onnx"
    root = Path("art/r20")
    assert confined_path(root / "litert/int8", m.parent_file, what="p", root=root) == root / "model.fp32.onnx"
    with pytest.raises(ModelFileError, match="points outside the model folder"):
        confined_path(root / "litert/int8", "../../../r56/model.fp32.onnx", what="p", root=root)


def test_describe_options_use_the_same_rules() -> None:
    with pytest.raises(UserInputError, match=r"^--resize is 100000; allowed: an integer from 1 to 4096"):
        PreprocessingChoice(mean=(0.5,) * 3, std=(0.2,) * 3, resize=100000)
    with pytest.raises(UserInputError, match=r"^--std is \[NaN, 1.0, 1.0\]"):
        PreprocessingChoice(mean=(0.5,) * 3, std=(float("nan"), 1.0, 1.0))
    with pytest.raises(UserInputError, match=r"^--size is \[32, 9000\]"):
        PreprocessingChoice(preset="cifar10", size=(32, 9000))


# --- parents: inside the folder and by hash ------------------------------------------------------------------

def _int8_folder(d: Path, *, parent_file: str = "model.fp32.onnx", parent_sha256: str | None = "") -> Path:
    fp32 = conv_net(d / "model.fp32.onnx")
    m = Manifest(name=d.name, input=InputInfo("input", ("batch", 3, 16, 16))).with_file(fp32)
    (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    int8 = conv_net(d / "model.int8.onnx", seed=1)
    child = m.derive(precision="int8", onnx_file=int8.name, parent_file=parent_file,
                     parent_sha256=m.onnx_sha256 if parent_sha256 == "" else parent_sha256).with_file(int8)
    (d / "model.int8.json").write_text(json.dumps(child.to_dict()), encoding="utf-8")
    return int8


def test_parent_is_followed_when_its_hash_matches(tmp_path: Path) -> None:
    parent = ModelArtifact.resolve(_int8_folder(tmp_path / "r20")).parent()
    assert parent is not None and parent.path.name == "model.fp32.onnx" and parent.manifest is not None
    assert ModelArtifact.resolve(tmp_path / "r20").parent() is None  # the FP32 model has no parent


def test_a_parent_of_another_model_is_refused_naming_both_files(tmp_path: Path) -> None:
    int8 = _int8_folder(tmp_path / "r20")
    conv_net(tmp_path / "r20" / "model.fp32.onnx", seed=2)  # re-exported since: another network
    with pytest.raises(ModelFileError, match="was made from another model") as e:
        ModelArtifact.resolve(int8).parent()
    assert "model.fp32.onnx" in str(e.value) and "model.int8.json" in str(e.value)


def test_a_parent_outside_the_folder_is_refused_even_with_its_hash(tmp_path: Path) -> None:
    _int8_folder(tmp_path / "r56")
    r56 = read_manifest(tmp_path / "r56" / "model.fp32.json")
    int8 = _int8_folder(tmp_path / "r20", parent_file="../r56/model.fp32.onnx", parent_sha256=r56.onnx_sha256)
    with pytest.raises(ModelFileError, match=r"'\.\./r56/model\.fp32\.onnx' points outside the model folder"):
        ModelArtifact.resolve(int8).parent()


def test_a_parent_without_a_recorded_hash_is_not_trusted(tmp_path: Path) -> None:
    int8 = _int8_folder(tmp_path / "r20", parent_sha256="ab")
    data = json.loads((tmp_path / "r20" / "model.int8.json").read_text())
    del data["parent_sha256"]
    (tmp_path / "r20" / "model.int8.json").write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="records no parent_sha256"):
        ModelArtifact.resolve(int8).parent()
