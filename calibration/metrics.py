"""Top-k and paired metrics of class predictions (numpy only): one implementation for `calibration.evaluate`, the
export's parity accuracy (`exporter.export`) and accuracy-aware PTQ (`calibration.accuracy_aware`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from edgebench.errors import UserInputError


def topk_hits(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Boolean [N]: is the label among the k highest logits (ties broken by argpartition)."""
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return np.any(top == labels[:, None], axis=1)


def paired_metrics(predictions: Any, baseline_predictions: Any, labels: Any) -> dict[str, Any]:
    """Compare two models image by image on the same labelled images (e.g. INT8 vs its FP32 parent).

    Far tighter than comparing two top-1 figures: on 1,000 images each top-1 has about +/-0.8 points of
    sampling error, but the predictions that changed are counted exactly.

    ``top1_delta_ci95_pts``: the 95 % confidence interval of the top-1 difference (`paired_delta_ci`).

    >>> m = paired_metrics([0, 1, 2, 0], [0, 1, 1, 1], [0, 1, 1, 0])
    >>> m["agreement_pct"], m["flipped_to_correct"], m["flipped_to_wrong"], m["top1_delta_pts"]
    (50.0, 1, 1, 0.0)
    """
    p = np.asarray(predictions)
    b = np.asarray(baseline_predictions)
    y = np.asarray(labels)
    if not (p.shape == b.shape == y.shape) or p.ndim != 1 or len(p) == 0:
        raise UserInputError(
            f"paired comparison needs one prediction per image for both models: got {p.shape}, {b.shape} "
            f"and {y.shape} labels"
        )
    right, base_right = p == y, b == y
    n = len(y)
    gained, lost = int((right & ~base_right).sum()), int((~right & base_right).sum())
    return {
        "n": n,
        "agree": int((p == b).sum()),
        "agreement_pct": 100.0 * float((p == b).mean()),
        "flipped_to_correct": int((right & ~base_right).sum()),  # baseline wrong, this model right
        "flipped_to_wrong": int((~right & base_right).sum()),  # baseline right, this model wrong
        "changed_both_wrong": int(((p != b) & ~right & ~base_right).sum()),
        "top1_delta_pts": 100.0 * (int(right.sum()) - int(base_right.sum())) / n,
        "top1_delta_ci95_pts": list(paired_delta_ci(gained, lost, n)),
    }


def paired_delta_ci(gained: int, lost: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % CI (points) of a paired top-1 difference: `gained` images flipped to correct, `lost` to wrong, of `n`.

    Bonett and Price's adjusted Wald interval for paired proportions: one pseudo-image is added to each
    discordant count and two to n, so that no flips (or few) still give an interval of honest width
    (the plain Wald interval collapses to a point there).

    >>> [round(x, 2) for x in paired_delta_ci(0, 0, 200)]  # no flip in 200 images: still +/-1.4 points
    [-1.37, 1.37]
    >>> [round(x, 2) for x in paired_delta_ci(2, 12, 1000)]  # 10 more lost than gained: -1.0 points
    [-1.78, -0.22]
    """
    if n < 1 or gained < 0 or lost < 0 or gained + lost > n:
        raise UserInputError(f"a paired comparison of {n} images cannot have {gained} + {lost} flips")
    p12, p21 = (gained + 1) / (n + 2), (lost + 1) / (n + 2)
    d = p12 - p21
    half = z * math.sqrt(max(p12 + p21 - d * d, 0.0) / (n + 2))
    return 100.0 * max(-1.0, d - half), 100.0 * min(1.0, d + half)
