"""The calibration reader honours ORT's CalibrationDataReader contract, in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from edgebench.calibration.datasets import Dataset
from edgebench.calibration.preprocess import preprocess
from edgebench.calibration.reader import ImageCalibrationReader
from edgebench.errors import CalibrationError
from edgebench.manifest import Preprocessing


def dataset(n: int, size: int = 8) -> Dataset:
    rng = np.random.default_rng(1)
    return Dataset(rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 10, "rand")


def test_contract_batches_none_at_end_and_rewind() -> None:
    ds = dataset(10)
    r = ImageCalibrationReader(ds, "input", Preprocessing(), expected_hw=(8, 8), batch_size=4)
    feeds = []
    while (f := r.get_next()) is not None:
        feeds.append(f)
    assert [f["input"].shape for f in feeds] == [(4, 3, 8, 8), (4, 3, 8, 8), (2, 3, 8, 8)]
    assert r.get_next() is None  # stays exhausted
    assert len(r) == 3 and r.num_images == 10
    expected = preprocess(ds.images, Preprocessing())
    np.testing.assert_array_equal(np.concatenate([f["input"] for f in feeds]), expected)
    r.rewind()
    np.testing.assert_array_equal(r.get_next()["input"], feeds[0]["input"])


def test_is_an_ort_calibration_data_reader_and_supports_strided_ranges() -> None:
    from onnxruntime.quantization import CalibrationDataReader

    r = ImageCalibrationReader(dataset(10), "x", Preprocessing(), batch_size=2)
    assert isinstance(r, CalibrationDataReader)
    r.set_range(1, 3)
    got = list(iter(r.get_next, None))
    assert len(got) == 2
    np.testing.assert_array_equal(got[0]["x"], r.batch(1))
    r.set_range(0, len(r))
    assert len(list(r)) == 5


def test_drop_last_for_fixed_batch_models() -> None:
    r = ImageCalibrationReader(dataset(10), "x", Preprocessing(), batch_size=4, drop_last=True)
    assert len(r) == 2 and r.num_images == 8
    with pytest.raises(CalibrationError, match="fewer than the model's fixed batch"):
        ImageCalibrationReader(dataset(3), "x", Preprocessing(), batch_size=4, drop_last=True)


def test_memory_is_bounded_to_one_batch() -> None:
    """Reading 2,000 images never holds more than one float batch: the reader keeps no feeds."""
    import tracemalloc

    ds = dataset(2000, size=32)
    r = ImageCalibrationReader(ds, "x", Preprocessing(), batch_size=16)
    batch_bytes = 16 * 3 * 32 * 32 * 4
    tracemalloc.start()
    for _ in r:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * batch_bytes  # all 2,000 preprocessed images would be 125x one batch


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_empty_set_and_nan_are_refused() -> None:
    empty = Dataset(np.zeros((0, 8, 8, 3), np.uint8), np.zeros(0, np.int64), "nothing")
    with pytest.raises(CalibrationError, match="empty"):
        ImageCalibrationReader(empty, "x", Preprocessing())
    # a manifest whose std underflows turns pixels into Inf: named, not silently calibrated on
    r = ImageCalibrationReader(dataset(4), "x", Preprocessing(std=(1e-45, 1e-45, 1e-45)), batch_size=2)
    with pytest.raises(CalibrationError, match="NaN/Inf"):
        r.get_next()


def test_wrong_size_and_channels_fail_clearly() -> None:
    with pytest.raises(CalibrationError, match="model wants 16x16"):
        ImageCalibrationReader(dataset(4), "x", Preprocessing(), expected_hw=(16, 16)).get_next()
    gray = Dataset(np.zeros((4, 8, 8, 1), np.uint8), np.zeros(4, np.int64), "gray")
    with pytest.raises(CalibrationError, match="1 channels but the model wants 3"):
        ImageCalibrationReader(gray, "x", Preprocessing()).get_next()
