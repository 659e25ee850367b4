"""Image datasets as uint8 HWC RGB arrays + int64 labels (no torch).

Specs accepted by `load_dataset`:
  - ``cifar10`` / ``cifar10:test`` / ``cifar10:train``: the official CIFAR-10 python archive
    (downloaded with its published checksum when online, read from a local copy otherwise:
    ``--data-dir`` / ``EDGEBENCH_DATA``), or the ``test_first1000.npz`` / ``train_first4000.npz``
    subsets found in that folder;
  - a path to an ``.npz`` holding ``images`` [N,H,W,C] uint8 and ``labels`` [N];
  - an image folder (PNG/JPEG/WebP): class sub-folders (names or ImageNet wnids, matched through the model's
    classes), or a flat folder with a labels file (ImageNet's ``FILE INDEX`` ground truth, ``FILE,WNID`` lines,
    a CSV): see `calibration.imagefolder` and `calibration.labels`.

The data feeds calibration, evaluation, parity and training alike, so a bad or missing dataset raises
`DataError`. `Dataset` and `subset_indices` live in `calibration.dataset` (re-exported here).
"""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
from edgebench.calibration.dataset import Dataset, subset_indices
from edgebench.calibration.imagefolder import load_image_folder
from edgebench.calibration.labels import ClassList
from edgebench.errors import CalibrationError, DataError, UserInputError, check_one_of
from edgebench.manifest import Preprocessing
from edgebench.readers import read_npz

__all__ = ["CIFAR10_CLASSES", "Dataset", "default_data_dirs", "load_cifar10", "load_dataset", "load_image_folder",
           "load_npz", "subset_indices"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # published with the archive (also torchvision's)
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
# Subsets laid out for this project (pixel-exact copies of the first official images).
CIFAR10_NPZ = {"test": "test_first1000.npz", "train": "train_first4000.npz"}


def default_data_dirs(data_dir: Path | None = None) -> list[Path]:
    """Where to look for data, in order: --data-dir, $EDGEBENCH_DATA, ../shared/data, ~/.cache/edgebench."""
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir))
    if os.environ.get("EDGEBENCH_DATA"):
        dirs.append(Path(os.environ["EDGEBENCH_DATA"]))
    here = Path(__file__).resolve().parent.parent
    dirs += [here.parent / "shared" / "data", Path.home() / ".cache" / "edgebench"]
    return dirs


def load_npz(path: Path, name: str | None = None, class_names: tuple[str, ...] = ()) -> Dataset:
    """The `images` [N,H,W(,C)] uint8 and `labels` [N] integers of an .npz (read by `read_npz`)."""
    path = Path(path)
    arrays = read_npz(path, "dataset file", DataError)
    if "images" not in arrays or "labels" not in arrays:
        raise DataError(f"'{path}' has arrays {sorted(arrays)}; expected 'images' and 'labels'")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim not in (3, 4) or len(images) == 0:
        raise DataError(f"'{path}' images have shape {list(images.shape)}; expected at least one image, "
                        "uint8 [N, H, W, C] (or [N, H, W] grey)")
    whole = labels.dtype.kind in "iu" or (labels.dtype.kind == "f" and bool(np.isfinite(labels).all())
                                           and bool((labels == np.round(labels)).all()))  # 3.0 is class 3
    if labels.ndim != 1 or not whole:
        raise DataError(f"'{path}' labels have shape {list(labels.shape)} and type {labels.dtype}; expected "
                        "whole numbers [N], one class index per image")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < -1:
        raise DataError(f"'{path}' labels hold {int(labels.min())}; labels are class indices >= 0 (-1: unlabelled)")
    if images.dtype.kind in "fc":
        bad = ~np.isfinite(images)
        if bad.any():
            first = int(np.argwhere(bad.reshape(len(images), -1).any(axis=1))[0][0])
            raise DataError(
                f"'{path}' images hold {int(bad.sum())} NaN/Inf values (first in image {first}); "
                "clean the data: images must be uint8 pixels 0..255"
            )
        raise DataError(
            f"'{path}' images are {images.dtype}; expected uint8 pixels 0..255 "
            "(convert with (x * 255).round().astype('uint8') for floats in 0..1)"
        )
    if images.ndim == 3:
        images = images[..., None]
    return Dataset(images, labels, name or path.stem, class_names)


def download_cifar10(cache_dir: Path, url: str = CIFAR10_URL) -> Path:
    """Download the official archive into `cache_dir` and verify its published MD5."""
    from edgebench.download import download_verified, file_digest

    dest = cache_dir / CIFAR10_ARCHIVE
    if dest.is_file() and file_digest(dest, "md5") == CIFAR10_MD5:
        return dest
    return download_verified(
        url, dest, CIFAR10_MD5, algo="md5", what="CIFAR-10", error=CalibrationError,
        hint=f"put {CIFAR10_ARCHIVE} or the .npz subsets in a folder and pass --data-dir or set EDGEBENCH_DATA",
    )


# The globals the official batches need (numpy arrays); anything else in a pickle is refused.
_CIFAR_PICKLE_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),  # _codecs: bytes pickled by Python 3
})


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 batch and nothing else: only numpy arrays, dicts, lists, bytes and numbers."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _CIFAR_PICKLE_GLOBALS:
            raise DataError(f"the CIFAR-10 batch asks for {module}.{name}, which no CIFAR-10 batch holds; refused")
        return super().find_class(module, name)


