"""Help text (issue #24 item 11): boolean flags are plain flags, and help is as wide as the terminal."""

from __future__ import annotations

import pytest
import typer
from edgebench.cli import app
from edgebench.cli.root import help_width
from typer.testing import CliRunner

DATA_HELP = "Calibration data: cifar10[:train|:test], an .npz (images, labels) or an image folder. Required for --mode"


def _commands() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(c: object, path: list[str]) -> None:
        found.append(path)
        for name, sub in getattr(c, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_no_help_shows_a_bool_type() -> None:
    shown = {}
    for path in _commands():
        r = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
        assert r.exit_code == 0, (path, r.output)
        shown[" ".join(path)] = r.output
    assert len(shown) > 20
    assert not [k for k, out in shown.items() if "<bool>" in out]
    force = next(ln for ln in shown["quantize"].splitlines() if "--force" in ln)
    assert "Overwrite" in force and "<" not in force


@pytest.mark.parametrize("how", [{"terminal_width": 200}, {"env": {"COLUMNS": "200", "TERMINAL_WIDTH": ""}}])
def test_help_uses_the_terminal_width(how: dict) -> None:
    r = CliRunner().invoke(app, ["quantize", "--help"], **how)
    assert r.exit_code == 0
    assert any(DATA_HELP in ln for ln in r.output.splitlines()), r.output  # one line, not wrapped at 80
    assert max(len(ln) for ln in r.output.splitlines()) > 120


def test_help_width_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "150")
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    assert help_width(210) == 210
    assert help_width() == 150


def test_a_value_after_a_flag_is_refused() -> None:
    r = CliRunner().invoke(app, ["quantize", "m", "--force", "true"])
    assert r.exit_code == 2
