"""A fresh devices file per test; the loopback sshd and the set-up device are session fixtures of
tests/conftest.py (one of each for the whole run, shared with tests/sweep)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def devices_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh devices TOML (EDGEBENCH_DEVICES) for one test."""
    path = tmp_path / "devices.toml"
    monkeypatch.setenv("EDGEBENCH_DEVICES", str(path))
    return path
