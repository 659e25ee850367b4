"""A pruned round's ONNX export step (`exporter.prune.run._exported`): its size, and with a latency table the
predicted and measured latency, said per round (the latency-table path no fast test took)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from edgebench.exporter.prune import run as prune_run

METRICS = {"round": 2, "filters": {"conv1": 8}, "final_top1_pct": 90.5}


def test_a_round_with_a_latency_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exported: list[Any] = []
    monkeypatch.setattr(prune_run, "_export", lambda model, spec, d, info: exported.append(info) or 1.25)
    lat = {"predicted_ms": None, "measured_ms": 2.0, "precision": "int8", "threads": 1}
    monkeypatch.setattr(prune_run, "check_latency", lambda model, d, table, calib: lat)
    said: list[str] = []
    out = prune_run._exported(None, None, tmp_path, prune_run.PruneRunConfig(), METRICS, "round2.pt",
                              {"model": "resnet20"}, None, said.append)
    assert list(out) == ["onnx_size_mb", "latency"] and out["onnx_size_mb"] == 1.25 and out["latency"] is lat
    assert exported[0].round == 2 and exported[0].weights_file == "round2.pt" and exported[0].filters == {"conv1": 8}
    assert said == ["latency predicted - ms, measured 2.000 ms (int8, 1 thread(s))"]


def test_a_round_without_a_table_is_only_exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prune_run, "_export", lambda model, spec, d, info: 0.5)
    said: list[str] = []
    out = prune_run._exported(None, None, tmp_path, prune_run.PruneRunConfig(), METRICS, "round2.pt", None, None,
                              said.append)
    assert out == {"onnx_size_mb": 0.5} and said == []
