"""Letterbox resizing for YOLO-layout detectors (`resize_mode: letterbox`): the geometry (`preprocess.Letterbox`,
forward and inverse), a constant detector's boxes landing where expected on a non-square image (letterbox vs
stretch) through eval, the calibration loader and bench's end-to-end path, the manifest field and the CLI option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.calibration.preprocess import Letterbox, fit_image, preprocess
from edgebench.cli import app
from edgebench.errors import UserInputError
from edgebench.manifest import LETTERBOX_GRAY, Preprocessing
from edgebench.tools.synthetic import coco_folder, constant_detector
from typer.testing import CliRunner

UNIT = Preprocessing(mean=(0.0,) * 3, std=(1.0,) * 3, resize_mode="letterbox")


@pytest.mark.parametrize(("image_hw", "input_hw", "scale", "resized", "top", "left"), [
    ((480, 640), (320, 320), 0.5, (240, 320), 40, 0),     # landscape: padded above and below
    ((640, 480), (320, 320), 0.5, (320, 240), 0, 40),     # portrait: padded left and right
    ((30, 100), (64, 64), 0.64, (19, 64), 22, 0),         # odd padding (45 rows): 22 above, 23 below
    ((10, 20), (64, 64), 3.2, (32, 64), 16, 0),           # smaller than the input: scaled up
    ((32, 32), (32, 32), 1.0, (32, 32), 0, 0),            # already the input's size: unchanged
])
def test_letterbox_geometry(image_hw: tuple[int, int], input_hw: tuple[int, int], scale: float,
                            resized: tuple[int, int], top: int, left: int) -> None:
    lb = Letterbox.of(image_hw, input_hw)
    assert (lb.scale, lb.resized_hw, lb.top, lb.left) == (pytest.approx(scale), resized, top, left)
    img = np.zeros((*image_hw, 3), np.uint8)
    out = lb.image(img)
    assert out.shape == (*input_hw, 3)
    content = np.zeros(input_hw, bool)
    content[top:top + resized[0], left:left + resized[1]] = True
    assert (out[content] == 0).all() and (out[~content] == LETTERBOX_GRAY).all()  # gray 114 where padded


def test_letterbox_gray_is_114_over_255_after_normalising() -> None:
    x = preprocess(np.zeros((1, 20, 40, 3), np.uint8), UNIT, (32, 32))
    assert x.shape == (1, 3, 32, 32)
    assert x[0, :, 0, 0].tolist() == pytest.approx([114 / 255] * 3) and x[0, :, 16, 16].tolist() == [0.0] * 3


def test_a_box_round_trips_and_what_falls_in_the_padding_is_clipped() -> None:
    rng = np.random.default_rng(0)
    for image_hw in ((480, 640), (640, 480), (31, 97)):
        lb = Letterbox.of(image_hw, (320, 320))
        h, w = image_hw
        xy = rng.uniform(0, 1, (20, 2)) * [w, h]
        boxes = np.concatenate([xy, xy + rng.uniform(0, 1, (20, 2)) * ([w, h] - xy)], axis=1)
        assert np.allclose(lb.boxes_to_image(lb.boxes_to_input(boxes)), boxes, atol=1e-9)
    lb = Letterbox.of((480, 640), (320, 320))  # input rows 0..40 and 280..320 are padding
    assert lb.boxes_to_image(np.array([[-8.0, 0, 330, 300]])).tolist() == [[0, 0, 640, 480]]


def test_fit_image_letterboxes_and_stretches_a_non_square_image() -> None:
    img = np.full((20, 40, 3), 7, np.uint8)
    boxed = fit_image(img, UNIT, (32, 32))
    assert (boxed[:8] == LETTERBOX_GRAY).all() and (boxed[8:24] == 7).all() and (boxed[24:] == LETTERBOX_GRAY).all()
    stretched = fit_image(img, Preprocessing(resize_mode="stretch"), (32, 32))
    assert (stretched == 7).all()


def test_the_resize_mode_round_trips_through_the_manifest() -> None:
    from edgebench.manifest import InputInfo

    d = UNIT.to_dict()
    assert d["resize_mode"] == "letterbox" and Preprocessing.from_dict(d) == UNIT
    info = InputInfo("input", (1, 3, 32, 32), UNIT)
    assert InputInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    old = Preprocessing().to_dict()
    assert "resize_mode" not in old and Preprocessing.from_dict(old).resize_mode == "short-side"
    with pytest.raises(UserInputError, match=r"resize_mode 'letterbx' is not one of .*Did you mean 'letterbox'"):
        Preprocessing(resize_mode="letterbx")  # type: ignore[arg-type]


# the ground truth: the top-left quarter of each 40x20 image, [0, 0, 20, 10]; letterboxed into the 32x32 input
# (scale 0.8, 8 rows of gray above) that box is x1y1x2y2 [0, 8, 16, 16], i.e. centre (8, 12), size 16x8
LETTERBOXED_XYWH = [8.0, 12.0, 16.0, 8.0]


@pytest.fixture(scope="module")
def yolo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A YOLOv5-layout constant detector predicting the letterboxed box, and 2 images of 40x20 with that box."""
    d = tmp_path_factory.mktemp("letterbox")
    rows = np.zeros((1, 12, 5 + 2), np.float32)
    rows[0, 0] = [*LETTERBOXED_XYWH, 0.9, 0.95, 0.05]
    data = coco_folder(d / "data", [[(0, [0.0, 0.0, 20.0, 10.0])]] * 2, classes=("a", "b"))
    return constant_detector(d / "det.onnx", rows), data


