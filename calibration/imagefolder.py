"""An ImageFolder tree (one sub-folder of PNG/JPEG files per class) as a `Dataset` (Pillow, no torch).

Layout::

    root/cat/001.png      -> label of "cat" (class folders sorted by name: 0, 1, ...)
    root/dog/xyz.jpg
    root/extra.png        -> a flat folder (no class sub-folders) loads with label -1 (fine for calibration)

With the model's classes (`calibration.labels.ClassList`) class folders are matched by name or wnid
(``n01440764/``), never by sorted position; wnid folders map through ImageNet's list even without them. A flat
folder takes its labels from a labels file (``--labels-file``, or the one in the folder or its parent:
``val/images/*.JPEG`` + ``val/labels.txt``); see `calibration.labels`.

Images (PNG, JPEG, WebP) are turned upright by their EXIF orientation and converted to RGB (or L for a
one-channel model) from grey, palette or CMYK. They must all have one size unless the model's preprocessing
resizes/crops them: then each is resized and cropped to a `resize` square while loading
(`preprocess.fit_for_loading`), which the later `preprocess` turns into exactly what one pass gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from edgebench.calibration.dataset import Dataset, subset_indices
from edgebench.calibration.labels import (
    WNID,
    ClassList,
    LabelsFile,
    find_labels_file,
    imagenet_classes,
    label_index,
    read_labels_file,
)
from edgebench.calibration.preprocess import fit_for_loading
from edgebench.errors import DataError
from edgebench.manifest import Preprocessing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
UNLABELLED = -1


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def list_image_folder(root: Path, classes: ClassList | None = None, labels_file: Path | None = None
                      ) -> tuple[list[Path], np.ndarray, tuple[str, ...]]:
    """Files (sorted by class, then name), their labels and the class names (see the module docstring)."""
    files, labels, names, _ = _list(Path(root), classes, labels_file)
    return files, labels, names


def _list(root: Path, classes: ClassList | None, labels_file: Path | None
          ) -> tuple[list[Path], np.ndarray, tuple[str, ...], LabelsFile | None]:
    if not root.is_dir():
        raise DataError(f"image folder '{root}' does not exist or is not a folder")
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    flat = sorted(p for p in root.iterdir() if _is_image(p))
    if not flat and len(dirs) == 1:  # val/images/*.JPEG + val/labels.txt
        inner = sorted(p for p in dirs[0].iterdir() if _is_image(p))
        lf = read_labels_file(labels_file) if labels_file is not None else find_labels_file(dirs[0], inner)
        if lf is not None:
            return inner, _file_labels(inner, lf, classes), classes.names if classes else (), lf
    if labels_file is not None and not flat:
        raise DataError(f"--labels-file '{labels_file}' labels a flat folder, but '{root}' holds no images directly "
                        f"(it has {len(dirs)} sub-folders); give the folder of the images, or drop --labels-file for "
                        "class sub-folders")
    if labels_file is not None or (flat and not any(_has_images(d) for d in dirs)):
        lf = read_labels_file(labels_file) if labels_file is not None else find_labels_file(root, flat)
        if lf is not None:
            return flat, _file_labels(flat, lf, classes), classes.names if classes else (), lf
    folders = [d.name for d in dirs if _has_images(d)]
    # without the model's classes every sub-folder is a class, as always (an empty one keeps its position)
    names, index = _folder_classes(root, folders if classes is not None else [d.name for d in dirs], classes)
    files: list[Path] = []
    labels: list[int] = []
    for c in folders:
        found = sorted(p for p in (root / c).iterdir() if _is_image(p))
        files += found
        labels += [index[c]] * len(found)
    if not files:
        if flat:
            return flat, np.full(len(flat), UNLABELLED, np.int64), (), None
        raise DataError(
            f"image folder '{root}' holds no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} images "
            "(expected class sub-folders of images, or images directly in it); the image set is empty"
        )
    return files, np.asarray(labels, np.int64), names, None


def _has_images(d: Path) -> bool:
    return any(_is_image(p) for p in d.iterdir())


def _folder_classes(root: Path, folders: list[str], classes: ClassList | None
                    ) -> tuple[tuple[str, ...], dict[str, int]]:
    """Class names and each folder's label: through the model's classes (or ImageNet's for wnid folders) by
    name, wnid or index (a folder '7'); without either, the sorted position (the folders are then the classes)."""
    if classes is None and folders and all(WNID.match(f) for f in folders):
        classes = imagenet_classes()
    if classes is None:
        return tuple(folders), {c: i for i, c in enumerate(folders)}
    # a folder named by a number is that class index ('0' .. '999'), range-checked like a labels-file index
    index = {f: label_index(f, classes, f"image folder '{root}'") if f.isdigit() else classes.index(f)
             for f in folders}
    unknown = [f for f, i in index.items() if i is None]
    if unknown:
        raise DataError(
            f"image folder '{root}': {len(unknown)} of {len(folders)} class folders name no class of the model "
            f"({', '.join(unknown[:4])}{', ...' if len(unknown) > 4 else ''}; the model's classes: "
            f"{', '.join(classes.names[:3])}, ... {len(classes)} in all); name the folders by class name or wnid, "
            "or give `--labels FILE` with the model's class order"
        )
    return classes.names, {f: int(i) for f, i in index.items() if i is not None}


def _file_labels(files: list[Path], lf: LabelsFile, classes: ClassList | None) -> np.ndarray:
    missing = [p.name for p in files if p.name not in lf.labels]
    if missing:
        raise DataError(f"labels file '{lf.path}' has no line for {len(missing)} of the {len(files)} images "
                        f"(first: {missing[0]}); give the labels file of these images")
    where = f"labels file '{lf.path}'"
    return np.asarray([label_index(lf.labels[p.name], classes, where) for p in files], np.int64)


def _read_image(path: Path, mode: str) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            pixels = im.mode
            if not pixels.startswith(("I", "F")):  # convert() would clip 16-bit/float pixels to 0..255 silently
                return np.asarray(ImageOps.exif_transpose(im).convert(mode), np.uint8)
    except Image.DecompressionBombError as e:  # declares more pixels than Pillow's limit (~179 megapixels)
        raise DataError(f"image '{path}' is refused: {str(e).rstrip('.')}; remove or replace the file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise DataError(f"cannot read image '{path}' ({e}); remove or replace the file") from None
    raise DataError(f"image '{path}' has {pixels} pixels (16-bit or float); edgebench reads 8-bit images: convert it "
                    "to 8-bit RGB or grey")


def load_image_folder(path: Path, *, size: int | None = None, seed: int | None = None,
                      preprocessing: Preprocessing | None = None, classes: ClassList | None = None,
                      labels_file: Path | None = None, input_hw: tuple[int, int] | None = None) -> Dataset:
    """Decode the (optionally subset) images of an image folder into uint8 [N,H,W,C].

    `classes`: the model's class order (labels mapped by name/wnid); `labels_file`: the labels of a flat folder;
    `input_hw`: the model's input size, which a detector's images (stretch, letterbox) are fitted to.
    """
    root = Path(path)
    files, labels, classes_found, lf = _list(root, classes, labels_file)
    idx = subset_indices(len(files), size, seed)
    mode = "L" if preprocessing is not None and len(preprocessing.mean) == 1 else "RGB"
    images: list[np.ndarray] = []
    first_shape: tuple[int, ...] | None = None
    for i in idx:
        img = _read_image(files[i], mode)
        if img.ndim == 2:
            img = img[..., None]
        if preprocessing is not None:
            try:
                img = fit_for_loading(img, preprocessing, input_hw)
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
    if lf is not None:
        name += f" (labels {lf.path})"
    return Dataset(np.stack(images), labels[idx], name, classes_found)
