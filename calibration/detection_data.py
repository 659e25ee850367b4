"""Labelled detection images: COCO json or YOLO txt labels beside an image folder (numpy + Pillow, no torch).

Layouts (the one of ../shared/data/coco/val2017_first128)::

    DIR/images/*.jpg + DIR/instances.json     -> COCO (boxes [x, y, w, h] in pixels, COCO category ids)
    DIR/images/*.jpg + DIR/labels/**/*.txt    -> YOLO (one `class cx cy w h` line per box, normalised 0..1)

or ``--data IMAGES --annotations FILE`` (FILE a COCO .json, or a folder of YOLO .txt files). Boxes are kept as
COCO does: [x, y, w, h] in pixels of the original image; classes as contiguous indices 0..C-1 (COCO category ids
sorted, which is the 80-class order detectors such as FastestDet predict), with `category_ids` mapping back.
Everything is checked while loading: malformed JSON, unknown image or category ids, boxes outside the image,
missing images each give one `DataError` naming the file and the fix.

Example::

    ds = load_detection_data(Path("../shared/data/coco/val2017_first128"))
    len(ds), ds.num_boxes, ds.class_names[:2]        # 128, 898, ('person', 'bicycle')
    rgb = ds.read_image(0)                            # uint8 [H, W, 3]
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.imagefolder import IMAGE_SUFFIXES, _read_image
from edgebench.errors import DataError
from edgebench.manifest import InputInfo

COCO_FILE = "instances.json"
COCO_SAMPLE = Path("coco") / "val2017_first128"  # the reference sample, under a data folder (../shared/data)
# The 80 COCO classes in the order of their sorted category ids: what COCO-trained detectors predict.
COCO80_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
# a box may overhang its image by this many pixels (rounding in converted annotations), no more
BOX_TOLERANCE_PX = 1.0


@dataclass(frozen=True)
class DetectionImage:
    """One image and its ground truth: `boxes` float64 [K, 4] as [x, y, w, h] pixels, `labels` int64 [K]."""

    path: Path
    image_id: int
    width: int
    height: int
    boxes: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if self.boxes.shape != (len(self.labels), 4):
            raise DataError(f"image '{self.path}': {len(self.labels)} labels but boxes of shape "
                            f"{list(self.boxes.shape)}; expected [K, 4]")


@dataclass(frozen=True)
class DetectionDataset:
    """Images with boxes; `class_names` / `category_ids` give each class index its name and COCO id."""

    name: str
    images: tuple[DetectionImage, ...]
    class_names: tuple[str, ...] = ()
    category_ids: tuple[int, ...] = ()
    source: str = ""  # the annotation file or folder

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_boxes(self) -> int:
        return sum(len(im.labels) for im in self.images)

    def read_image(self, i: int) -> np.ndarray:
        """Image `i` decoded as uint8 [H, W, 3] RGB."""
        return _read_image(self.images[i].path, "RGB")

    def subset(self, n: int | None) -> DetectionDataset:
        """The first `n` images (all when `n` is None or larger)."""
        if n is None or n >= len(self):
            return self
        return DetectionDataset(f"{self.name}[{n}]", self.images[:n], self.class_names, self.category_ids,
                                self.source)

    def fingerprint(self) -> str:
        """sha256 over the file names, sizes and boxes (not the pixels: cheap, and names the ground truth)."""
        h = hashlib.sha256()
        for im in self.images:
            h.update(f"{im.path.name}:{im.image_id}:{im.width}x{im.height};".encode())
            h.update(np.ascontiguousarray(im.boxes, np.float64).tobytes())
            h.update(np.ascontiguousarray(im.labels, np.int64).tobytes())
        return h.hexdigest()


def load_detection_data(data: Path, annotations: Path | None = None) -> DetectionDataset:
    """`data` = DIR (DIR/images + DIR/instances.json or DIR/labels/), or an image folder with `annotations`."""
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"detection data '{data}' is not a folder; give DIR (with images/ and instances.json or "
                        "labels/) or an image folder with --annotations FILE")
    if annotations is None:
        images = data / "images"
        if not images.is_dir():
            raise DataError(f"detection data '{data}' has no images/ folder; use the layout DIR/images + "
                            f"DIR/{COCO_FILE} (or DIR/labels/), or give --data IMAGES --annotations FILE")
        if (data / COCO_FILE).is_file():
            annotations = data / COCO_FILE
        elif (data / "labels").is_dir():
            annotations = data / "labels"
        else:
            raise DataError(f"detection data '{data}' has neither {COCO_FILE} nor a labels/ folder; add the "
                            "annotations or give --annotations FILE")
        name = data.name
    else:
        images, name = data, data.name
    annotations = Path(annotations)
    if annotations.is_dir():
        return load_yolo(images, annotations, name)
    if not annotations.is_file():
        raise DataError(f"annotations '{annotations}' do not exist; give a COCO .json file or a folder of YOLO "
                        ".txt labels")
    return load_coco(images, annotations, name)


def fitted_images(ds: DetectionDataset, info: InputInfo) -> np.ndarray:
    """Every image of `ds` fitted to the model's input as its preprocessing says (stretched or letterboxed,
    `preprocess.fit_image`): uint8 [N, H, W, 3]."""
    from edgebench.calibration.preprocess import fit_image

    pp = info.preprocessing
    if not pp.fits_whole:  # a detector's manifest without resize_mode: stretched, as before letterbox existed
        pp = replace(pp, resize_mode="stretch")
    if pp.fit_hw(info.image_hw()) is None:
        raise DataError(f"input '{info.name}' {list(info.shape)} has no fixed height and width to resize images to")
    return np.stack([fit_image(ds.read_image(i), pp, info.image_hw()) for i in range(len(ds))])


def find_coco_sample(data_dir: Path | None = None) -> Path | None:
    """The COCO sample (`COCO_SAMPLE`) under --data-dir, $EDGEBENCH_DATA, ../shared/data or the cache; None if
    none of them has it."""
    from edgebench.calibration.datasets import default_data_dirs

    return next((d / COCO_SAMPLE for d in default_data_dirs(data_dir) if (d / COCO_SAMPLE).is_dir()), None)


def parity_images_for(info: InputInfo, data: Path | None, data_dir: Path | None = None,
                      limit: int | None = 256) -> Dataset | None:
    """Real images for a detector's export parity (unlabelled): detection data `data`, or (None) the COCO sample
    found under --data-dir / $EDGEBENCH_DATA / ../shared/data; None when there is none."""
    if data is None:
        data = find_coco_sample(data_dir)
        if data is None:
            return None
    ds = load_detection_data(data).subset(limit)
    images = fitted_images(ds, info)
    return Dataset(images, np.full(len(images), -1, np.int64), ds.name)


# --- COCO json ---------------------------------------------------------------------------------------


def _bad(src: Path, what: str, fix: str = "fix the file or re-export the annotations") -> DataError:
    return DataError(f"annotations '{src}': {what}; {fix}")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _records(doc: dict[str, Any], key: str, src: Path) -> list[dict[str, Any]]:
    items = doc.get(key)
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise _bad(src, f"'{key}' is {type(items).__name__}, not a list of objects (COCO format: images, "
                   "annotations, categories)")
    return items


def _check_box(box: Any, w: int, h: int, src: Path, where: str) -> list[float]:
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) and not isinstance(v, bool)
                                                             and math.isfinite(v) for v in box)):
        raise _bad(src, f"{where} has bbox {json.dumps(box)[:60]}; expected [x, y, width, height] numbers")
    x, y, bw, bh = (float(v) for v in box)
    if bw <= 0 or bh <= 0:
        raise _bad(src, f"{where} has an empty box {box} (width and height must be > 0)", "fix or drop the box")
    t = BOX_TOLERANCE_PX
    if x < -t or y < -t or x + bw > w + t or y + bh > h + t:
        raise _bad(src, f"{where} has box {box} outside its {w}x{h} image", "fix or drop the box")
    return [x, y, bw, bh]


def load_coco(images_dir: Path, src: Path, name: str | None = None) -> DetectionDataset:
    """A COCO-format json (`images`, `annotations` with `bbox`, `categories`) over the images in `images_dir`."""
    images_dir = Path(images_dir)
    try:
        doc = json.loads(Path(src).read_text(encoding="utf-8-sig"))  # a byte-order mark is fine
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _bad(src, f"not valid JSON ({e})") from None
    except OSError as e:
        raise _bad(src, f"cannot be read ({e.strerror})", "check the path and its permissions") from None
    if not isinstance(doc, dict):
        raise _bad(src, f"the top level is a {type(doc).__name__}, not a COCO object with images, annotations "
                   "and categories")
    cats = _records(doc, "categories", src)
    cat_names: dict[int, str] = {}
    for c in cats:
        if not _int(c.get("id")) or not isinstance(c.get("name"), str):
            raise _bad(src, f"category {json.dumps(c)[:60]} needs an integer id and a name")
        if c["id"] in cat_names:
            raise _bad(src, f"category id {c['id']} appears twice")
        cat_names[c["id"]] = c["name"]
    if not cat_names:
        raise _bad(src, "'categories' is empty")
    category_ids = tuple(sorted(cat_names))
    index = {cid: i for i, cid in enumerate(category_ids)}
    infos: dict[int, dict[str, Any]] = {}
    for im in _records(doc, "images", src):
        if not _int(im.get("id")) or not isinstance(im.get("file_name"), str) or not all(
                _int(im.get(k)) and im[k] > 0 for k in ("width", "height")):
            raise _bad(src, f"image {json.dumps(im)[:80]} needs an integer id, a file_name and width/height > 0")
        if im["id"] in infos:
            raise _bad(src, f"image id {im['id']} appears twice")
        infos[im["id"]] = im
    boxes: dict[int, list[list[float]]] = {i: [] for i in infos}
    labels: dict[int, list[int]] = {i: [] for i in infos}
    for k, a in enumerate(_records(doc, "annotations", src)):
        where = f"annotation {a.get('id', k)}"
        img_id, cat_id = a.get("image_id"), a.get("category_id")
        if img_id not in infos:
            raise _bad(src, f"{where} names image id {img_id}, which is not in 'images'")
        if cat_id not in index:
            raise _bad(src, f"{where} names category id {cat_id}, which is not in 'categories' "
                       f"({', '.join(map(str, category_ids[:8]))}...)")
        if a.get("iscrowd"):
            raise _bad(src, f"{where} is a crowd region (iscrowd 1), which edgebench does not score yet",
                       "drop the crowd annotations")
        im = infos[img_id]
        boxes[img_id].append(_check_box(a.get("bbox"), im["width"], im["height"], src, f"{where} (image {img_id})"))
        labels[img_id].append(index[cat_id])
    out = []
    for img_id in sorted(infos):
        im = infos[img_id]
        path = images_dir / im["file_name"]
        _check_image(path, im["width"], im["height"], src)
        out.append(DetectionImage(path, img_id, im["width"], im["height"],
                                  np.asarray(boxes[img_id], np.float64).reshape(-1, 4),
                                  np.asarray(labels[img_id], np.int64)))
    if not out:
        raise _bad(src, "'images' is empty: nothing to evaluate")
    return DetectionDataset(name or images_dir.name, tuple(out), tuple(cat_names[c] for c in category_ids),
                            category_ids, str(src))


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read image '{path}' ({e}); remove or replace the file") from None


def _check_image(path: Path, width: int, height: int, src: Path) -> None:
    if not path.is_file():
        raise _bad(src, f"image '{path.name}' is missing from '{path.parent}'",
                   "add the image or drop it (and its annotations) from the file")
    size = _image_size(path)
    if size != (width, height):
        raise _bad(src, f"image '{path.name}' is {size[0]}x{size[1]} but the file says {width}x{height}",
                   "fix width/height or use the original image")


# --- YOLO txt ----------------------------------------------------------------------------------------


def _yolo_label_files(labels_dir: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for p in sorted(labels_dir.rglob("*.txt")):
        if p.name == "classes.txt":
            continue
        if p.stem in files:
            raise DataError(f"labels '{labels_dir}' hold two files for image '{p.stem}' ({files[p.stem]} and {p}); "
                            "keep one")
        files[p.stem] = p
    return files


def _read_text(path: Path) -> str:
    """A label file's text; one DataError naming it when it is not UTF-8 text or cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"labels '{path}' are not UTF-8 text ({e.reason} at byte {e.start}); fix or remove the "
                        "file") from None
    except OSError as e:
        raise DataError(f"labels '{path}' cannot be read ({e.strerror}); check the file and its permissions") from None


