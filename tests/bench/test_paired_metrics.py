"""Paired metrics (INT8 vs its FP32 parent, image by image) on hand-made predictions where every count
is known, and against a plain per-image loop on random predictions."""

from __future__ import annotations

import numpy as np
import pytest
from edgebench.calibration.metrics import paired_metrics, topk_hits
from edgebench.errors import UserInputError


def test_int8_that_hurt_the_model_counts_flips_to_wrong() -> None:
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    base = [0, 1, 2, 3, 4, 5, 6, 7, 0, 0]  # 8 right (images 0-7), 8 and 9 wrong
    new = [0, 1, 2, 9, 9, 9, 6, 7, 8, 1]  # lost 3, 4, 5; gained 8; image 9 changed 0 -> 1, still wrong
    m = paired_metrics(new, base, labels)
    assert m["flipped_to_wrong"] == 3
    assert m["flipped_to_correct"] == 1
    assert m["changed_both_wrong"] == 1
    assert m["agree"] == 5 and m["agreement_pct"] == pytest.approx(50.0)
    assert m["top1_delta_pts"] == pytest.approx(-20.0)  # 6 right vs 8 right of 10
    assert m["n"] == 10


def test_int8_that_helped_counts_flips_to_correct() -> None:
    labels = [3, 3, 3, 3, 3, 3, 3, 3]
    base = [3, 1, 1, 1, 3, 3, 2, 2]  # 3 right
    new = [3, 3, 3, 3, 3, 1, 2, 4]  # 5 right: gained 1, 2, 3; lost 5; image 7 changed 2 -> 4, still wrong
    m = paired_metrics(new, base, labels)
    assert (m["flipped_to_correct"], m["flipped_to_wrong"], m["changed_both_wrong"]) == (3, 1, 1)
    assert m["agree"] == 3 and m["agreement_pct"] == pytest.approx(37.5)
    assert m["top1_delta_pts"] == pytest.approx(25.0)


def test_identical_models_agree_fully() -> None:
    labels = np.array([1, 2, 3, 4])
    p = np.array([1, 0, 3, 0])
    m = paired_metrics(p, p, labels)
    ci = m.pop("top1_delta_ci95_pts")
    assert m == {"n": 4, "agree": 4, "agreement_pct": 100.0, "flipped_to_correct": 0, "flipped_to_wrong": 0,
                 "changed_both_wrong": 0, "top1_delta_pts": 0.0}
    assert ci[0] == pytest.approx(-ci[1]) and ci[1] > 0  # 4 images: no flip seen, yet far from exactly 0


def test_disagreeing_everywhere_while_both_wrong() -> None:
    m = paired_metrics([1, 1, 1], [2, 2, 2], [0, 0, 0])
    assert (m["agree"], m["agreement_pct"], m["changed_both_wrong"]) == (0, 0.0, 3)
    assert (m["flipped_to_correct"], m["flipped_to_wrong"], m["top1_delta_pts"]) == (0, 0, 0.0)


def reference(p: list[int], b: list[int], y: list[int]) -> dict[str, float]:
    """One image at a time, the way a person would count them."""
    c = {"agree": 0, "flipped_to_correct": 0, "flipped_to_wrong": 0, "changed_both_wrong": 0}
    right = base_right = 0
    for pi, bi, yi in zip(p, b, y, strict=True):
        right += pi == yi
        base_right += bi == yi
        if pi == bi:
            c["agree"] += 1
        elif pi == yi:
            c["flipped_to_correct"] += 1
        elif bi == yi:
            c["flipped_to_wrong"] += 1
        else:
            c["changed_both_wrong"] += 1
    n = len(y)
    return {"n": n, **c, "agreement_pct": 100 * c["agree"] / n, "top1_delta_pts": 100 * (right - base_right) / n}


