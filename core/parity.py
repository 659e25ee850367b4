"""Parity: one module for every check of a model against its reference on the same inputs (export: ONNX vs
PyTorch; convert: a runtime's artifact vs ORT FP32; QAT: ORT INT8 vs the fake-quant module), with the
thresholds of each (`ParityTolerance`, `ConvertTolerance`, `QAT_MIN_TOP1_AGREEMENT`) and the figures of
the record written to the manifest (`compare_outputs`, `top1_agreement`).

The bound is relative to the reference output's scale s = max|ref|: `atol * min(s, 1) + rtol * s` (atol counts
at unit scale and shrinks with smaller outputs, so logits of 1e-9 are not passed by an absolute 1e-4). An output
that carries no signal (s below DEGENERATE_SCALE, or near-constant: max - min below DEGENERATE_SPREAD x s) is
`degenerate`: a match says nothing about the graph, and the callers say so instead of passing it silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from edgebench.errors import UserInputError

DEGENERATE_SCALE = 1e-6
DEGENERATE_SPREAD = 1e-6
# QAT: ORT's integer requantization rounds a few values differently from fake quant
QAT_MIN_TOP1_AGREEMENT = 0.98


@dataclass(frozen=True)
class ParityTolerance:
    """Export parity passes when max|onnx - torch| <= `parity_bound` (relative to max|torch|)
    for every output, and ONNX/PyTorch agree on the top-1 class of at least `min_top1_agreement` of the real
    images. A degenerate reference (tiny or near-constant outputs) is flagged, not passed silently."""

    atol: float = 1e-4
    rtol: float = 1e-4
    min_top1_agreement: float = 0.99

    def __post_init__(self) -> None:
        if self.atol < 0 or self.rtol < 0:
            raise UserInputError(f"parity tolerances must be >= 0 (atol={self.atol}, rtol={self.rtol})")
        if not 0.0 <= self.min_top1_agreement <= 1.0:
            raise UserInputError(f"min_top1_agreement {self.min_top1_agreement} must be in [0, 1]")


@dataclass(frozen=True)
class ConvertTolerance:
    """When a converted model is accepted (see `edgebench.calibration.convert`).

    Classifiers: top-1 agreement (and the INT8 top-1 drop on labelled images). Detectors: box agreement of the
    decoded boxes, both ways (ORT FP32's boxes the model reproduces, and the model's boxes ORT FP32 has).
    FastestDet on the 128 COCO images: ORT's own INT8 reaches 82.7 % / 79.5 %, OpenVINO NNCF INT8 84.4 % / 85.6 %;
    ORT INT8 per-tensor (-3.1 mAP points) 69.5 % / 81.8 %, the FP32 model fed RGB instead of BGR 57.5 % / 61.4 %:
    75 % passes the first two and refuses the others (docs/detection.md)."""

    atol: float = 1e-4
    rtol: float = 1e-4
    min_agreement_fp32: float = 0.99
    min_agreement_int8: float = 0.95
    max_top1_drop_int8: float = 2.0
    min_box_agreement_fp32: float = 0.99
    min_box_agreement_int8: float = 0.75

    def __post_init__(self) -> None:
        for name in ("atol", "rtol", "max_top1_drop_int8"):
            if getattr(self, name) < 0:
                raise UserInputError(f"tolerance {name}={getattr(self, name)} must be >= 0")
        for name in ("min_agreement_fp32", "min_agreement_int8", "min_box_agreement_fp32", "min_box_agreement_int8"):
            if not 0 <= getattr(self, name) <= 1:
                raise UserInputError(f"tolerance {name}={getattr(self, name)} must be in [0, 1]")


@dataclass
class ParityReference:
    """Reference outputs a candidate is compared with (computed once): random inputs, optional real images.

    `data`: what the task knows of the real images beyond `labels` (a detector's: the `DetectionDataset`, whose
    image sizes and boxes the decoded boxes and mAP need); None for a classifier or unlabelled images."""

    random_x: np.ndarray
    random_y: np.ndarray
    real_x: np.ndarray | None
    real_y: np.ndarray | None
    labels: np.ndarray | None
    dataset: str | None
    skipped: str | None = None
    data: Any = None


def parity_bound(scale: float, atol: float, rtol: float) -> float:
    """The largest max|diff| accepted for an output of scale `scale` (= max|ref|).

    >>> parity_bound(10.0, 1e-4, 1e-4), parity_bound(1e-9, 1e-4, 1e-4) < 1e-12
    (0.0011, True)
    """
    return atol * min(scale, 1.0) + rtol * scale


def compare_outputs(got: np.ndarray, ref: np.ndarray, atol: float, rtol: float) -> dict[str, Any]:
    """max|got - ref| against `parity_bound`, and whether the reference is degenerate.

    >>> ref = np.array([[1e-9, -2e-9, 3e-9]])
    >>> r = compare_outputs(ref + 1e-15, ref, 1e-4, 1e-4)
    >>> r["passed"], r["degenerate"]
    (True, True)
    """
    d = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    spread = float(np.max(ref) - np.min(ref)) if ref.size else 0.0
    bound = parity_bound(scale, atol, rtol)
    degenerate = scale < DEGENERATE_SCALE or spread <= DEGENERATE_SPREAD * scale
    return {"max_abs_diff": d, "max_abs_ref": scale, "spread_ref": spread, "bound": bound, "passed": d <= bound,
            "degenerate": degenerate}


def top1_agreement(got: np.ndarray, ref: np.ndarray) -> float:
    """The fraction of rows whose top-1 class is the same in `got` and `ref` ([N, classes] scores).

    >>> top1_agreement(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([[0.0, 1.0], [0.0, 1.0]]))
    0.5
    """
    return float(np.mean(got.argmax(1) == ref.argmax(1)))


def degenerate_warning(parity: dict[str, Any]) -> str | None:
    """The warning line for a parity record whose reference output is degenerate, else None."""
    if not parity.get("degenerate"):
        return None
    worst = [r for r in (parity.get("random"), parity.get("real")) if isinstance(r, dict) and r.get("degenerate")]
    scale = min(r["max_abs_ref"] for r in worst) if worst else float("nan")
    return (f"warning: the reference output is degenerate (max|ref| {scale:.1e}, or near-constant): parity cannot "
            "tell a right graph from a wrong one (random-init weights? load trained ones with --weights)")
