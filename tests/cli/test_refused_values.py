"""Bad input that used to succeed (issue #23 §4), where a docs/errors.md row does not fit: the shared float
validator and its audit over every command, labels for accuracy, describe -o FOLDER, NaN latency tables."""

from __future__ import annotations

import json
import math
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.calibration.dataset import Dataset
from edgebench.cli import app
from edgebench.cli.options import check_float, parse_floats
from edgebench.errors import DataError, UserInputError
from hypothesis import given
from hypothesis import strategies as st
from typer.main import get_command
from typer.testing import CliRunner


def _float_options() -> list[tuple[str, Any]]:
    """(command words, option) for every float option of every command (typer's parameters, by annotation)."""
    out: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any]] = [("", get_command(app))]
    while stack:
        prefix, cmd = stack.pop()
        if hasattr(cmd, "commands"):
            stack += [(f"{prefix} {n}".strip(), c) for n, c in cmd.commands.items()]
            continue
        for p in cmd.params:
            ann = getattr(getattr(p, "type_descriptor", None), "annotation", None)
            if p.param_type_name == "option" and (ann is float or float in typing.get_args(ann)):
                out.append((prefix, p))
    return sorted(out, key=lambda cp: (cp[0], cp[1].name))


def test_every_float_option_of_every_command_is_validated() -> None:
    """The audit as a test: a new float option without the shared validator fails here."""
    options = _float_options()
    assert len(options) >= 25  # bench, profile, train, sensitivity, prune, qat, sparsify, quantize, compare, ...
    unchecked = [f"{cmd} {p.opts[0]}" for cmd, p in options if p.callback is None]
    assert not unchecked, f"float options without float_option(...) (cli/options.py): {unchecked}"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_each_float_option_refuses_non_finite_values_in_one_line(value: str) -> None:
    for cmd, p in _float_options():
        opt = max(p.opts, key=len)
        r = CliRunner().invoke(app, [*cmd.split(), f"{opt}={value}"])
        assert r.exit_code == 2, (cmd, opt, r.stderr)
        assert r.stderr == f"edgebench: error: {opt} {float(value)} is not a finite number" + r.stderr.split(
            "is not a finite number", 1)[1] and r.stderr.count("\n") == 1, (cmd, opt, r.stderr)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_float_gives_a_finite_value_in_range_or_one_line(v: float) -> None:
    try:
        out = check_float(v, "--budget", 0, 100)
    except UserInputError as e:
        assert "--budget" in str(e) and "\n" not in str(e)
        return
    assert out is not None and math.isfinite(out) and 0 <= out <= 100


@pytest.mark.parametrize(("text", "message"), [("0.5,nan", "not a finite number"), ("1,x", "'x' is not a number"),
                                               ("0.2,0", "out of range")])
def test_float_lists_are_checked_value_by_value(text: str, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_floats(text, "--std", 0, low_open=True)


@pytest.mark.parametrize(("labels", "message"), [([-1, -1, -1], r"3 of 3 labels are unlabelled \(-1: a flat folder\)"),
                                                 ([0, -2, 1], r"negative \(first -2\)")])
def test_accuracy_refuses_images_without_a_class(labels: list[int], message: str) -> None:
    ds = Dataset(np.zeros((3, 4, 4, 3), np.uint8), np.array(labels, np.int64), "d")
    with pytest.raises(DataError, match=message):
        ds.require_labels("evaluation")
    ok = Dataset(np.zeros((3, 4, 4, 3), np.uint8), np.array([0, 1, 2], np.int64), "d")
    assert ok.require_labels("evaluation") is ok


def test_load_dataset_checks_labels_only_for_accuracy(tmp_path: Path) -> None:
    from edgebench.calibration.datasets import load_dataset
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{i}.png")
    assert len(load_dataset(str(tmp_path))) == 2  # calibration: fine without labels
    with pytest.raises(DataError, match="needs a class per image"):
        load_dataset(str(tmp_path), labelled_for="--accuracy-budget")


def _table(tmp_path: Path, full: float, width_ms: float) -> Path:
    from edgebench.latency_table import SCHEMA_VERSION, TABLE_KIND

    p = tmp_path / "table.json"
    p.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "kind": TABLE_KIND, "full_model_ms": full,
                             "units": {"conv1": {"widths": {"8": width_ms, "16": 0.2}, "remove_ms": None}}}))
    return p


@pytest.mark.parametrize(("full", "width", "message"), [(float("nan"), 0.1, "full_model_ms is nan"),
                                                        (1.0, float("nan"), "unit 'conv1' width 8 is nan"),
                                                        (0.0, 0.1, "full_model_ms is 0.0"),
                                                        (1.0, -0.5, "width 8 is -0.5")])
def test_a_latency_table_with_nan_is_refused_on_read(tmp_path: Path, full: float, width: float, message: str) -> None:
    from edgebench.latency_table import load_table

    with pytest.raises(UserInputError, match=message):
        load_table(_table(tmp_path, full, width))
    assert load_table(_table(tmp_path, 1.0, 0.1))["full_model_ms"] == 1.0


@pytest.mark.parametrize("out", ["newdir", "newdir/", "existing"])
def test_describe_output_folder_gets_the_manifest_inside(tmp_path: Path, out: str) -> None:
    pytest.importorskip("onnx")
    from tests.calibration.byo_graphs import image_net

    p = image_net(tmp_path / "net.onnx")
    (tmp_path / "existing").mkdir()
    r = CliRunner().invoke(app, ["describe", str(p), "--preprocessing", "unit", "-o", str(tmp_path / out)])
    assert r.exit_code == 0, r.stderr
    folder = tmp_path / out.rstrip("/")
    assert folder.is_dir() and (folder / "net.json").is_file()
    assert json.loads((folder / "net.json").read_text())["input"]["name"] == "input"


@pytest.mark.torch
def test_training_and_its_test_set_need_labels_too(tmp_path: Path) -> None:
    """train/prune/sensitivity (exporter.loading.DataRequest): a flat folder is refused before any epoch."""
    pytest.importorskip("torch")
    from edgebench.exporter.loading import DataRequest
    from PIL import Image

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(flat / "a.png")
    np.savez(tmp_path / "ok.npz", images=np.zeros((2, 8, 8, 3), np.uint8), labels=np.array([0, 1]))
    with pytest.raises(DataError, match="training needs a class per image"):
        DataRequest(test=str(tmp_path / "ok.npz"), train=str(flat)).load()
    with pytest.raises(DataError, match="evaluation needs a class per image"):
        DataRequest(test=str(flat)).load(with_train=False)
