"""A fresh devices file per test; the loopback sshd and the set-up device are session fixtures of
tests/conftest.py (one of each for the whole run, shared with tests/sweep)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def devices_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh devices TOML (EDGEBENCH_DEVICES) for one test."""
    path = tmp_path / "devices.toml"
    monkeypatch.setenv("EDGEBENCH_DEVICES", str(path))
    return path


def refused_request(tmp_path: Path, command: list[str], request: str, change: dict[str, Any], why: str) -> None:
    """The device side `command` (e.g. ["run-eval"]) given `request`'s JSON with `change` applied exits 2 with one
    line holding `why`, and writes nothing."""
    from edgebench.cli import app
    from typer.testing import CliRunner

    f = tmp_path / "request.json"
    f.write_text(json.dumps({**json.loads(request), **change}))
    before = sorted(tmp_path.rglob("*"))
    r = CliRunner().invoke(app, [command[0], str(f), *command[1:]])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("edgebench: error: ") and why in r.output and r.output.count("\n") == 1, r.output
    assert sorted(tmp_path.rglob("*")) == before
