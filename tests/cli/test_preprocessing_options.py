"""The preprocessing options are declared once (cli/common.py `with_preprocessing_options`, issue #25 D1/D2/D4):
describe, quantize and eval list them alike, just before --labels, and pass them on."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from edgebench.cli.common import (
    PREPROCESSING_OPTIONS,
    LabelsOpt,
    preprocessing_choice,
    with_preprocessing_options,
)
from edgebench.cli.describe import describe
from edgebench.cli.evaluate import eval_cmd
from edgebench.cli.quantize import quantize


@pytest.mark.parametrize("command", [describe, eval_cmd, quantize])
def test_each_command_declares_the_options_before_labels(command: Any) -> None:
    names = list(inspect.signature(command).parameters)
    at = names.index("labels")
    assert names[at - len(PREPROCESSING_OPTIONS):at] == list(PREPROCESSING_OPTIONS)
    assert "pp" not in names


def test_the_options_reach_the_command() -> None:
    seen: dict[str, Any] = {}

    @with_preprocessing_options
    def command(model: Path, labels: LabelsOpt = None, **pp: Any) -> None:
        seen.update(pp, labels=labels, choice=preprocessing_choice(**pp))

    import typer
    from typer.testing import CliRunner

    app = typer.Typer()
    app.command()(command)
    r = CliRunner().invoke(app, ["m.onnx", "--mean", "0.5,0.5,0.5", "--layout", "nhwc", "--labels", "cifar10"])
    assert r.exit_code == 0, r.output
    choice = seen.pop("choice")
    assert seen == {**dict.fromkeys(PREPROCESSING_OPTIONS), "mean": "0.5,0.5,0.5", "layout": "nhwc",
                    "labels": "cifar10"}
    assert choice.mean == (0.5, 0.5, 0.5) and choice.layout == "NHWC" and choice.preset is None


def test_a_command_without_labels_or_pp_is_refused() -> None:
    def no_pp(model: Path, labels: LabelsOpt = None) -> None: ...

    def no_labels(model: Path, **pp: Any) -> None: ...

    for command in (no_pp, no_labels):
        with pytest.raises(TypeError, match=r"labels.*pp"):
            with_preprocessing_options(command)
