"""Input data for a benchmark: seeded random tensors shaped from the model, or real samples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from edgebench.errors import UserInputError
from edgebench.readers import read_npz
from edgebench.runtimes.base import TensorSpec

# the largest batch `bench --batch` and a sweep's [bench] batch take: beyond it the inputs alone need
# gigabytes (4096 x 3x224x224 float32 is 2.5 GB) and the run fails on memory, not on the model
MAX_BATCH = 4096


def check_batch(values: Sequence[int], option: str = "--batch") -> None:
    """Refuse a batch above MAX_BATCH (one line, naming the value and the limit).

    >>> check_batch([1, 8, 4096])
    """
    too_big = [b for b in values if b > MAX_BATCH]
    if too_big:
        raise UserInputError(f"{option} {too_big[0]} is above the largest batch edgebench runs, {MAX_BATCH} (its "
                             "random inputs alone would need gigabytes); give a batch <= "
                             f"{MAX_BATCH}, e.g. 1,8,32")


def random_feeds(
    specs: Sequence[TensorSpec], shapes: Sequence[tuple[int, ...]], seed: int = 0
) -> dict[str, np.ndarray]:
    """Seeded random data: N(0,1) for floats, 0..255 for uint8, 0..9 for other integers."""
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for spec, shape in zip(specs, shapes, strict=True):
        dt = np.dtype(spec.dtype)
        if dt.kind == "f":
            feeds[spec.name] = rng.standard_normal(shape, dtype=np.float32).astype(dt)
        elif dt == np.uint8:
            feeds[spec.name] = rng.integers(0, 256, shape, dtype=np.uint8)
        elif dt.kind in "iu":
            feeds[spec.name] = rng.integers(0, 10, shape).astype(dt)
        elif dt.kind == "b":
            feeds[spec.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            raise UserInputError(f"input '{spec.name}' has type {spec.dtype}, which edgebench cannot generate")
    return feeds


def npz_feeds(path: Path, specs: Sequence[TensorSpec], batch: int | None) -> dict[str, np.ndarray]:
    """Real samples from an .npz: arrays named after the inputs (or one array for a one-input model).

    The first `batch` rows are taken (cycled when the file holds fewer).
    """
    path = Path(path)
    data = read_npz(path, "--inputs file")
    feeds: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.name in data:
            arr = data[spec.name]
        elif len(specs) == 1 and len(data) == 1:
            arr = next(iter(data.values()))
        else:
            raise UserInputError(
                f"--inputs '{path}' has arrays {sorted(data)} but the model wants an array named '{spec.name}'"
            )
        if arr.dtype.kind not in "biuf":
            raise UserInputError(f"--inputs array for '{spec.name}' is {arr.dtype}; give numbers (the model wants "
                                 f"{spec.dtype})")
        if arr.ndim == 0 or arr.shape[0] == 0:
            raise UserInputError(f"--inputs array for '{spec.name}' has shape {list(arr.shape)}: no samples; give "
                                 f"at least one, shaped {spec.pretty_shape()}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise UserInputError(f"--inputs array for '{spec.name}' holds {int((~np.isfinite(arr)).sum())} NaN/Inf "
                                 "values; give finite samples (NaN inputs time a different path)")
        rank = len(spec.shape)
        if arr.ndim != rank:
            raise UserInputError(
                f"--inputs array for '{spec.name}' has shape {list(arr.shape)} (rank {arr.ndim}); "
                f"the model wants rank {rank} {spec.pretty_shape()}"
            )
        for i, want in enumerate(spec.shape[1:], start=1):
            if isinstance(want, int) and want > 0 and arr.shape[i] != want:
                raise UserInputError(
                    f"--inputs array for '{spec.name}' has shape {list(arr.shape)}; the model wants "
                    f"{spec.pretty_shape()}"
                )
        n = batch or (spec.shape[0] if isinstance(spec.shape[0], int) and spec.shape[0] > 0 else 1)
        idx = np.arange(n) % arr.shape[0]
        feeds[spec.name] = np.ascontiguousarray(arr[idx].astype(np.dtype(spec.dtype), copy=False))
    return feeds
