"""Calibration data readers honouring ONNX Runtime's `CalibrationDataReader` contract (no onnx import).

ORT's ABC recognises any class with a `get_next` method (its `__subclasshook__`), so these readers
need not import `onnxruntime.quantization`. Contract: `get_next()` returns one feed dict per call
and None at the end; `rewind()` starts over; `len()` and `set_range()` (in batches) let ORT's
strided calibration feed the calibrator a few batches at a time.

Memory stays bounded: images are preprocessed one batch at a time, so only one float batch
exists at once however many images the set holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.preprocess import preprocess
from edgebench.errors import CalibrationError, DataError, UserInputError
from edgebench.manifest import Preprocessing


class ImageCalibrationReader:
    """Feeds `dataset` to the model input `input_name` in batches of `batch_size`.

    Example::

        reader = ImageCalibrationReader(ds, "input", Preprocessing(), expected_hw=(32, 32), batch_size=32)
        while (feed := reader.get_next()) is not None:
            sess.run(None, feed)
        reader.rewind()

    `drop_last` drops a final short batch (needed for a model with a fixed batch size > 1).
    """

    def __init__(self, dataset: Dataset, input_name: str, preprocessing: Preprocessing, *,
                 expected_hw: tuple[int, int] | None = None, batch_size: int = 32, drop_last: bool = False,
                 dtype: np.dtype | type = np.float32) -> None:
        if batch_size < 1:
            raise UserInputError(f"calibration batch size {batch_size} must be >= 1")
        if len(dataset) == 0:
            raise CalibrationError(f"calibration set '{dataset.name}' is empty; give a dataset with images")
        self.dataset = dataset
        self.input_name = input_name
        self.preprocessing = preprocessing
        self.expected_hw = expected_hw
        self.batch_size = batch_size
        self.dtype = np.dtype(dtype)
        n_full, rest = divmod(len(dataset), batch_size)
        self.num_batches = n_full + (1 if rest and not drop_last else 0)
        if self.num_batches == 0:
            raise CalibrationError(
                f"calibration set '{dataset.name}' has {len(dataset)} images, fewer than the model's fixed batch "
                f"of {batch_size}; give at least {batch_size} images"
            )
        self._start, self._end = 0, self.num_batches
        self._next = 0

    @property
    def num_images(self) -> int:
        """Images actually fed (a dropped short batch is not counted)."""
        return min(len(self.dataset), self.num_batches * self.batch_size)

    def batch(self, b: int) -> np.ndarray:
        """Preprocessed batch `b` (float, NCHW/NHWC per the manifest); checks it is finite."""
        lo = b * self.batch_size
        hi = min(lo + self.batch_size, len(self.dataset))
        try:
            x = preprocess(self.dataset.images[lo:hi], self.preprocessing, self.expected_hw)
        except DataError as e:  # in a calibration run a data problem is a calibration problem
            if isinstance(e, CalibrationError):
                raise
            raise CalibrationError(str(e)) from None
        bad = ~np.isfinite(x)
        if bad.any():
            first = lo + int(np.argwhere(bad.reshape(len(x), -1).any(axis=1))[0][0])
            raise CalibrationError(
                f"calibration batch {b} holds NaN/Inf after preprocessing (first in image {first} of "
                f"'{self.dataset.name}'); check the images and the manifest's mean/std/scale"
            )
        return x.astype(self.dtype, copy=False)

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= self._end:
            return None
        x = self.batch(self._next)
        self._next += 1
        return {self.input_name: x}

    def rewind(self) -> None:
        """Start again from the first batch of the current range."""
        self._next = self._start

    def set_range(self, start_index: int, end_index: int) -> None:
        """Limit reading to batches [start_index, end_index) (ORT's strided calibration)."""
        if not 0 <= start_index <= end_index:
            raise ValueError(f"bad batch range [{start_index}, {end_index})")
        self._start, self._end = start_index, min(end_index, self.num_batches)
        self._next = self._start

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        self.rewind()
        while (feed := self.get_next()) is not None:
            yield feed
