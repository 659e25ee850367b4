"""The typed manifest: one schema (to_dict/from_dict), derive() for children, old files, bad versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.errors import UserInputError
from edgebench.manifest import (
    FILE_FIELDS,
    NETWORK_FIELDS,
    InputInfo,
    Manifest,
    PrunedInfo,
    WeightsRecord,
    find_typed_manifest,
    load_manifest,
    read_manifest,
)

# What `make export` wrote before the typed manifest (edgebench at commit 34cb988: `edgebench export resnet20`
# then `edgebench quantize ... --preset x86-vnni`), trimmed to a few entries per nested object.
V1_FP32 = """{
  "schema_version": 1, "kind": "edgebench.model", "name": "resnet20", "arch": "resnet20", "family": "resnet-cifar",
  "description": "ResNet-20 for CIFAR-10 (He et al. 2016), 0.27 M params",
  "precision": "fp32", "onnx_file": "model.fp32.onnx",
  "onnx_sha256": "8f4c1c9a0e6f1e2f3a4b5c6d7e8f90112233445566778899aabbccddeeff0011", "file_size_mb": 1.093,
  "weights_sha256": "3fa3ba3b2fbbed1a5e1b0f7a8f9ed9b3c0a1a4d1ad0a9e4fc4b3b9f6f2f1f1f1",
  "weights": {"source": "published", "file": "resnet20-12fca82f.th", "url": "https://github.com/akamaster/x.th",
              "sha256": "3fa3ba3b2fbbed1a5e1b0f7a8f9ed9b3c0a1a4d1ad0a9e4fc4b3b9f6f2f1f1f1", "license": "BSD-2-Clause"},
  "input": {"name": "input", "shape": ["batch", 3, 32, 32],
            "preprocessing": {"crop": null, "resize": null, "scale": 0.00392156862745098,
                              "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616], "layout": "NCHW",
                              "channel_order": "RGB", "interpolation": "bilinear"},
            "dataset": "cifar10", "class_names": ["airplane", "automobile"]},
  "output": {"name": "logits", "shape": ["batch", 10]}, "num_classes": 10, "batch": "dynamic", "opset": 17,
  "exporter": "torchscript", "simplify": {"requested": true, "applied": true},
  "parity": {"tolerance": {"atol": 0.0001, "rtol": 0.0001, "min_top1_agreement": 0.99},
             "random": {"n": 8, "batches": [1, 7], "max_abs_diff": 3.1e-06, "passed": true}, "passed": true},
  "fp32_accuracy": {"dataset": "cifar10-test", "n": 1000, "top1_pct": 92.4, "top5_pct": 99.7, "runtime": "ort-cpu"},
  "params": 269722, "macs": 40551552,
  "macs_counter": "torch.utils.flop_counter at batch 1 (conv, linear, matmul; MAC = FLOP/2)",
  "published_top1_pct": 91.73, "export_seconds": 3.412, "created_utc": "2025-06-01T10:00:00+00:00",
  "versions": {"python": "3.11.9", "edgebench": "0.1.0", "torch": "2.14.1"}
}"""

V1_INT8 = """{
  "schema_version": 1, "kind": "edgebench.model", "name": "resnet20", "arch": "resnet20",
  "weights": {"source": "published", "file": "resnet20-12fca82f.th", "sha256": "3fa3"},
  "input": {"name": "input", "shape": ["batch", 3, 32, 32],
            "preprocessing": {"crop": null, "resize": null, "scale": 0.00392156862745098,
                              "mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.2435, 0.2616], "layout": "NCHW",
                              "channel_order": "RGB", "interpolation": "bilinear"},
            "dataset": "cifar10", "class_names": []},
  "exporter": "torchscript", "opset": 17, "params": 269722, "macs": 40551552, "published_top1_pct": 91.73,
  "precision": "int8", "quantization_mode": "static", "onnx_file": "model.int8.onnx",
  "parent_file": "model.fp32.onnx", "parent_sha256": "8f4c", "parent_precision": "fp32",
  "parent_file_size_mb": 1.093,
  "recipe": {"quant_format": "QDQ", "activation_type": "QUInt8", "weight_type": "QInt8", "per_channel": true,
             "reduce_range": false, "method": "minmax", "nodes_to_exclude": []},
  "preset": {"preset": "x86-vnni", "reason": "host has avx512_vnni"},
  "calibration": {"dataset": "cifar10:train", "size": 1000, "seed": 0, "batch_size": 32, "sha256": "ab12",
                  "method": "minmax", "quant_pre_process": true},
  "nodes": {"int8": 21, "float": 2, "quantize_dequantize": 60, "int8_op_types": {"Conv": 19},
            "float_op_types": {"Add": 2}},
  "versions": {"edgebench": "0.1.0", "onnx": "1.18.0", "onnxruntime": "1.22.0"},
  "onnx_sha256": "77aa", "file_size_mb": 0.41
}"""


def full() -> Manifest:
    return Manifest.from_dict(json.loads(V1_FP32), "v1")


def test_round_trip_is_lossless() -> None:
    m = full()
    assert Manifest.from_dict(m.to_dict()) == m
    assert json.loads(json.dumps(m.to_dict())) == m.to_dict()  # plain JSON: no tuples or proxies leak out


def test_unknown_keys_are_kept_in_extra() -> None:
    d = {**json.loads(V1_FP32), "my_note": {"a": [1, 2]}, "zz": 3}
    m = Manifest.from_dict(d)
    assert dict(m.extra) == {"my_note": {"a": (1, 2)}, "zz": 3}
    assert m.to_dict()["my_note"] == {"a": [1, 2]} and m.to_dict()["zz"] == 3


@pytest.mark.parametrize("text", [V1_FP32, V1_INT8], ids=["fp32", "int8"])
def test_v1_manifests_from_the_old_writer_load(text: str, tmp_path: Path) -> None:
    p = tmp_path / "model.json"
    p.write_text(text, encoding="utf-8")
    m = read_manifest(p)
    old = json.loads(text)
    # nothing is lost: every key of the old file comes back with its value (only nulls may be left out)
    assert {k: v for k, v in old.items() if v is not None} == m.to_dict()
    assert load_manifest(p) == m.to_dict()
    assert isinstance(m.input, InputInfo) and m.input.shape == ("batch", 3, 32, 32)
    assert isinstance(m.weights, WeightsRecord) and m.weights.source == "published"


def test_typed_fields_of_a_v1_fp32_manifest() -> None:
    m = full()
    assert (m.name, m.precision, m.params, m.macs, m.opset) == ("resnet20", "fp32", 269722, 40551552, 17)
    assert m.weights is not None and m.weights.url and m.weights.license == "BSD-2-Clause"
    assert m.parity is not None and m.parity["random"]["batches"] == (1, 7)
    with pytest.raises(TypeError):
        m.parity["passed"] = False  # type: ignore[index]  # nested objects are read-only


def test_derive_keeps_the_network_and_names_the_parent() -> None:
    parent = full()
    child = parent.derive(precision="int8", onnx_file="model.int8.onnx", quantization_mode="static",
                          recipe={"method": "minmax"})
    for name in NETWORK_FIELDS:
        assert getattr(child, name) == getattr(parent, name), name
    assert child.parent_sha256 == parent.onnx_sha256 and child.parent_file == "model.fp32.onnx"
    assert child.parent_precision == "fp32" and child.parent_file_size_mb == parent.file_size_mb
    assert child.lineage_root_sha256 == parent.onnx_sha256  # the root FP32 of the chain (report lineages)
    dropped = [n for n in FILE_FIELDS if n not in ("precision", "onnx_file", "quantization_mode", "recipe",
                                                   "lineage_root_sha256") and not n.startswith("parent_")]
    assert all(getattr(child, n) is None for n in dropped), [n for n in dropped if getattr(child, n) is not None]
    assert child.precision == "int8" and child.recipe is not None and child.recipe.to_dict() == {"method": "minmax"}


def test_derive_of_a_pruned_model_keeps_its_pruning_and_extra() -> None:
    parent = full().replace(pruned=PrunedInfo(round=2, weights_file="round2.pt", filters={"c": 8}),
                            extra={"team": "x"})
    child = parent.derive(precision="fp16", onnx_file="model.fp16.onnx")
    assert child.pruned == parent.pruned and child.pruned is not None and child.pruned.round == 2
    assert child.extra == {"team": "x"}
    assert Manifest.from_dict(child.to_dict()) == child


def test_derive_needs_the_parents_sha256() -> None:
    bare = Manifest(name="hand-written", input=InputInfo("x", (1, 3, 8, 8)))
    with pytest.raises(UserInputError, match="no onnx_sha256"):
        bare.derive(precision="int8", onnx_file="m.int8.onnx")
    assert bare.derive(precision="int8", onnx_file="m.int8.onnx", parent_sha256="ab").parent_sha256 == "ab"
    with pytest.raises(TypeError, match="unknown fields"):
        full().derive(precision="int8", onnx_file="x.onnx", colour="red")


@pytest.mark.parametrize(("version", "fragment"), [
    (2, "newer than this edgebench reads (1); upgrade edgebench"),
    (99, "pip install -U edgebench"),
    (0, "re-export the model"),
    (None, "re-export the model"),
    ("1", "re-export the model"),
])
def test_other_versions_get_a_one_line_fix(version: object, fragment: str, tmp_path: Path) -> None:
    p = tmp_path / "model.fp32.json"
    p.write_text(json.dumps({**json.loads(V1_FP32), "schema_version": version}), encoding="utf-8")
    with pytest.raises(UserInputError) as e:
        read_manifest(p)
    msg = str(e.value)
    assert fragment in msg and "\n" not in msg and str(p) in msg


def test_bad_files_and_fields_are_one_line(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_text("{", encoding="utf-8")
    with pytest.raises(UserInputError, match="not valid JSON"):
        read_manifest(p)
    p.write_text('{"kind": "something"}', encoding="utf-8")
    with pytest.raises(UserInputError, match="not an edgebench model manifest"):
        read_manifest(p)
    p.write_text(json.dumps({**json.loads(V1_FP32), "params": "many"}), encoding="utf-8")
    with pytest.raises(UserInputError, match="field 'params' is \"many\" \\(str\\); expected int"):
        read_manifest(p)
    p.write_text(json.dumps({**json.loads(V1_FP32), "precision": "int4"}), encoding="utf-8")
    with pytest.raises(UserInputError, match="precision 'int4' is not one of"):
        read_manifest(p)
    with pytest.raises(UserInputError, match="does not exist"):
        read_manifest(tmp_path / "nope.json")


def test_the_manifest_beside_a_model(tmp_path: Path) -> None:
    (tmp_path / "model.fp32.onnx").write_bytes(b"x")
    assert find_typed_manifest(tmp_path / "model.fp32.onnx") is None  # a bare .onnx
    (tmp_path / "model.fp32.json").write_text(V1_FP32, encoding="utf-8")
    m = find_typed_manifest(tmp_path / "model.fp32.onnx")
    assert m is not None and m.params == 269722
    assert m.input == full().input and load_manifest(tmp_path / "model.fp32.json")["params"] == 269722
    assert Manifest().input is None  # a manifest without an input spec
