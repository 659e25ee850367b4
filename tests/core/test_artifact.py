"""ModelArtifact.resolve: the one place a model argument becomes a checked file + its manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from edgebench.artifact import ModelArtifact
from edgebench.errors import ModelFileError, UserInputError
from edgebench.manifest import InputInfo, Manifest, sha256_file


def model_dir(tmp_path: Path, *, manifest: bool = True) -> Path:
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.fp32.onnx").write_bytes(b"onnx bytes")
    if manifest:
        m = Manifest(name="m", input=InputInfo("input", ("batch", 3, 8, 8))).with_file(d / "model.fp32.onnx")
        (d / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    return d


def test_folder_resolves_to_its_fp32_model_and_manifest(tmp_path: Path) -> None:
    d = model_dir(tmp_path)
    (d / "model.int8.onnx").write_bytes(b"int8")
    a = ModelArtifact.resolve(d)
    assert a.path == d / "model.fp32.onnx" and a.manifest is not None and a.manifest.name == "m"
    assert a.verify() == sha256_file(d / "model.fp32.onnx")


def test_file_resolves_to_itself_and_bare_onnx_has_no_manifest(tmp_path: Path) -> None:
    d = model_dir(tmp_path, manifest=False)
    a = ModelArtifact.resolve(d / "model.fp32.onnx")
    assert a.path == d / "model.fp32.onnx" and a.manifest is None
    with pytest.raises(UserInputError, match=r"has no manifest .*quantizing"):
        a.require_manifest("quantizing")


def test_missing_empty_and_ambiguous_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        ModelArtifact.resolve(tmp_path / "nope.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelFileError, match="is empty"):
        ModelArtifact.resolve(tmp_path / "empty.onnx")
    (tmp_path / "other.onnx").write_bytes(b"x")
    with pytest.raises(UserInputError, match=r"holds 2 \.onnx files"):
        ModelArtifact.resolve(tmp_path)
    empty_dir = tmp_path / "none"
    empty_dir.mkdir()
    with pytest.raises(UserInputError, match=r"holds 0 \.onnx files"):
        ModelArtifact.resolve(empty_dir)


def test_verify_refuses_a_file_changed_after_its_manifest(tmp_path: Path) -> None:
    d = model_dir(tmp_path)
    (d / "model.fp32.onnx").write_bytes(b"something else")
    with pytest.raises(ModelFileError, match="changed after export"):
        ModelArtifact.resolve(d).verify()
