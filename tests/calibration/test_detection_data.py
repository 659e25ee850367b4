"""Detection datasets: COCO json and YOLO txt layouts, and every way bad annotations are refused (one line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.calibration.detection_data import load_detection_data
from edgebench.errors import DataError, UserInputError


def _image(path: Path, w: int, h: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(path)


def _coco_doc() -> dict:
    return {
        "images": [{"id": 7, "file_name": "b.png", "width": 40, "height": 20},
                   {"id": 3, "file_name": "a.png", "width": 20, "height": 30}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 18, "bbox": [0, 0, 10, 20]},
                        {"id": 2, "image_id": 7, "category_id": 1, "bbox": [20.5, 5, 19.5, 10]}],
        "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
    }


@pytest.fixture
def coco_dir(tmp_path: Path) -> Path:
    d = tmp_path / "coco"
    _image(d / "images" / "a.png", 20, 30)
    _image(d / "images" / "b.png", 40, 20)
    (d / "instances.json").write_text(json.dumps(_coco_doc()))
    return d


def test_coco_layout(coco_dir: Path) -> None:
    ds = load_detection_data(coco_dir)
    assert [im.image_id for im in ds.images] == [3, 7]  # by id, as COCO's evaluation orders them
    assert ds.class_names == ("person", "dog") and ds.category_ids == (1, 18)  # sorted ids -> indices 0, 1
    b = ds.images[1]
    assert b.boxes.tolist() == [[0, 0, 10, 20], [20.5, 5, 19.5, 10]]
    assert b.labels.tolist() == [1, 0]
    assert len(ds.images[0].labels) == 0 and ds.num_boxes == 2
    assert ds.read_image(0).shape == (30, 20, 3)


def test_images_and_annotations_given_apart(coco_dir: Path) -> None:
    ds = load_detection_data(coco_dir / "images", coco_dir / "instances.json")
    assert ds.num_boxes == 2 and ds.name == "images"


def test_yolo_layout_matches_coco(tmp_path: Path) -> None:
    d = tmp_path / "yolo"
    _image(d / "images" / "000001.png", 40, 20)
    _image(d / "images" / "000002.png", 20, 30)  # no label file: an image without objects
    (d / "labels" / "val").mkdir(parents=True)
    # class 1 at x 0..10, y 0..20 of a 40x20 image; class 0 at x 20..40, y 5..15
    (d / "labels" / "val" / "000001.txt").write_text("1 0.125 0.5 0.25 1.0\n\n0 0.75 0.5 0.5 0.5\n")
    ds = load_detection_data(d)
    assert [im.image_id for im in ds.images] == [1, 2]
    np.testing.assert_allclose(ds.images[0].boxes, [[0, 0, 10, 20], [20, 5, 20, 10]])
    assert ds.images[0].labels.tolist() == [1, 0] and len(ds.images[1].labels) == 0
    assert ds.category_ids == (0, 1)


def _write_coco(coco_dir: Path, change) -> Path:
    doc = _coco_doc()
    change(doc)
    (coco_dir / "instances.json").write_text(json.dumps(doc))
    return coco_dir


BAD_COCO = [
    ("box-outside", lambda d: d["annotations"][0].update(bbox=[35, 0, 10, 5]), "outside its 40x20 image"),
    ("box-empty", lambda d: d["annotations"][0].update(bbox=[0, 0, 0, 5]), "empty box"),
    ("box-not-numbers", lambda d: d["annotations"][0].update(bbox=[0, 0, "a", 5]), "expected [x, y, width, height]"),
    ("unknown-category", lambda d: d["annotations"][0].update(category_id=99), "category id 99"),
    ("unknown-image", lambda d: d["annotations"][0].update(image_id=5), "image id 5, which is not in 'images'"),
    ("missing-image", lambda d: d["images"].append({"id": 9, "file_name": "gone.jpg", "width": 4, "height": 4}),
     "image 'gone.jpg' is missing"),
    ("wrong-size", lambda d: d["images"][0].update(width=41), "is 40x20 but the file says 41x20"),
    ("duplicate-image", lambda d: d["images"].append(dict(d["images"][0])), "image id 7 appears twice"),
    ("no-categories", lambda d: d.update(categories=[]), "'categories' is empty"),
    ("annotations-not-list", lambda d: d.update(annotations={"a": 1}), "'annotations' is dict"),
    ("crowd", lambda d: d["annotations"][0].update(iscrowd=1), "crowd region"),
]


@pytest.mark.parametrize(("change", "fragment"), [pytest.param(c, f, id=i) for i, c, f in BAD_COCO])
def test_bad_coco_is_refused_with_the_file_named(coco_dir: Path, change, fragment: str) -> None:
    _write_coco(coco_dir, change)
    with pytest.raises(DataError) as e:
        load_detection_data(coco_dir)
    msg = str(e.value)
    assert fragment in msg and "\n" not in msg
    assert isinstance(e.value, UserInputError)
    if "missing" not in fragment:
        assert "instances.json" in msg


def test_malformed_json(coco_dir: Path) -> None:
    (coco_dir / "instances.json").write_text('{"images": [')
    with pytest.raises(DataError, match=r"instances.json': not valid JSON .*fix the file"):
        load_detection_data(coco_dir)


@pytest.mark.parametrize(("line", "fragment"), [
    ("0 0.5 0.5 0.2", "expected 'class cx cy w h'"),
    ("x 0.5 0.5 0.2 0.2", "expected 'class cx cy w h'"),
    ("-1 0.5 0.5 0.2 0.2", "has class -1"),
    ("0 0.95 0.5 0.2 0.2", "outside the image"),
    ("0 0.5 0.5 0 0.2", "outside the image"),
])
def test_bad_yolo_lines(tmp_path: Path, line: str, fragment: str) -> None:
    _image(tmp_path / "images" / "a.png", 8, 8)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text(f"0 0.5 0.5 0.5 0.5\n{line}\n")
    with pytest.raises(DataError, match="line 2") as e:
        load_detection_data(tmp_path)
    assert fragment in str(e.value) and "a.txt" in str(e.value)


def test_yolo_class_beyond_classes_txt(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.png", 8, 8)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "classes.txt").write_text("cat\ndog\n")
    (tmp_path / "labels" / "a.txt").write_text("2 0.5 0.5 0.5 0.5\n")
    with pytest.raises(DataError, match=r"class 2; allowed 0..1 \(classes.txt\)"):
        load_detection_data(tmp_path)


def test_yolo_label_without_image(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.png", 8, 8)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "b.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    with pytest.raises(DataError, match=r"have no image 'b\.\*'"):
        load_detection_data(tmp_path)


@pytest.mark.parametrize(("layout", "fragment"), [
    ("no-folder", "is not a folder"),
    ("no-images", "has no images/ folder"),
    ("no-annotations", "neither instances.json nor a labels/ folder"),
])
def test_layout_errors(tmp_path: Path, layout: str, fragment: str) -> None:
    if layout != "no-folder":
        tmp_path.joinpath("d").mkdir()
    if layout == "no-annotations":
        _image(tmp_path / "d" / "images" / "a.png", 8, 8)
    with pytest.raises(DataError, match=fragment):
        load_detection_data(tmp_path / "d")


@pytest.mark.data
def test_the_coco_sample_loads_the_same_from_coco_and_yolo(shared_data: Path) -> None:
    root = shared_data / "coco" / "val2017_first128"
    coco = load_detection_data(root)
    yolo = load_detection_data(root / "images", root / "labels")
    assert len(coco) == len(yolo) == 128 and coco.num_boxes == yolo.num_boxes == 898
    assert coco.class_names[:3] == ("person", "bicycle", "car") and len(coco.category_ids) == 80
    for a, b in zip(coco.images, yolo.images, strict=True):
        assert a.image_id == b.image_id and a.labels.tolist() == b.labels.tolist()
        np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)


def test_image_folder_stretches_mixed_sizes_for_a_stretch_model(tmp_path: Path) -> None:
    """Calibration images of many sizes (quantize --data IMAGES) for a detector that stretches to 8x8."""
    from edgebench.calibration.imagefolder import load_image_folder
    from edgebench.manifest import Preprocessing

    _image(tmp_path / "a.png", 20, 30)
    _image(tmp_path / "b.png", 40, 20)
    pp = Preprocessing(resize=8, resize_mode="stretch", mean=(0.0,) * 3, std=(1.0,) * 3)
    ds = load_image_folder(tmp_path, preprocessing=pp)
    assert ds.images.shape == (2, 8, 8, 3) and int(ds.images.min()) == 90


def test_yolo_label_file_that_is_not_text(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.png", 8, 8)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_bytes(b"\xff\xfe\x00bad")  # was: UnicodeDecodeError, exit 1
    with pytest.raises(DataError, match=r"labels '.*a.txt' are not UTF-8 text"):
        load_detection_data(tmp_path)


def test_coco_json_with_a_byte_order_mark_loads(coco_dir: Path) -> None:
    (coco_dir / "instances.json").write_text("\ufeff" + json.dumps(_coco_doc()), encoding="utf-8")
    assert load_detection_data(coco_dir).num_boxes == 2


def test_parity_images_for_a_detector(coco_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export parity of a detector: the images of a detection folder stretched to the input, unlabelled; None
    when no COCO sample is found under the data folders."""
    import edgebench.calibration.datasets as datasets
    from edgebench.calibration.detection_data import COCO_SAMPLE, parity_images_for
    from edgebench.manifest import InputInfo, Preprocessing

    info = InputInfo("input", ("batch", 3, 8, 12), Preprocessing(resize_mode="stretch"))
    ds = parity_images_for(info, coco_dir)
    assert ds is not None and ds.images.shape == (2, 8, 12, 3) and ds.labels.tolist() == [-1, -1]
    monkeypatch.setattr(datasets, "default_data_dirs", lambda _d=None: [tmp_path / "nothing"])
    assert parity_images_for(info, None) is None
    monkeypatch.setattr(datasets, "default_data_dirs", lambda _d=None: [tmp_path / "root"])
    (tmp_path / "root" / COCO_SAMPLE).parent.mkdir(parents=True)
    coco_dir.rename(tmp_path / "root" / COCO_SAMPLE)
    found = parity_images_for(info, None, limit=1)
    assert found is not None and len(found) == 1
