"""Training loop: augmentation, learning on a learnable toy task, best/mean tracking, resumable checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgebench.calibration.datasets import Dataset  # noqa: E402
from edgebench.errors import OutputExistsError, UserInputError  # noqa: E402
from edgebench.exporter.checkpoint import load_weights  # noqa: E402
from edgebench.exporter.train.loop import (  # noqa: E402
    TrainConfig,
    augment_batch,
    evaluate_model,
    reference_divergence,
    train,
)
from edgebench.manifest import Preprocessing  # noqa: E402

from tests.exporter.tiny_nets import vgg_tiny  # noqa: E402

pytestmark = pytest.mark.torch
PP = Preprocessing()


def toy(n: int, seed: int) -> Dataset:
    """Class 0..3 = which colour channel (or none) is bright: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.integers(0, 80, (n, 16, 16, 3)).astype(np.uint8)
    for i, c in enumerate(labels):
        if c < 3:
            images[i, :, :, c] += 150
    return Dataset(images, labels.astype(np.int64), f"toy{seed}")


def _net() -> torch.nn.Module:
    return vgg_tiny(num_classes=4)


def test_augment_batch_crops_and_flips() -> None:
    images = np.random.default_rng(0).integers(0, 255, (16, 8, 8, 3)).astype(np.uint8)
    out = augment_batch(images, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.array_equal(out, augment_batch(images, np.random.default_rng(1)))  # seeded
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    flips = 0
    for i in range(len(images)):
        crops = [padded[i, dy:dy + 8, dx:dx + 8] for dy in range(9) for dx in range(9)]
        plain = any(np.array_equal(out[i], c) for c in crops)
        flipped = any(np.array_equal(out[i], c[:, ::-1]) for c in crops)
        assert plain or flipped
        flips += flipped and not plain
    assert 0 < flips < len(images)


def test_train_config_validation() -> None:
    with pytest.raises(UserInputError, match="--epochs"):
        TrainConfig(epochs=-1)
    with pytest.raises(UserInputError, match="--lr"):
        TrainConfig(epochs=1, lr=0)
    with pytest.raises(UserInputError, match="--device"):
        TrainConfig(epochs=1, device="tpu")
    assert TrainConfig.finetune(3).lr == 0.01 and TrainConfig.cifar().lr == 0.1
    assert TrainConfig.cifar().momentum == 0.9


def test_training_learns_and_tracks_best_and_mean(tmp_path: Path) -> None:
    model = _net()
    train_ds, test_ds = toy(256, 0), toy(128, 1)
    before = evaluate_model(model, test_ds, PP)
    cfg = TrainConfig(epochs=4, lr=0.05, batch_size=32, mean_last=2)
    s = train(model, train_ds, test_ds, PP, cfg, out_dir=tmp_path)
    assert s["epochs"] == 4 and len(s["history"]) == 4
    tops = [h["test_top1_pct"] for h in s["history"]]
    assert s["best_top1_pct"] == max(tops) and s["history"][s["best_epoch"] - 1]["test_top1_pct"] == max(tops)
    assert s["mean_top1_pct"] == pytest.approx(np.mean(tops[-2:]))
    assert s["final_top1_pct"] == tops[-1]
    assert s["final_top1_pct"] > max(before["top1_pct"], 80.0)
    assert s["history"][-1]["lr"] < 0.05 * 0.01  # cosine decayed to ~0
    fresh = _net()
    load_weights(fresh, tmp_path / "best.pt")  # best.pt is a plain state dict checkpoint
    assert evaluate_model(fresh, test_ds, PP)["top1_pct"] == s["best_top1_pct"]


def test_resume_continues_where_it_stopped(tmp_path: Path) -> None:
    train_ds, test_ds = toy(128, 0), toy(64, 1)
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=32)
    straight = _net()
    s1 = train(straight, train_ds, test_ds, PP, cfg, out_dir=tmp_path / "a")

    def stop_in_epoch_2(msg: str) -> None:
        if msg.startswith("epoch 2/2"):
            raise KeyboardInterrupt

    interrupted = _net()
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, train_ds, test_ds, PP, cfg, out_dir=tmp_path / "b", log=stop_in_epoch_2)
    with pytest.raises(OutputExistsError, match="--resume"):
        train(_net(), train_ds, test_ds, PP, cfg, out_dir=tmp_path / "b")
    with pytest.raises(UserInputError, match="other training settings"):
        train(_net(), train_ds, test_ds, PP, TrainConfig(epochs=3, lr=0.05, batch_size=32), out_dir=tmp_path / "b",
              resume=True)
    lines: list[str] = []
    resumed = _net()
    s2 = train(resumed, train_ds, test_ds, PP, cfg, out_dir=tmp_path / "b", resume=True, log=lines.append)
    assert lines[0] == "resuming from epoch 1 of 2"
    assert [h["epoch"] for h in s2["history"]] == [1, 2]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)
    assert s2["final_top1_pct"] == s1["final_top1_pct"]


def test_zero_epochs_only_evaluates_and_small_sets_are_refused() -> None:
    s = train(_net(), toy(8, 0), toy(8, 1), PP, TrainConfig(epochs=0))
    assert s["epochs"] == 0
    with pytest.raises(UserInputError, match="fewer than --batch-size"):
        train(_net(), toy(8, 0), toy(8, 1), PP, TrainConfig(epochs=1, batch_size=16))


def test_reference_divergence_is_zero_for_the_reference_and_grows_with_the_change() -> None:
    """The latency planner's cost: KL (x T^2) from the unpruned model's outputs, not cross-entropy vs labels."""
    import copy

    torch.manual_seed(0)
    net, data = _net(), toy(64, 0)
    ev = reference_divergence(net, data, PP)
    same = ev(copy.deepcopy(net))
    assert same["loss"] == pytest.approx(0.0, abs=1e-6) and same["n"] == 64
    assert same["top1_pct"] == pytest.approx(evaluate_model(net, data, PP)["top1_pct"])
    small, large = copy.deepcopy(net), copy.deepcopy(net)
    with torch.no_grad():
        for m, scale in ((small, 0.9), (large, 0.3)):
            conv = next(c for c in m.modules() if isinstance(c, torch.nn.Conv2d))
            conv.weight.mul_(scale)
    assert 0.0 < ev(small)["loss"] < ev(large)["loss"]
