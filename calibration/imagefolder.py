"""An ImageFolder tree (one sub-folder of PNG/JPEG files per class) as a `Dataset` (Pillow, no torch).

Layout::

    root/cat/001.png      -> label of "cat" (class folders sorted by name: 0, 1, ...)
    root/dog/xyz.jpg
    root/extra.png        -> a flat folder (no class sub-folders) loads with label -1 (fine for calibration)

Images are converted to RGB (or L for a one-channel model). They must all have one size unless the
model's preprocessing resizes/crops them, which is then applied while loading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from edgebench.calibration.dataset import Dataset, subset_indices
from edgebench.calibration.preprocess import center_crop, resize_short_side, stretch_resize
from edgebench.errors import DataError
from edgebench.manifest import Preprocessing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
UNLABELLED = -1


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def list_image_folder(root: Path) -> tuple[list[Path], np.ndarray, tuple[str, ...]]:
    """Files (sorted by class, then name), their labels and the class names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder '{root}' does not exist or is not a folder")
    classes = tuple(sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")))
    files: list[Path] = []
    labels: list[int] = []
    for i, c in enumerate(classes):
        found = sorted(p for p in (root / c).iterdir() if _is_image(p))
        files += found
        labels += [i] * len(found)
    if not files:
        flat = sorted(p for p in root.iterdir() if _is_image(p))
        if flat:
            return flat, np.full(len(flat), UNLABELLED, np.int64), ()
        raise DataError(
            f"image folder '{root}' holds no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} images "
            "(expected class sub-folders of images, or images directly in it); the image set is empty"
        )
    return files, np.asarray(labels, np.int64), classes


def _read_image(path: Path, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            pixels = im.mode
            if not pixels.startswith(("I", "F")):  # convert() would clip 16-bit/float pixels to 0..255 silently
                return np.asarray(im.convert(mode), np.uint8)
    except Image.DecompressionBombError as e:  # declares more pixels than Pillow's limit (~179 megapixels)
        raise DataError(f"image '{path}' is refused: {str(e).rstrip('.')}; remove or replace the file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise DataError(f"cannot read image '{path}' ({e}); remove or replace the file") from None
    raise DataError(f"image '{path}' has {pixels} pixels (16-bit or float); edgebench reads 8-bit images: convert it "
                    "to 8-bit RGB or grey")


def load_image_folder(path: Path, *, size: int | None = None, seed: int | None = None,
                      preprocessing: Preprocessing | None = None) -> Dataset:
    """Decode the (optionally subset) images of an ImageFolder tree into uint8 [N,H,W,C]."""
    root = Path(path)
    files, labels, classes = list_image_folder(root)
    idx = subset_indices(len(files), size, seed)
    mode = "L" if preprocessing is not None and len(preprocessing.mean) == 1 else "RGB"
    images: list[np.ndarray] = []
    first_shape: tuple[int, ...] | None = None
    for i in idx:
        img = _read_image(files[i], mode)
        if img.ndim == 2:
            img = img[..., None]
        if preprocessing is not None and preprocessing.resize_mode == "stretch" and preprocessing.resize is not None:
            img = stretch_resize(img, preprocessing.resize, preprocessing.resize, preprocessing.interpolation)
        elif preprocessing is not None and (preprocessing.resize is not None or preprocessing.crop is not None):
            if preprocessing.resize is not None:
                img = resize_short_side(img if img.shape[-1] != 1 else img[..., 0], preprocessing.resize,
                                         preprocessing.interpolation)
                img = img[..., None] if img.ndim == 2 else img
            if preprocessing.crop is not None:
                try:
                    img = center_crop(img, preprocessing.crop)
                except DataError as e:
                    raise DataError(f"image '{files[i]}': {e}") from None
        if first_shape is None:
            first_shape = img.shape
        elif img.shape != first_shape:
            raise DataError(
                f"image '{files[i]}' is {img.shape[1]}x{img.shape[0]} but '{files[idx[0]]}' is "
                f"{first_shape[1]}x{first_shape[0]}; give images of one size (or a model whose preprocessing "
                "resizes/crops)"
            )
        images.append(img)
    name = root.name if size is None or size >= len(files) else f"{root.name}[{len(idx)}@{seed}]"
    return Dataset(np.stack(images), labels[idx], name, classes)