def _describe(model: Path, *mode: str) -> dict:
    r = CliRunner().invoke(app, ["describe", str(model), "--task", "detection", "--preprocessing", "unit", "--force",
                                 "--json", *mode])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_letterbox_vs_stretch_boxes_on_a_non_square_image(yolo: tuple[Path, Path]) -> None:
    """Described with --resize-mode letterbox the box maps back onto the ground truth exactly (mAP 100); the same
    output read as a stretched input lands elsewhere ([0, 5, 20, 10]: IoU 0.5, mAP@0.5:0.95 10)."""
    from edgebench.artifact import ModelArtifact
    from edgebench.calibration.tasks import decode_one

    model, data = yolo
    raw = np.array([[*LETTERBOXED_XYWH, 0.9, 0.95, 0.05]], np.float32)
    seen = {}
    for mode, box, map_pct in (("letterbox", [0, 0, 20, 10], 100.0), ("stretch", [0, 5, 20, 10], 10.0)):
        m = _describe(model, "--resize-mode", mode)
        assert m["input"]["preprocessing"]["resize_mode"] == mode
        assert "--resize-mode" in m["provenance"]["preprocessing"]
        dets = decode_one(raw, ModelArtifact.resolve(model).manifest, 40, 20)
        assert dets.boxes.tolist() == [pytest.approx(box)] and dets.labels.tolist() == [0]
        r = CliRunner().invoke(app, ["eval", str(model), "--data", str(data), "-t", "1", "--json"])
        assert r.exit_code == 0, r.output
        seen[mode] = json.loads(r.stdout)["map_pct"]
        assert seen[mode] == pytest.approx(map_pct)
    assert _describe(model)["input"]["preprocessing"]["resize_mode"] == "stretch"  # the default


def test_calibration_images_and_the_end_to_end_frame_are_letterboxed(yolo: tuple[Path, Path], tmp_path: Path) -> None:
    """quantize's loader fits images of any size to the input (letterboxed: gray rows); bench's end-to-end path
    maps the boxes back to the 640x480 frame (scale 0.05, 4 gray rows above)."""
    from edgebench.artifact import ModelArtifact
    from edgebench.bench.end_to_end import EndToEnd
    from edgebench.calibration.datasets import load_dataset
    from edgebench.runtimes import get_runtime, options_class
    from PIL import Image

    model, _ = yolo
    _describe(model, "--resize-mode", "letterbox")
    manifest = ModelArtifact.resolve(model).manifest
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, (h, w) in enumerate(((20, 40), (40, 20))):
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(folder / f"{i}.png")
    ds = load_dataset(str(folder), preprocessing=manifest.input.preprocessing, input_hw=(32, 32))
    assert ds.images.shape == (2, 32, 32, 3)
    assert (ds.images[0, :8] == LETTERBOX_GRAY).all() and (ds.images[1, :, :8] == LETTERBOX_GRAY).all()
    sess = get_runtime("ort-cpu").load(model, options_class("ort-cpu")(intra_op_threads=1))
    e2e = EndToEnd(sess, manifest)
    (dets,) = e2e.run(e2e.feeds())
    assert dets.boxes.tolist() == [pytest.approx([0, 80, 320, 240])]


def test_resize_mode_is_for_detectors(yolo: tuple[Path, Path]) -> None:
    model, _ = yolo
    r = CliRunner().invoke(app, ["describe", str(model), "--preprocessing", "unit", "--resize-mode", "letterbox",
                                 "-o", str(model.with_name("c.json"))])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--resize-mode letterbox is for detectors" in r.output
    assert not model.with_name("c.json").exists()