@pytest.mark.parametrize("seed", range(5))
def test_matches_a_per_image_count_on_random_predictions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    y = rng.integers(0, 10, n)
    b = np.where(rng.random(n) < 0.8, y, rng.integers(0, 10, n))  # an FP32 model ~82 % right
    p = np.where(rng.random(n) < 0.9, b, rng.integers(0, 10, n))  # INT8 follows it on ~91 % of images
    want = reference(p.tolist(), b.tolist(), y.tolist())
    got = paired_metrics(p.tolist(), b, y)
    assert got.keys() == want.keys() | {"top1_delta_ci95_pts"}
    lo, hi = got["top1_delta_ci95_pts"]
    assert -100.0 <= lo < hi <= 100.0
    for key, value in want.items():
        assert got[key] == pytest.approx(value), key
    assert got["agree"] + got["flipped_to_correct"] + got["flipped_to_wrong"] + got["changed_both_wrong"] == n


@pytest.mark.parametrize(("p", "b", "y"), [([0, 1], [0], [0, 1]), ([0], [0], [0, 1]), ([], [], []),
                                           ([[0, 1]], [[0, 1]], [[0, 1]]), ([0], [0, 1], [0, 1]),
                                           ([0, 1], [0], [0]), ([0, 1], [0, 1], [0]), (3, 3, 3)])
def test_mismatched_or_empty_inputs_are_refused(p: list, b: list, y: list) -> None:
    with pytest.raises(UserInputError, match="one prediction per image"):
        paired_metrics(p, b, y)


def test_a_single_image_is_enough() -> None:
    m = paired_metrics([2], [1], [2])
    assert (m["n"], m["agree"], m["flipped_to_correct"], m["top1_delta_pts"]) == (1, 0, 1, 100.0)


def test_topk_hits_against_a_sort() -> None:
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(200, 10))  # continuous: no ties
    labels = rng.integers(0, 10, 200)
    for k in (1, 2, 5, 10):
        want = [lab in np.argsort(-row)[:k] for row, lab in zip(logits, labels, strict=True)]
        assert topk_hits(logits, labels, k).tolist() == want, k
    assert topk_hits(logits, labels, 1).tolist() == (logits.argmax(axis=1) == labels).tolist()
    assert topk_hits(logits[:, :3], np.minimum(labels, 2), 5).all()  # k above the class count: every class
    wide = rng.normal(size=(100, 1000))  # ImageNet-sized rows: the label at exactly the k-th place
    wide_labels = np.argsort(-wide, axis=1)[:, 4]  # each label is exactly the 5th best class
    assert topk_hits(wide, wide_labels, 5).all() and not topk_hits(wide, wide_labels, 4).any()


def test_topk_hits_hand_made() -> None:
    logits = np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4], [0.3, 0.25, 0.4]])
    assert topk_hits(logits, np.array([2, 2, 0]), 1).tolist() == [False, False, False]
    assert topk_hits(logits, np.array([2, 2, 0]), 2).tolist() == [True, True, True]
    assert topk_hits(logits, np.array([1, 0, 2]), 1).tolist() == [True, True, True]


def test_delta_ci_against_bonett_price_by_hand_and_its_coverage() -> None:
    """The paired CI: Bonett-Price adjusted Wald, checked by hand, and its coverage on simulated pairs."""
    from edgebench.calibration.metrics import paired_delta_ci

    # 12 lost, 2 gained of 1000: p12 = 3/1002, p21 = 13/1002, d = -10/1002, se = sqrt((16/1002 - d^2) / 1002)
    d = -10 / 1002
    se = ((16 / 1002 - d * d) / 1002) ** 0.5
    assert paired_delta_ci(2, 12, 1000) == pytest.approx((100 * (d - 1.96 * se), 100 * (d + 1.96 * se)))
    assert paired_delta_ci(0, 0, 10**6)[1] < 0.01  # more images, a narrower interval
    assert paired_delta_ci(0, 0, 200)[1] > 1.0  # no flip in 200 images does not prove a drop below 1 point
    with pytest.raises(UserInputError):
        paired_delta_ci(3, 3, 5)
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(400):  # true difference: 1 % gained - 2 % lost = -1 point, n = 300
        u = rng.random(300)
        lo, hi = paired_delta_ci(int((u < 0.01).sum()), int(((u >= 0.01) & (u < 0.03)).sum()), 300)
        covered += lo <= -1.0 <= hi
    assert covered / 400 > 0.92
