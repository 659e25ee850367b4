"""`EvalConfig` validates eval's options on construction (before any model is read); `run_eval` dispatches."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from edgebench.artifact import ModelArtifact
from edgebench.bench.eval_run import EvalConfig, run_eval
from edgebench.errors import UserInputError


def test_arithmetic_is_checked_on_construction() -> None:
    with pytest.raises(UserInputError, match="--arithmetic 'fast' is not one of auto, host, qdq"):
        EvalConfig(arithmetic="fast")
    with pytest.raises(UserInputError, match="--as-target means --arithmetic qdq, not --arithmetic host"):
        EvalConfig(arithmetic="host", as_target=True)


def test_as_target_is_qdq_and_the_config_is_frozen() -> None:
    assert EvalConfig(as_target=True).arithmetic_mode == "qdq"
    assert EvalConfig(arithmetic="host").arithmetic_mode == "host"
    with pytest.raises(dataclasses.FrozenInstanceError):
        EvalConfig().data = "x"  # type: ignore[misc]


def test_annotations_are_refused_for_a_classifier_before_any_image_is_read(tmp_path: Path) -> None:
    artifact = ModelArtifact(path=tmp_path / "m.onnx", manifest=None)
    with pytest.raises(UserInputError, match=r"--annotations is for detection models; 'm\.onnx' is a classifier"):
        run_eval(EvalConfig(annotations=tmp_path / "a.json", data=str(tmp_path / "missing")), artifact)