def _class_names(images_dir: Path, labels_dir: Path) -> tuple[str, ...]:
    for cand in (labels_dir / "classes.txt", images_dir.parent / "classes.txt"):
        if cand.is_file():
            return tuple(line.strip() for line in _read_text(cand).splitlines() if line.strip())
    return ()


def _yolo_line(line: str, src: Path, lineno: int, num_classes: int) -> tuple[int, list[float]]:
    parts = line.split()
    where = f"labels '{src}' line {lineno}"
    try:
        if len(parts) != 5:
            raise ValueError
        cls, vals = int(parts[0]), [float(v) for v in parts[1:]]
    except ValueError:
        raise DataError(f"{where} is {line.strip()[:60]!r}; expected 'class cx cy w h' (integer class, numbers "
                        "normalised to 0..1); fix the line") from None
    if cls < 0 or (num_classes and cls >= num_classes):
        raise DataError(f"{where} has class {cls}; allowed 0..{(num_classes or 1) - 1}"
                        + (" (classes.txt)" if num_classes else "") + "; fix the class index")
    cx, cy, w, h = vals
    t = 1e-3
    if not all(math.isfinite(v) for v in vals) or w <= 0 or h <= 0 or cx - w / 2 < -t or cy - h / 2 < -t \
            or cx + w / 2 > 1 + t or cy + h / 2 > 1 + t:
        raise DataError(f"{where} has box cx={cx} cy={cy} w={w} h={h} outside the image (normalised 0..1, "
                        "w and h > 0); fix or drop the box")
    return cls, vals


