"""docs/extending/importance.md: its example registers a pruning importance that the pruner uses by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.exporter.test_extending_model_doc import python_block

pytestmark = pytest.mark.torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending" / "importance.md"


def test_importance_doc_example_registers_and_prunes() -> None:
    import torch
    from edgebench.exporter.prune.importance import IMPORTANCES, make_importance

    assert "filter-std" not in IMPORTANCES
    ns: dict[str, object] = {"__name__": "doc_example"}
    try:
        exec(compile(python_block(DOC), str(DOC), "exec"), ns)
        assert "filter-std" in IMPORTANCES.names()
        model = ns["model"]
        assert model.layer1[0].conv1.out_channels == 8  # type: ignore[attr-defined]
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)  # type: ignore[operator]
        # the criterion is the one asked for: it keeps the filters with the largest weight spread
        from edgebench.exporter.prune.config import RatioConfig
        from edgebench.exporter.prune.structured import StructuredPruner
        from edgebench.exporter.zoo import create_model

        fresh = create_model("resnet20")
        with torch.no_grad():
            fresh.layer1[0].conv1.weight[3].fill_(0.5)  # a constant filter: std 0, so it must be pruned
        kept_before = fresh.layer1[0].conv1.weight.detach().clone()
        StructuredPruner(fresh, torch.zeros(1, 3, 32, 32), RatioConfig.uniform(0.5), "filter-std").step(1, 1)
        kept = fresh.layer1[0].conv1.weight.detach()
        assert not any(torch.allclose(k, torch.full_like(k, 0.5)) for k in kept)
        assert kept_before.shape[0] == 16 and kept.shape[0] == 8
        assert make_importance("filter-std").__class__.__name__ == "FilterStdImportance"
    finally:
        IMPORTANCES._items.pop("filter-std", None)
