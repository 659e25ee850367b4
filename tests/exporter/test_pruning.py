"""Structured pruning on torch-pruning: channels really removed, dependency-correct, ratios as documented."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tp = pytest.importorskip("torch_pruning")

from edgebench.errors import NotFoundError, UserInputError  # noqa: E402
from edgebench.exporter.prune.config import RatioConfig, removed_count  # noqa: E402
from edgebench.exporter.prune.importance import IMPORTANCES, make_importance  # noqa: E402
from edgebench.exporter.prune.structured import (  # noqa: E402
    StructuredPruner,
    build_graph,
    conv_filters,
    count_macs_params,
    prunable_layers,
    prune_once,
)

from tests.exporter.tiny_nets import conv_resnet, pad_resnet, vgg_tiny  # noqa: E402

pytestmark = pytest.mark.torch
X = torch.zeros(1, 3, 16, 16)


def _inputs(n: int = 4) -> torch.Tensor:
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(3))


def _zero_consumers(model: torch.nn.Module, removed: dict[str, list[int]]) -> torch.nn.Module:
    """The unpruned model with the removed channels cut off at every consumer (what removal must equal)."""
    ref = copy.deepcopy(model)
    dg = build_graph(ref, X)
    for name, idxs in removed.items():
        if not idxs:
            continue
        group = dg.get_pruning_group(ref.get_submodule(name), tp.prune_conv_out_channels, idxs)
        for dep, dep_idxs in group:
            if dg.is_in_channel_pruning_fn(dep.handler) and isinstance(dep.target.module, torch.nn.Conv2d
                                                                       | torch.nn.Linear):
                with torch.no_grad():
                    dep.target.module.weight[:, list(dep_idxs)] = 0
    return ref


def test_internal_scope_finds_block_internal_convs_only() -> None:
    layers = prunable_layers(pad_resnet(), X, "internal")
    assert [la.name for la in layers] == ["layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1"]
    assert [la.block for la in layers] == ["layer1.0", "layer2.0", "layer3.0"]
    assert all(not la.coupled for la in layers)


def test_vgg_every_conv_is_prunable_and_its_own_block() -> None:
    layers = prunable_layers(vgg_tiny(), X, "internal")
    assert [la.name for la in layers] == ["0", "3", "7"]
    assert [la.block for la in layers] == ["0", "3", "7"]


def test_coupled_scope_groups_residual_convs() -> None:
    layers = prunable_layers(conv_resnet(), X, "coupled")
    by_name = {la.name: la for la in layers}
    assert set(by_name["conv1"].members) == {"conv1", "layer1.0.conv2", "layer1.1.conv2"}
    assert set(by_name["layer2.0.conv2"].members) == {"layer2.0.conv2", "layer2.0.downsample.0"}
    assert "layer1.0.conv1" in by_name and not by_name["layer1.0.conv1"].coupled


def test_coupled_scope_refuses_zero_pad_shortcuts() -> None:
    with pytest.raises(UserInputError, match="zero-padding shortcut; use --scope internal"):
        prunable_layers(pad_resnet(), X, "coupled")


def test_unknown_scope_suggests() -> None:
    with pytest.raises(UserInputError, match="Did you mean 'internal'"):
        prunable_layers(pad_resnet(), X, "internl")


@pytest.mark.parametrize("ratio", [0.25, 0.3, 0.5, 0.7])
def test_uniform_ratio_removes_rounded_half_up(ratio: float) -> None:
    model = pad_resnet()
    before = conv_filters(model)
    prune_once(model, X, RatioConfig.uniform(ratio))
    after = conv_filters(model)
    for name in ("layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1"):
        assert after[name] == before[name] - int(np.floor(before[name] * ratio + 0.5))
        assert model.get_submodule(name.replace("conv1", "conv2")).in_channels == after[name]
        assert model.get_submodule(name).weight.shape[0] == after[name]
        assert model.get_submodule(name.replace("conv1", "bn1")).num_features == after[name]
    for name in ("conv1", "layer1.0.conv2", "layer2.0.conv2", "layer3.0.conv2"):  # block outputs untouched
        assert after[name] == before[name]


def test_per_block_and_by_name_ratios() -> None:
    model = pad_resnet()
    prune_once(model, X, RatioConfig.per_block([0.0, 0.5, 0.25]))
    f = conv_filters(model)
    assert (f["layer1.0.conv1"], f["layer2.0.conv1"], f["layer3.0.conv1"]) == (8, 8, 24)
    model = pad_resnet()
    prune_once(model, X, RatioConfig.by_name({"layer2": 0.5, "layer3.0.conv1": 0.75}, default=0.25))
    f = conv_filters(model)
    assert (f["layer1.0.conv1"], f["layer2.0.conv1"], f["layer3.0.conv1"]) == (6, 8, 8)


@pytest.mark.parametrize("factory,scope", [(pad_resnet, "internal"), (vgg_tiny, "internal"),
                                           (conv_resnet, "coupled"), (conv_resnet, "internal")])
def test_pruned_model_equals_unpruned_with_channels_cut(factory, scope: str) -> None:
    model = factory()
    ref_src = copy.deepcopy(model)
    pruner = StructuredPruner(model, X, RatioConfig.uniform(0.5), "l1", scope=scope)
    report = pruner.step(1, 1)
    assert any(r["removed"] for r in report.values())
    ref = _zero_consumers(ref_src, {n: r["removed"] for n, r in report.items()})
    x = _inputs()
    with torch.no_grad():
        y, y_ref = model(x), ref(x)
    assert torch.isfinite(y).all()
    assert torch.allclose(y, y_ref, atol=1e-5), float((y - y_ref).abs().max())


def test_coupled_pruning_shrinks_the_residual_stream() -> None:
    model = conv_resnet()
    macs0, params0 = count_macs_params(model, X)
    prune_once(model, X, RatioConfig.uniform(0.5), scope="coupled")
    f = conv_filters(model)
    assert f["conv1"] == f["layer1.0.conv2"] == f["layer1.1.conv2"] == 4
    assert f["layer2.0.conv2"] == f["layer2.0.downsample.0"] == 8
    assert model.fc.in_features == 8
    macs1, params1 = count_macs_params(model, X)
    assert macs1 < 0.35 * macs0 and params1 < 0.35 * params0


def test_l1_removes_the_smallest_filters() -> None:
    model = vgg_tiny()
    conv = model[0]
    with torch.no_grad():
        conv.weight.mul_(0).add_(1.0)
        for i, s in enumerate([5, 0.1, 3, 0.2, 4, 0.3, 6, 7]):
            conv.weight[i] *= s
    report = StructuredPruner(model, X, RatioConfig.by_name({"0": 0.375}), "l1").step(1, 1)
    assert report["0"]["removed"] == [1, 3, 5]


def test_l2_and_l1_can_disagree() -> None:
    scores = {}
    for name in ("l1", "l2"):
        model = vgg_tiny()
        with torch.no_grad():
            model[0].weight.zero_()
            model[0].weight[0, 0, 0, 0] = 3.0  # L1 3, L2 3
            model[0].weight[1, :, :, :] = 0.2  # L1 5.4, L2 1.04
        dg = build_graph(model, X)
        group = dg.get_pruning_group(model[0], tp.prune_conv_out_channels, list(range(8)))
        scores[name] = make_importance(name)(group)
    assert scores["l1"][1] > scores["l1"][0] and scores["l2"][1] < scores["l2"][0]


def test_bn_scale_ranks_by_gamma_and_needs_bn() -> None:
    model = vgg_tiny()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([0.9, 0.01, 0.8, 0.02, 0.7, 0.6, 0.5, 0.4]))
    report = StructuredPruner(model, X, RatioConfig.by_name({"0": 0.25}), "bn-scale").step(1, 1)
    assert report["0"]["removed"] == [1, 3]
    with pytest.raises(UserInputError, match="needs a BatchNorm"):
        StructuredPruner(vgg_tiny(batch_norm=False), X, RatioConfig.uniform(0.5), "bn-scale").step(1, 1)


def test_random_importance_is_seeded_and_reproducible() -> None:
    models = [pad_resnet() for _ in range(3)]  # (building them seeds the global RNG)

    def removed(model: torch.nn.Module, seed: int) -> dict[str, list[int]]:
        rep = StructuredPruner(model, X, RatioConfig.uniform(0.5), "random", seed=seed).step(1, 1)
        return {n: r["removed"] for n, r in rep.items()}

    state = torch.random.get_rng_state()
    a, b, c = removed(models[0], 7), removed(models[1], 7), removed(models[2], 8)
    assert a == b
    assert a != c
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is left alone


def test_iterative_rounds_reach_the_target_progressively() -> None:
    model = pad_resnet()
    pruner = StructuredPruner(model, X, RatioConfig.uniform(0.5), "l1")
    seen = []
    for k in (1, 2, 3):
        pruner.step(k, 3)
        seen.append(conv_filters(model)["layer3.0.conv1"])
    assert seen == [32 - removed_count(32, 0.5 / 3), 32 - removed_count(32, 1.0 / 3), 16]


def test_global_ratio_removes_the_asked_total_within_the_cap() -> None:
    model = vgg_tiny()
    pruner = StructuredPruner(model, X, RatioConfig.global_(0.5, max_layer_ratio=0.75), "l1")
    pruner.step(1, 1)
    after = pruner.current()
    assert sum(after.values()) == 40 - removed_count(40, 0.5)
    for name, c in after.items():
        assert c >= pruner.original[name] - int(pruner.original[name] * 0.75)


def test_ratio_errors() -> None:
    with pytest.raises(UserInputError, match="the model has 3 prunable blocks"):
        StructuredPruner(pad_resnet(), X, RatioConfig.per_block([0.1, 0.2]))
    with pytest.raises(NotFoundError, match=r"Did you mean 'layer2.0.conv1'"):
        StructuredPruner(pad_resnet(), X, RatioConfig.by_name({"layer2.0.conv9": 0.2}))
    with pytest.raises(UserInputError, match=r"'layer1.0.conv2' exists but is not prunable"):
        StructuredPruner(pad_resnet(), X, RatioConfig.by_name({"layer1.0.conv2": 0.2}))
    tiny = vgg_tiny()
    with pytest.raises(UserInputError, match="would remove every filter of '0'"):
        StructuredPruner(tiny, X, RatioConfig.by_name({"0": 0.95}))


def test_unknown_importance_suggests() -> None:
    assert IMPORTANCES.names() == ["bn-scale", "l1", "l2", "random"]
    with pytest.raises(NotFoundError, match="Did you mean 'random'"):
        make_importance("randon")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet56", "resnet18_cifar", "vgg16_cifar"])
def test_every_study_model_prunes_in_internal_scope(name: str) -> None:
    from edgebench.exporter.zoo import create_model

    torch.manual_seed(0)
    model = create_model(name)
    x = torch.zeros(1, 3, 32, 32)
    layers = prunable_layers(model, x, "internal")
    expected = {"resnet56": 27, "resnet18_cifar": 8, "vgg16_cifar": 13}
    if name in expected:
        assert len(layers) == expected[name]
    macs0, _ = count_macs_params(model, x)
    prune_once(model, x, RatioConfig.uniform(0.5))
    macs1, _ = count_macs_params(model, x)
    assert macs1 < 0.75 * macs0
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, 3, 32, 32))).all()


def test_round_to_keeps_multiples() -> None:
    model = pad_resnet()  # conv1 widths 8, 16, 32
    StructuredPruner(model, X, RatioConfig.uniform(0.3), round_to=8).step(1, 1)
    f = conv_filters(model)
    assert (f["layer1.0.conv1"], f["layer2.0.conv1"], f["layer3.0.conv1"]) == (8, 8, 24)
