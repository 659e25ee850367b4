"""`LatencyTableConfig` refuses latency-table's bad options on construction, before any probe is built."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgebench.errors import OutputExistsError, UserInputError
from edgebench.latency_table import LatencyTableConfig


def test_option_values_are_checked(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    with pytest.raises(UserInputError, match="--channel-block 0 must be >= 1"):
        LatencyTableConfig(out, channel_block=0)
    with pytest.raises(UserInputError, match="--rounds 0 must be >= 1"):
        LatencyTableConfig(out, rounds=0)
    with pytest.raises(UserInputError, match="is a folder; give the table's file name"):
        LatencyTableConfig(tmp_path)


def test_an_existing_table_needs_force_and_write_probes_skips_the_output(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    out.write_text("{}", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="pass --force"):
        LatencyTableConfig(out)
    assert LatencyTableConfig(out, force=True).output == out
    assert LatencyTableConfig(out, write_probes=tmp_path / "pack").write_probes == tmp_path / "pack"
    assert list(tmp_path.iterdir()) == [out]  # checking made no folder
