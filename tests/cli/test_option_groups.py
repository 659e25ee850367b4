"""Option groups declared once (cli/common.py `OptionGroup`, `with_options`): the model source of the six torch
commands, train/prune's data and qat/sparsify's fine-tuning options reach each command the same way."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import pytest
import typer
from edgebench.cli.common import MODEL_SOURCE, OptionGroup, with_options
from edgebench.cli.export import export
from edgebench.cli.prune import TRAIN_DATA, prune, sensitivity, train_cmd
from edgebench.cli.qat import FINETUNE, qat, sparsify
from typer.testing import CliRunner


@pytest.mark.parametrize("command", [export, train_cmd, sensitivity, prune, qat, sparsify])
def test_the_model_source_comes_first(command: Any) -> None:
    names = list(inspect.signature(command).parameters)
    assert names[:len(MODEL_SOURCE.options)] == list(MODEL_SOURCE.options)


@pytest.mark.parametrize(("command", "group"), [(train_cmd, TRAIN_DATA), (prune, TRAIN_DATA), (qat, FINETUNE),
                                                (sparsify, FINETUNE)])
def test_a_group_stands_before_its_parameter(command: Any, group: OptionGroup) -> None:
    names = list(inspect.signature(command).parameters)
    at = names.index(group.at)
    assert names[at - len(group.options):at] == list(group.options)


def test_two_groups_reach_one_command_with_their_defaults() -> None:
    seen: dict[str, Any] = {}
    first = OptionGroup({"alpha": (Annotated[str, typer.Option("--alpha")], "a")})
    second = OptionGroup({"beta": (Annotated[int, typer.Option("--beta")], 1),
                          "gamma": (Annotated[int, typer.Option("--gamma")], inspect.Parameter.empty)}, at="last")

    @with_options(first, second)
    def command(last: bool = typer.Option(False, "--last"), **kw: Any) -> None:
        seen.update(first=first.take(kw), second=second.take(kw), last=last)

    app = typer.Typer()
    app.command()(command)
    app.command("other")(lambda: None)  # two commands: typer keeps the command name in the usage
    r = CliRunner().invoke(app, ["command", "--gamma", "3"])
    assert r.exit_code == 0, r.output
    assert seen == {"first": {"alpha": "a"}, "second": {"beta": 1, "gamma": 3}, "last": False}
    r = CliRunner().invoke(app, ["command"])  # gamma has no default: required
    assert r.exit_code == 2 and "--gamma" in r.output


def test_a_command_without_its_kwargs_is_refused() -> None:
    def no_kw(last: bool = False) -> None: ...

    with pytest.raises(TypeError, match=r"`last` parameter and a last `\*\*kw`"):
        with_options(OptionGroup({}, at="last"))(no_kw)
