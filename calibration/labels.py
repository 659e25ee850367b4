"""Which class each image is, in the model's class order: the class lists and the label files users have (no torch).

- `ClassList`: a model's class order (names, and ImageNet wnids where known); `imagenet_classes()` is the public
  synset list shipped in the package (``edgebench/data/imagenet_synsets.txt``: wnid, torchvision name, synonyms);
- `read_labels_file`: ``NAME INDEX`` (ImageNet's validation ground truth), ``NAME, INDEX``, ``NAME,WNID`` lines, or
  a CSV with a header (``file,wnid,...`` / ``file,label``);
- `find_labels_file`: the one such file in a flat image folder or its parent (``val/images`` + ``val/labels.txt``).

A label is mapped through the model's classes by index, wnid or name, never by the sorted position of a folder
name; a label that does not fit (out of range, unknown name) is a `DataError` naming it, before any slow work.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.errors import DataError

if TYPE_CHECKING:
    from edgebench.calibration.dataset import Dataset

WNID = re.compile(r"^n\d{8}$")
LABEL_SUFFIXES = (".txt", ".csv")
MAX_LABELS_BYTES = 64 << 20  # a labels file found on its own is at most this big (ImageNet's val ground truth: 1.5 MB)
_FILE_COLUMNS = ("file", "filename", "file_name", "image", "name", "path")
_LABEL_COLUMNS = ("wnid", "label", "index", "class", "class_index", "torchvision_index", "target")


def _norm(name: str) -> str:
    """Names compare without case, '_' or '-' (a folder ``great_white_shark`` is the class 'great white shark')."""
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


@dataclass(frozen=True)
class ClassList:
    """A model's classes in output order: names, and optionally wnids and synonyms (ImageNet)."""

    names: tuple[str, ...]
    wnids: tuple[str, ...] = ()
    synonyms: tuple[tuple[str, ...], ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        for what, seq in (("wnids", self.wnids), ("synonyms", self.synonyms)):
            if seq and len(seq) != len(self.names):
                raise DataError(f"class list {self.source}: {len(seq)} {what} for {len(self.names)} names")

    def __len__(self) -> int:
        return len(self.names)

    def index(self, token: str) -> int | None:
        """The class of a wnid, a name (case/underscore-insensitive) or an unambiguous synonym; else None.

        >>> imagenet_classes().index("n01440764"), imagenet_classes().index("Great_White_Shark")
        (0, 2)
        """
        return _lookup(self).get(token) if WNID.match(token) else _lookup(self).get(_norm(token))


@lru_cache(maxsize=8)
def _lookup(classes: ClassList) -> dict[str, int]:
    out: dict[str, int] = {w: i for i, w in enumerate(classes.wnids)}
    seen: dict[str, set[int]] = {}
    for i, syns in enumerate(classes.synonyms):
        for s in syns:
            seen.setdefault(_norm(s), set()).add(i)
    out.update({s: next(iter(ids)) for s, ids in seen.items() if len(ids) == 1})  # ambiguous synonyms: not used
    out.update({_norm(n): i for i, n in enumerate(classes.names)})  # a model's own names win
    return out


@lru_cache(maxsize=1)
def imagenet_classes() -> ClassList:
    """The 1,000 ImageNet-1k classes in torchvision's order (sorted wnids), shipped with the package."""
    from importlib import resources

    text = resources.files("edgebench").joinpath("data/imagenet_synsets.txt").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return ClassList(tuple(r[1] for r in rows), tuple(r[0] for r in rows),
                     tuple(tuple(s.strip() for s in r[2].split(",")) for r in rows), "imagenet")


def classes_for(dataset: str | None, names: tuple[str, ...], num_classes: int | None = None) -> ClassList | None:
    """The ClassList of a model: ImageNet's (with wnids) when it names ImageNet's 1,000 classes, else its names;
    None when it names none (then only index labels and wnid folders can be mapped)."""
    imagenet = imagenet_classes()
    if (names and tuple(names) == imagenet.names) or (not names and dataset == "imagenet"
                                                      and num_classes in (None, len(imagenet))):
        return imagenet
    return ClassList(tuple(names), source=dataset or "the model's manifest") if names else None


@dataclass(frozen=True)
class LabelsFile:
    """A labels file read: image file name -> its label as written (an index or a wnid/name)."""

    path: Path
    labels: dict[str, str]


def read_labels_file(path: Path) -> LabelsFile:
    """Parse ``NAME INDEX`` / ``NAME, INDEX`` / ``NAME,WNID`` lines or a CSV with a file and a label column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"labels file '{path}' is not a readable UTF-8 text file ({e})") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise DataError(f"labels file '{path}' is empty; give one 'FILE INDEX' or 'FILE,WNID' line per image")
    first = [c.strip().lower() for c in lines[0].split(",")]
    out: dict[str, str] = {}
    if len(first) > 1 and first[0] in _FILE_COLUMNS:  # a CSV with a header
        col = next((c for c in _LABEL_COLUMNS if c in first), None)
        if col is None:
            raise DataError(f"labels file '{path}' has columns {first} but none of {', '.join(_LABEL_COLUMNS)}; "
                            "name the label column wnid or label")
        for row in csv.DictReader(lines, skipinitialspace=True):
            name, label = (row.get(first[0]) or "").strip(), (row.get(col) or "").strip()
            if name and label:
                out[Path(name).name] = label
    else:
        for n, line in enumerate(lines, 1):
            parts = [p.strip() for p in (line.split(",") if "," in line else line.split())]
            if len(parts) != 2 or not all(parts):
                raise DataError(f"labels file '{path}' line {n} is {line.strip()[:60]!r}; expected 'FILE INDEX', "
                                "'FILE, INDEX' or 'FILE,WNID' (or a CSV with a header)")
            out[Path(parts[0]).name] = parts[1]
    return LabelsFile(path, out)


def find_labels_file(folder: Path, images: list[Path]) -> LabelsFile | None:
    """The one labels file in `folder` (else in its parent) that names at least one of `images`; None if none.

    Two or more candidates are an error naming them (give --labels-file)."""
    names = {p.name for p in images}
    for where in (folder, folder.parent):
        found = []
        try:
            cands = sorted(p for p in where.iterdir() if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES
                           and p.stat().st_size <= MAX_LABELS_BYTES)
        except OSError:  # an unreadable parent: no labels file there
            continue
        for cand in cands:
            try:
                lf = read_labels_file(cand)
            except DataError:
                continue  # not a labels file (notes, a synset list)
            if names & lf.labels.keys():
                found.append(lf)
        if len(found) > 1:
            raise DataError(f"image folder '{folder}' has {len(found)} labels files that name its images "
                            f"({', '.join(str(f.path) for f in found)}); say which with --labels-file FILE")
        if found:
            return found[0]
    return None


def label_index(token: str, classes: ClassList | None, where: str) -> int:
    """A label as written (index, wnid or class name) -> the model's class index; a misfit is a DataError."""
    if re.fullmatch(r"[+-]?\d+", token):
        i = int(token)
        if i < 0:
            raise DataError(f"{where}: label {i} is negative; labels are class indices 0..N-1")
        if classes is not None and i >= len(classes):
            raise DataError(f"{where}: label {i} is out of range for the model's {len(classes)} classes "
                            f"(0..{len(classes) - 1}); give the labels of the classes this model predicts")
        return i
    if classes is None:
        classes = imagenet_classes() if WNID.match(token) else None
    i = classes.index(token) if classes is not None else None
    if i is None:
        model = (f"the model's classes ({', '.join(classes.names[:3])}, ... {len(classes)} in all)" if classes
                 else "no class names (the model's manifest names none)")
        raise DataError(f"{where}: label '{token}' is not a class of {model}; give class indices, ImageNet wnids "
                        "or the model's class names (`--labels imagenet|cifar10|FILE` gives the model's class order)")
    return i


def check_labels_fit(ds: Dataset, num_classes: int | None) -> None:
    """Refuse, before any slow work, labels that cannot be the model's: a dataset naming another number of classes
    (CIFAR-10's 10 against 1,000 outputs) or a label >= the model's outputs (it would score 0 % silently)."""
    if num_classes is None or len(ds) == 0:
        return
    if ds.class_names and len(ds.class_names) != num_classes:
        raise DataError(
            f"dataset '{ds.name}' has {len(ds.class_names)} classes ({', '.join(ds.class_names[:3])}, ...) but the "
            f"model has {num_classes} outputs; give data labelled with the model's classes"
        )
    top = int(ds.labels.max())
    if top >= num_classes:
        raise DataError(
            f"dataset '{ds.name}' has label {top}, out of range for the model's {num_classes} outputs "
            f"(0..{num_classes - 1}); give data labelled with the model's classes"
        )
