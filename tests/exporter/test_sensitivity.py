"""Layer sensitivity: one row per prunable layer, per-layer ratios derived for a budget or a MACs target."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from edgebench.errors import UserInputError  # noqa: E402
from edgebench.exporter.prune.sensitivity import (  # noqa: E402
    check_grid,
    derive_ratios,
    macs_with_ratios,
    plot_sensitivity,
    sensitivity_analysis,
    table_csv,
)
from edgebench.exporter.prune.structured import count_macs_params, prunable_layers  # noqa: E402

from tests.exporter.tiny_nets import pad_resnet, vgg_tiny  # noqa: E402

pytestmark = pytest.mark.torch
X = torch.zeros(1, 3, 16, 16)
INPUTS = torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def agreement_with(reference: torch.nn.Module):
    with torch.no_grad():
        ref = reference(INPUTS).argmax(1)

    def evaluate(m: torch.nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return {"top1_pct": 100.0 * float((m(INPUTS).argmax(1) == ref).float().mean()), "top5_pct": 100.0}

    return evaluate


@pytest.fixture(scope="module")
def table() -> dict:
    model = pad_resnet()
    return sensitivity_analysis(model, X, agreement_with(model), grid=(0.25, 0.5, 0.75))


def test_one_row_per_prunable_layer(table: dict) -> None:
    names = [la.name for la in prunable_layers(pad_resnet(), X)]
    assert [row["name"] for row in table["layers"]] == names
    assert table["baseline"]["top1_pct"] == 100.0
    for row in table["layers"]:
        assert [e["ratio"] for e in row["results"]] == [0.25, 0.5, 0.75]
        for e in row["results"]:
            assert e["kept"] == row["channels"] - e["removed"]
            assert e["macs"] < table["baseline"]["macs"]
            assert e["drop_pts"] == pytest.approx(100.0 - e["top1_pct"])
    rows = list(csv.DictReader(io.StringIO(table_csv(table))))
    assert [r["layer"] for r in rows] == names
    assert list(rows[0])[-3:] == ["top1_pct_at_0.25", "top1_pct_at_0.5", "top1_pct_at_0.75"]


def test_the_layers_left_alone_are_listed_and_logged(table: dict) -> None:
    skipped = {s["name"]: s for s in table["skipped_layers"]}
    assert set(skipped) == {"conv1", "layer1.0.conv2", "layer2.0.conv2", "layer3.0.conv2"}
    assert skipped["layer2.0.conv2"]["kind"] == "residual" and "residual add" in skipped["layer2.0.conv2"]["reason"]
    assert not set(skipped) & {row["name"] for row in table["layers"]}
    lines: list[str] = []
    model = pad_resnet()
    sensitivity_analysis(model, X, agreement_with(model), grid=(0.5,), log=lines.append)
    assert [ln for ln in lines if ln.startswith("skipped")] == [
        f"skipped '{n}': {skipped[n]['reason']}" for n in ("conv1", "layer1.0.conv2", "layer2.0.conv2",
                                                            "layer3.0.conv2")]


def test_acc_budget_prunes_sensitive_layers_less(table: dict) -> None:
    derived = derive_ratios(table, acc_budget_pts=10.0)
    for row in table["layers"]:
        r = derived["ratios"][row["name"]]
        for e in row["results"]:
            if e["ratio"] <= r:
                assert e["drop_pts"] <= 10.0
        nxt = [e for e in row["results"] if e["ratio"] > r]
        if nxt:
            assert nxt[0]["drop_pts"] > 10.0
    loose = derive_ratios(table, acc_budget_pts=100.0)
    assert set(loose["ratios"].values()) == {0.75}


def test_macs_target_is_reached_with_the_smallest_threshold(table: dict) -> None:
    model = pad_resnet()
    base = count_macs_params(model, X)[0]
    derived = derive_ratios(table, target_macs_reduction=0.2, macs_of=lambda r: macs_with_ratios(model, X, r))
    assert derived["macs_reduction"] >= 0.2
    assert derived["macs"] == macs_with_ratios(model, X, derived["ratios"])
    assert 1 - derived["macs"] / base == pytest.approx(derived["macs_reduction"])
    with pytest.raises(UserInputError, match="out of reach"):
        derive_ratios(table, target_macs_reduction=0.95, macs_of=lambda r: macs_with_ratios(model, X, r))
    with pytest.raises(UserInputError, match="exactly one"):
        derive_ratios(table)


def test_grid_and_every_filter_guard() -> None:
    with pytest.raises(UserInputError, match=r"outside \(0, 1\)"):
        check_grid([0.5, 1.0])
    assert check_grid([0.5, 0.1, 0.5]) == (0.1, 0.5)
    model = vgg_tiny()
    t = sensitivity_analysis(model, X, agreement_with(model), grid=(0.9,))
    assert all(e["top1_pct"] is not None for row in t["layers"] for e in row["results"])


def test_plot_is_written(table: dict, tmp_path: Path) -> None:
    p = plot_sensitivity(table, tmp_path / "s.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
