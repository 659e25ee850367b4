"""Distillation, block (depth) pruning, latency probes/table checks and the latency-aware width chooser."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from edgebench.calibration.dataset import Dataset
from edgebench.errors import UserInputError
from edgebench.exporter.prune.depth import block_candidates, removable_blocks, remove_blocks
from edgebench.exporter.prune.latency import apply_plan, choose_plan, latency_probes, predict_ms
from edgebench.exporter.prune.saved import load_pruned, save_pruned
from edgebench.exporter.train.distill import DistillConfig, check_teacher, distill_loss
from edgebench.exporter.train.loop import TrainConfig, train
from edgebench.latency_table import check_table
from edgebench.manifest import Preprocessing

from tests.exporter.tiny_nets import pad_resnet, vgg_tiny

pytestmark = pytest.mark.torch
X = torch.zeros(1, 3, 32, 32)
PP = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def _data(n: int = 64, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64), "r")


def test_distillation_uses_the_teacher() -> None:
    """Same student, same data, same seed: two different teachers must give different students."""
    torch.set_num_threads(1)
    cfg = TrainConfig(epochs=1, batch_size=32, lr=0.05, augment=False)
    students = []
    for teacher_seed in (1, 2):
        student = pad_resnet(0)
        summary = train(student, _data(), _data(16, 1), PP, cfg, teacher=pad_resnet(teacher_seed),
                        distill=DistillConfig(alpha=1.0, temperature=2.0))
        assert summary["distill"]["alpha"] == 1.0 and summary["distill"]["temperature"] == 2.0
        students.append(student.state_dict()["linear.weight"].clone())
    assert not torch.allclose(students[0], students[1])
    plain = pad_resnet(0)
    assert train(plain, _data(), _data(16, 1), PP, cfg)["distill"] is None


def test_distill_loss_is_zero_when_student_equals_teacher_and_checks() -> None:
    logits = torch.randn(4, 10)
    y = torch.zeros(4, dtype=torch.long)
    assert float(distill_loss(logits, logits, y, DistillConfig(alpha=1.0))) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(UserInputError, match="alpha"):
        DistillConfig(alpha=1.5)
    with pytest.raises(UserInputError, match="outputs"):
        check_teacher(vgg_tiny(num_classes=5), vgg_tiny(), X, teacher_name="t", student_name="s")
    with pytest.raises(UserInputError, match="input"):
        check_teacher(vgg_tiny(), vgg_tiny(), X, teacher_name="t", student_name="s", teacher_input=(3, 224, 224),
                      student_input=(3, 32, 32))


def _deep_resnet() -> torch.nn.Module:
    from edgebench.exporter.models.cifar_resnet import CifarResNet

    torch.manual_seed(0)
    return CifarResNet((2, 2, 2), widths=(8, 16, 32)).eval()


def test_block_removal_keeps_the_network_valid_and_round_trips(tmp_path: Path) -> None:
    m = _deep_resnet()
    cands = {b.name: b for b in block_candidates(m, X)}
    assert removable_blocks(m, X) == ["layer1.0", "layer1.1", "layer2.1", "layer3.1"]
    assert "changes the shape" in cands["layer2.0"].reason
    with pytest.raises(UserInputError, match="cannot be removed"):
        remove_blocks(copy.deepcopy(m), ["layer2.0"], X)
    remove_blocks(m, ["layer1.1", "layer3.1"], X)
    y = m(torch.randn(2, 3, 32, 32))
    save_pruned(m, tmp_path / "r", arch="x", num_classes=10, stem="r")
    from edgebench.exporter.models.cifar_resnet import CifarResNet

    back, structure = load_pruned(tmp_path / "r", factory=lambda _a, _n: CifarResNet((2, 2, 2), widths=(8, 16, 32)))
    assert structure["removed_blocks"] == ["layer1.1", "layer3.1"]
    torch.testing.assert_close(back(torch.randn(2, 3, 32, 32) * 0 + 1), m(torch.randn(2, 3, 32, 32) * 0 + 1))
    assert y.shape == (2, 10)


def _table(probes: dict, per_width: float = 0.01, fixed: float = 0.5) -> dict:
    units = {u["name"]: {"channels": u["channels"], "block": u["block"], "removable": u["removable"],
                         "widths": {str(w): per_width * w for w in u["widths"]},
                         "remove_ms": 0.0 if u["removable"] else None} for u in probes["units"]}
    return {"schema_version": 1, "kind": "edgebench.latency-table", "model": probes["model"], "runtime": "ort-cpu",
            "precision": "int8", "threads": 1, "units": units,
            "full_model_ms": fixed + sum(per_width * u["channels"] for u in probes["units"])}


def _sens(probes: dict) -> dict:
    rng = np.random.default_rng(0)
    return {"units": {u["name"]: {"widths": {str(w): {"loss_increase": float(rng.random()) * (u["channels"] - w)}
                                             for w in u["widths"]},
                                  "remove": {"loss_increase": float(rng.random()) * 20} if u["removable"] else None}
                      for u in probes["units"]}}


def test_width_choice_is_monotone_in_the_target_and_reaches_it() -> None:
    m = _deep_resnet()
    probes = latency_probes(m, X, arch="tiny", channel_block=4)
    table, sens = _table(probes), _sens(probes)
    full = table["full_model_ms"]
    previous = None
    for speedup in (1.1, 1.3, 1.6, 2.0):
        plan = choose_plan(table, sens, target_ms=full / speedup)
        assert plan.predicted_ms <= full / speedup + 1e-9
        assert plan.predicted_ms == pytest.approx(predict_ms(table, {**plan.widths, **{
            n: None for n, u in table["units"].items() if u["block"] in plan.removed_blocks}}))
        if previous is not None:  # tighter target: no layer wider, no block back
            assert set(previous.removed_blocks) <= set(plan.removed_blocks)
            assert all(plan.widths.get(n, 0) <= w for n, w in previous.widths.items())
        previous = plan
    with pytest.raises(UserInputError, match="best reachable"):
        choose_plan(table, sens, target_ms=1e-6)
    net = copy.deepcopy(m)
    apply_plan(net, X, previous)
    assert net(X).shape == (1, 10)


def _synthetic(units: dict[str, tuple[int, bool]], ms_per_filter: dict[str, float], loss: dict[str, dict],
               fixed: float = 1.0) -> tuple[dict, dict]:
    """A table + sensitivity by hand: unit -> (filters, removable), widths in steps of 8, ms linear in the width."""
    table_units, sens_units = {}, {}
    for n, (c, removable) in units.items():
        widths = list(range(8, c + 1, 8))
        table_units[n] = {"channels": c, "block": f"b_{n}", "removable": removable,
                          "widths": {str(w): ms_per_filter[n] * w for w in widths},
                          "remove_ms": 0.0 if removable else None}
        sens_units[n] = {"widths": {str(w): {"loss_increase": 0.0 if w == c else loss[n]["width"](w)} for w in widths},
                         "remove": {"loss_increase": loss[n]["remove"]} if removable else None}
    full = fixed + sum(ms_per_filter[n] * c for n, (c, _) in units.items())
    return {"units": table_units, "full_model_ms": full}, {"units": sens_units}


def test_back_off_lands_within_one_width_step_of_the_target() -> None:
    # 'a' costs the same loss at any narrower width, so the greedy jumps 64 -> 8 at once (best loss per ms):
    # 5.6 of the 13.8 ms, 1.68x where 1.2x was asked; 'b' is far more sensitive
    table, sens = _synthetic({"a": (64, False), "b": (64, False)}, {"a": 0.1, "b": 0.1},
                             {"a": {"width": lambda w: 1.0}, "b": {"width": lambda w: 50.0 * (64 - w)}})
    full, step = table["full_model_ms"], 0.1 * 8
    plan = choose_plan(table, sens, target_ms=full / 1.2)
    assert plan.greedy_predicted_ms == pytest.approx(full - 5.6)  # what the greedy alone chose (1.68x)
    assert plan.back_off == {"unit": "a", "greedy": 8, "chosen": 40}
    assert plan.widths == {"a": 40, "b": 64}
    assert plan.predicted_ms <= plan.target_ms  # never misses the target ...
    assert plan.predicted_ms > plan.target_ms - step  # ... and stops within one width step of it
    assert plan.predicted_speedup == pytest.approx(full / (full - 2.4)) and plan.target_speedup == pytest.approx(1.2)
    d = plan.to_dict()
    assert d["target_speedup"] == pytest.approx(1.2) and d["greedy_predicted_speedup"] == pytest.approx(full / 8.2)
    assert d["predicted_speedup"] == pytest.approx(1.2105, abs=1e-4)
    # a block removal overshooting is shrunk to a width of that unit the same way
    table, sens = _synthetic({"a": (32, True), "b": (64, False)}, {"a": 0.2, "b": 0.1},
                             {"a": {"width": lambda w: 9.0, "remove": 0.5}, "b": {"width": lambda w: 50.0 * (64 - w)}})
    full = table["full_model_ms"]
    plan = choose_plan(table, sens, target_ms=full - 2.0)
    assert plan.back_off == {"unit": "a", "greedy": None, "chosen": 16} and plan.removed_blocks == ()
    assert full - 2.0 - 0.2 * 8 < plan.predicted_ms <= full - 2.0
    assert choose_plan(table, sens, target_ms=full - 6.0).removed_blocks == ("b_a",)  # no width of 'a' is enough


@pytest.mark.parametrize("seed", range(6))
def test_back_off_keeps_plans_nested_and_close_to_every_target(seed: int) -> None:
    rng = np.random.default_rng(seed)
    units = {f"u{i}": (int(rng.choice([16, 32, 64])), bool(rng.random() < 0.5)) for i in range(5)}
    noise = {n: rng.random(9) for n in units}  # sensitivity not monotone in the width: the greedy jumps
    table, sens = _synthetic(units, {n: float(rng.uniform(0.02, 0.3)) for n in units},
                             {n: {"width": lambda w, n=n: float(noise[n][w // 8]) * (1 + (64 - w) / 16),
                                  "remove": float(rng.uniform(0, 5))} for n in units})
    full = table["full_model_ms"]
    fastest = predict_ms(table, {n: None if u["removable"] else 8 for n, u in table["units"].items()})
    steps = [abs(a - b) for u in table["units"].values()
             for a, b in zip(sorted([*u["widths"].values(), *([0.0] if u["removable"] else [])]),
                             sorted([*u["widths"].values(), *([0.0] if u["removable"] else [])])[1:], strict=False)]
    previous = None
    for target in np.linspace(full * 0.999, fastest, 40):
        plan = choose_plan(table, sens, target_ms=float(target))
        assert plan.predicted_ms <= target + 1e-9
        assert plan.predicted_ms > target - max(steps) - 1e-9
        assert plan.predicted_ms >= plan.greedy_predicted_ms - 1e-9  # the back-off only gives latency back
        if previous is not None:  # a tighter target never widens a layer nor brings a block back
            assert set(previous.removed_blocks) <= set(plan.removed_blocks)
            assert all(plan.widths.get(n, 0) <= w for n, w in previous.widths.items())
        previous = plan


def test_latency_plan_logs_predicted_vs_target_speedup(tmp_path: Path) -> None:
    from edgebench.exporter.prune.prepare import LatencyTarget, latency_plan
    from edgebench.exporter.zoo import get_spec

    spec = get_spec("resnet20")
    torch.manual_seed(0)
    model = spec.build().eval()
    probes = latency_probes(model, X, arch="resnet20")
    (tmp_path / "t.json").write_text(json.dumps(_table(probes)), encoding="utf-8")
    sens = {**_sens(probes), "model": probes["model"]}
    lines: list[str] = []
    plan, _, _ = latency_plan(model, spec, LatencyTarget(tmp_path / "t.json", speedup=1.3), _data(), sensitivity=sens,
                              log=lines.append)
    assert plan.predicted_ms <= plan.target_ms and plan.target_speedup == pytest.approx(1.3)
    assert len(lines) == 1 and f"({plan.predicted_speedup:.2f}x for a 1.30x target" in lines[0]
    assert ("the greedy alone" in lines[0]) == (plan.back_off is not None)
    assert plan.to_dict()["target_speedup"] == pytest.approx(1.3)


def test_table_refuses_another_model_runtime_or_precision() -> None:
    probes = latency_probes(_deep_resnet(), X, arch="tiny")
    table = _table(probes)
    check_table(table, arch="tiny", model_hash=probes["model"]["hash"], runtime="ort-cpu", precision="int8")
    with pytest.raises(UserInputError, match="precision 'int8', not 'fp32'"):
        check_table(table, arch="tiny", model_hash=probes["model"]["hash"], precision="fp32")
    with pytest.raises(UserInputError, match="runtime"):
        check_table(table, arch="tiny", model_hash=probes["model"]["hash"], runtime="openvino")
    with pytest.raises(UserInputError, match="model 'tiny', not 'other'"):
        check_table(table, arch="other", model_hash=probes["model"]["hash"])
    other = latency_probes(pad_resnet(), X, arch="tiny")
    with pytest.raises(UserInputError, match="another structure"):
        check_table(table, arch="tiny", model_hash=other["model"]["hash"])
    json.dumps(probes)  # the probes travel as JSON
