"""`Dataset` (uint8 HWC RGB images + int64 labels) and the deterministic subset rule (no torch).

The bottom of the data modules: `datasets` (spec strings, CIFAR-10, .npz) and `imagefolder` both import it,
and neither imports the other's callers, so there is no import cycle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from edgebench.errors import DataError, UserInputError


@dataclass(frozen=True)
class Dataset:
    """Images (uint8 [N,H,W,C], RGB) with labels (int64 [N]) and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    name: str
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise DataError(
                f"dataset '{self.name}' images have shape {list(self.images.shape)} and type {self.images.dtype}; "
                "expected uint8 [N, H, W, C]"
            )
        if len(self.labels) != len(self.images):
            raise DataError(
                f"dataset '{self.name}' has {len(self.images)} images but {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.images)

    def require_labels(self, why: str) -> Dataset:
        """`self` when it is not empty and every label is a class index (>= 0); else a DataError naming the
        layouts that give labels.

        The one check behind every accuracy and every training (eval, bench --eval, quantize --accuracy-budget,
        sweep-bits, train, qat, sparsify): a flat image folder loads with label -1 (fine for calibration) and
        would score 0 % instead of being refused. Checked before anything slow runs or is written.
        """
        if len(self) == 0:
            raise DataError(f"dataset '{self.name}' is empty; {why} needs labelled images (e.g. cifar10:train)")
        bad = self.labels < 0
        if bad.any():
            first = int(self.labels[bad][0])
            what = "unlabelled (-1: a flat folder)" if first == -1 else f"negative (first {first})"
            raise DataError(
                f"dataset '{self.name}': {int(bad.sum())} of {len(self)} labels are {what}, and {why} needs a class "
                "per image: give a folder of class sub-folders (root/<class>/*.png), an .npz whose 'labels' are "
                "class indices >= 0, or cifar10"
            )
        return self

    def subset(self, n: int | None, seed: int | None = None) -> Dataset:
        """The first `n` items (seed None), or `n` items drawn without replacement with `seed`.

        Deterministic: the same n and seed always give the same items.
        """
        if n is None or n >= len(self):
            return self
        idx = subset_indices(len(self), n, seed)
        return Dataset(self.images[idx], self.labels[idx], f"{self.name}[{n}@{seed}]", self.class_names)

    def fingerprint(self) -> str:
        """sha256 over the pixels and labels: names a calibration set in a manifest."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.labels.astype(np.int64)).tobytes())
        return h.hexdigest()


def subset_indices(total: int, n: int | None, seed: int | None = None) -> np.ndarray:
    """Sorted indices of a deterministic subset: the first `n` (seed None) or `n` drawn with `seed`.

    The one rule behind `Dataset.subset` and the image-folder loader (which picks files before decoding).

    >>> subset_indices(10, 3).tolist(), subset_indices(10, 3, seed=0).tolist() == subset_indices(10, 3, 0).tolist()
    ([0, 1, 2], True)
    """
    if n is not None and n < 1:
        raise UserInputError(f"subset size {n} must be >= 1 (e.g. --calib-size 500)")
    if n is None or n >= total:
        return np.arange(total)
    if seed is None:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
