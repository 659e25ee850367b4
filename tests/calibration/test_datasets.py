"""Datasets: deterministic subsets, .npz checks and ImageFolder trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.calibration.datasets import Dataset, load_dataset, subset_indices
from edgebench.calibration.imagefolder import load_image_folder
from edgebench.calibration.preprocess import preprocess
from edgebench.errors import DataError, UserInputError
from edgebench.manifest import Preprocessing


def write_npz(path: Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    np.savez(path, images=images, labels=np.arange(len(images)) if labels is None else labels)
    return path


def test_subsets_are_deterministic(tmp_path: Path) -> None:
    imgs = np.arange(50 * 2 * 2 * 3, dtype=np.int64).reshape(50, 2, 2, 3).astype(np.uint8)
    p = write_npz(tmp_path / "d.npz", imgs)
    a = load_dataset(str(p), size=10, seed=3)
    b = load_dataset(str(p), size=10, seed=3)
    c = load_dataset(str(p), size=10, seed=4)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a.labels.tolist() == subset_indices(50, 10, 3).tolist()
    assert load_dataset(str(p), size=5).labels.tolist() == [0, 1, 2, 3, 4]  # no seed: the first n
    assert len(load_dataset(str(p), size=500)) == 50
    with pytest.raises(UserInputError, match="must be >= 1"):
        load_dataset(str(p), size=0)


def test_npz_with_nan_or_floats_is_refused(tmp_path: Path) -> None:
    x = np.zeros((4, 8, 8, 3), np.float32)
    x[2, 1, 1, 0] = np.nan
    with pytest.raises(DataError, match=r"1 NaN/Inf values \(first in image 2\)"):
        load_dataset(str(write_npz(tmp_path / "nan.npz", x)))
    with pytest.raises(DataError, match="expected uint8"):
        load_dataset(str(write_npz(tmp_path / "f.npz", np.zeros((4, 8, 8, 3), np.float32))))
    np.savez(tmp_path / "bad.npz", pixels=np.zeros(3))
    with pytest.raises(DataError, match="expected 'images' and 'labels'"):
        load_dataset(str(tmp_path / "bad.npz"))


def make_tree(root: Path, size: tuple[int, int] = (12, 10), per_class: int = 3) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def test_image_folder_loads_classes_in_order(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    ds = load_dataset(str(root))
    assert ds.images.shape == (6, 10, 12, 3) and ds.images.dtype == np.uint8
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1] and ds.class_names == ("cat", "dog")
    from PIL import Image

    np.testing.assert_array_equal(ds.images[1], np.asarray(Image.open(root / "cat" / "1.png")))
    sub = load_image_folder(root, size=2, seed=0)
    assert len(sub) == 2 and sub.labels.tolist() == ds.labels[subset_indices(6, 2, 0)].tolist()


def test_image_folder_flat_and_resized(tmp_path: Path) -> None:
    from PIL import Image

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(flat / "a.png")
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(flat / "b.png")
    with pytest.raises(DataError, match="give images of one size"):
        load_image_folder(flat)
    pp = Preprocessing(resize=36, crop=32)
    ds = load_image_folder(flat, preprocessing=pp)  # a `resize` square each, so `preprocess` resizes nothing again
    assert ds.images.shape == (2, 36, 36, 3) and ds.labels.tolist() == [-1, -1]
    assert preprocess(ds.images, pp).shape == (2, 3, 32, 32)


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "tree")
    bad = root / "dog" / "9.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"cannot read image '.*dog/9\.png'"):
        load_dataset(str(root))


def test_empty_folder_and_unknown_spec(tmp_path: Path) -> None:
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="the image set is empty"):
        load_dataset(str(tmp_path / "empty"))
    with pytest.raises(UserInputError, match="is not cifar10"):
        load_dataset(str(tmp_path / "nope"))


def test_dataset_validates_itself() -> None:
    with pytest.raises(DataError, match="expected uint8"):
        Dataset(np.zeros((2, 4, 4, 3), np.float32), np.zeros(2, np.int64), "f")


def test_data_modules_import_without_a_cycle() -> None:
    """imagefolder needs only `calibration.dataset`; datasets imports imagefolder (one direction)."""
    import subprocess
    import sys

    code = ("import sys, edgebench.calibration.imagefolder; "
            "assert 'edgebench.calibration.datasets' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_errors_are_not_calibration_errors_but_calibration_errors_are_data_errors(tmp_path: Path) -> None:
    from edgebench.errors import CalibrationError

    assert issubclass(CalibrationError, DataError) and issubclass(DataError, UserInputError)
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path / "missing.npz"))
    assert not isinstance(e.value, CalibrationError)  # evaluation/parity/training read data too


def _archive(path: Path, payload: bytes) -> Path:
    """A .tar.gz laid out as the CIFAR-10 python archive, its test_batch being `payload`."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (f"touch {self.marker}",))


def test_local_cifar10_archive_is_verified_before_it_is_unpickled(tmp_path: Path, monkeypatch) -> None:
    """A crafted archive in --data-dir must be refused by its MD5 and never run its code."""
    import pickle

    from edgebench.calibration.datasets import CIFAR10_ARCHIVE, load_cifar10
    from edgebench.errors import DataError

    monkeypatch.delenv("EDGEBENCH_DATA", raising=False)
    marker = tmp_path / "pwned"
    _archive(tmp_path / CIFAR10_ARCHIVE, pickle.dumps({b"data": _RunsCode(marker), b"labels": [0]}))
    with pytest.raises(DataError, match="not the published CIFAR-10"):
        load_cifar10("test", data_dir=tmp_path)
    assert not marker.exists()


def test_cifar10_batches_unpickle_only_arrays_and_plain_data(tmp_path: Path) -> None:
    """Defence in depth: even a verified archive is read by an unpickler that takes numpy arrays only."""
    import pickle

    from edgebench.calibration.datasets import read_cifar10_archive
    from edgebench.errors import DataError

    marker = tmp_path / "pwned"
    bad = _archive(tmp_path / "bad.tar.gz", pickle.dumps({b"data": _RunsCode(marker), b"labels": [0]}))
    with pytest.raises(DataError, match=r"(posix|os)\.system"):
        read_cifar10_archive(bad, "test")
    assert not marker.exists()
    images = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    good = _archive(tmp_path / "good.tar.gz", pickle.dumps({b"data": images, b"labels": [3, 5]}, protocol=2))
    ds = read_cifar10_archive(good, "test")
    assert ds.images.shape == (2, 32, 32, 3) and ds.labels.tolist() == [3, 5]
