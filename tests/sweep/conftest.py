from __future__ import annotations

from pathlib import Path

import pytest

from tests.sweep.tiny_sweep import make_tiny


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    """tmp_path with tiny/ (a model folder), data.npz and sweep.toml (fp32 + one INT8 preset, threads 1 and 2)."""
    return make_tiny(tmp_path)