def load_yolo(images_dir: Path, labels_dir: Path, name: str | None = None) -> DetectionDataset:
    """YOLO txt labels (one file per image stem, anywhere under `labels_dir`) for the images in `images_dir`.

    An image without a label file has no objects; a label file without an image is refused.
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    if not images_dir.is_dir():
        raise DataError(f"image folder '{images_dir}' does not exist")
    files = sorted(p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"image folder '{images_dir}' holds no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} images")
    label_files = _yolo_label_files(labels_dir)
    stems = {p.stem for p in files}
    orphans = sorted(set(label_files) - stems)
    if orphans:
        raise DataError(f"labels '{label_files[orphans[0]]}' have no image '{orphans[0]}.*' in '{images_dir}' "
                        f"({len(orphans)} such label file(s)); add the images or remove the labels")
    names = _class_names(images_dir, labels_dir)
    out = []
    for i, path in enumerate(files):
        w, h = _image_size(path)
        boxes, labels = [], []
        src = label_files.get(path.stem)
        if src is not None:
            for lineno, line in enumerate(_read_text(src).splitlines(), 1):
                if not line.strip():
                    continue
                cls, (cx, cy, bw, bh) = _yolo_line(line, src, lineno, len(names))
                x1, y1 = max(0.0, (cx - bw / 2) * w), max(0.0, (cy - bh / 2) * h)
                x2, y2 = min(float(w), (cx + bw / 2) * w), min(float(h), (cy + bh / 2) * h)
                boxes.append([x1, y1, x2 - x1, y2 - y1])
                labels.append(cls)
        image_id = int(path.stem) if path.stem.isdigit() else i
        out.append(DetectionImage(path, image_id, w, h, np.asarray(boxes, np.float64).reshape(-1, 4),
                                  np.asarray(labels, np.int64)))
    ids = [im.image_id for im in out]
    if len(set(ids)) != len(ids):  # numeric stems that collide (e.g. 1.jpg and 001.png): number by order
        out = [DetectionImage(im.path, i, im.width, im.height, im.boxes, im.labels) for i, im in enumerate(out)]
    num = len(names) or (max((int(im.labels.max()) for im in out if len(im.labels)), default=-1) + 1)
    return DetectionDataset(name or images_dir.name, tuple(out), names, tuple(range(num)), str(labels_dir))