def verify_cifar10_archive(archive: Path) -> Path:
    """The archive, if its MD5 is the published one; else a DataError (the file is never unpickled)."""
    from edgebench.download import file_digest

    md5 = file_digest(archive, "md5")
    if md5 != CIFAR10_MD5:
        raise DataError(
            f"'{archive}' has MD5 {md5}, not the published CIFAR-10 {CIFAR10_MD5}; it was not read (a tampered "
            f"archive could run code when unpickled): delete it, or replace it with the official {CIFAR10_ARCHIVE}"
        )
    return archive


def read_cifar10_archive(archive: Path, split: str) -> Dataset:
    """The `split` of the CIFAR-10 python archive at `archive`; verify it first (`verify_cifar10_archive`)."""
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    images, labels = [], []
    with tarfile.open(archive, "r:gz") as tar:
        for n in names:
            member = tar.extractfile(f"cifar-10-batches-py/{n}")
            if member is None:
                raise DataError(f"'{archive}' has no {n}; it is not the CIFAR-10 python archive")
            # verified by MD5 before this call; the unpickler still takes numpy arrays and plain data only
            try:
                d = _BatchUnpickler(member, encoding="bytes").load()
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
                raise DataError(f"'{archive}': {n} is not a readable CIFAR-10 batch ({e})") from None
            images.append(np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(d[b"labels"], np.int64))
    return Dataset(np.concatenate(images), np.concatenate(labels), f"cifar10-{split}", CIFAR10_CLASSES)


def load_cifar10(split: str = "test", data_dir: Path | None = None, download: bool = False) -> Dataset:
    """CIFAR-10 `split` from the first folder holding the archive or the .npz subset."""
    check_one_of("CIFAR-10 split", split, ("test", "train"))
    dirs = default_data_dirs(data_dir)
    for d in dirs:
        for cand in (d / CIFAR10_ARCHIVE, d / "cifar10" / CIFAR10_ARCHIVE):
            if cand.is_file():
                return read_cifar10_archive(verify_cifar10_archive(cand), split)
        for cand in (d / CIFAR10_NPZ[split], d / "cifar10" / CIFAR10_NPZ[split]):
            if cand.is_file():
                return load_npz(cand, f"cifar10-{split}-{cand.stem}", CIFAR10_CLASSES)
    if download:
        return read_cifar10_archive(download_cifar10(Path.home() / ".cache" / "edgebench"), split)
    looked = ", ".join(str(d) for d in dirs)
    raise DataError(
        f"CIFAR-10 ({split}) not found in {looked}; pass --data-dir with {CIFAR10_ARCHIVE} or "
        f"{CIFAR10_NPZ[split]}, or set EDGEBENCH_DATA"
    )


def load_dataset(spec: str, data_dir: Path | None = None, download: bool = False, *, size: int | None = None,
                 seed: int | None = None, preprocessing: Preprocessing | None = None,
                 labelled_for: str | None = None, classes: ClassList | None = None,
                 labels_file: Path | None = None, input_hw: tuple[int, int] | None = None) -> Dataset:
    """Load a dataset from a spec string (see the module docstring).

    `size`/`seed` pick a deterministic subset (`subset_indices`); an image folder decodes only those
    files. `preprocessing` lets an image folder of mixed sizes be resized/cropped while loading.
    `labelled_for` (e.g. "evaluation"): the data measures an accuracy, so every image needs a label
    (`Dataset.require_labels`). `classes`: the model's class order, through which an image folder's class
    names, wnids and labels-file entries are mapped; `labels_file`: the labels of a flat image folder;
    `input_hw`: the model's input size, which a detector's images (stretch, letterbox) are fitted to.
    """
    if labels_file is not None and not Path(spec).is_dir():
        raise UserInputError(f"--labels-file applies to an image folder, not to dataset '{spec}' (its labels are "
                             "inside it)")
    ds = _load(spec, data_dir, download, size=size, seed=seed, preprocessing=preprocessing, classes=classes,
               labels_file=labels_file, input_hw=input_hw)
    return ds.require_labels(labelled_for) if labelled_for else ds


def _load(spec: str, data_dir: Path | None, download: bool, *, size: int | None, seed: int | None,
          preprocessing: Preprocessing | None, classes: ClassList | None = None,
          labels_file: Path | None = None, input_hw: tuple[int, int] | None = None) -> Dataset:
    if spec.startswith("cifar10"):
        _, _, split = spec.partition(":")
        return load_cifar10(split or "test", data_dir, download).subset(size, seed)
    path = Path(spec)
    if path.suffix == ".npz":
        return load_npz(path).subset(size, seed)  # a missing file or a folder: one line from read_npz
    if path.is_dir():
        return load_image_folder(path, size=size, seed=seed, preprocessing=preprocessing, classes=classes,
                                 labels_file=labels_file, input_hw=input_hw)
    raise UserInputError(
        f"dataset '{spec}' is not cifar10[:test|:train], an existing .npz file or an image folder"
    )
