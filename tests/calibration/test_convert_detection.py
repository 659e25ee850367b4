"""`edgebench convert` of a detector: parity on the decoded boxes (box agreement both ways with ORT FP32) instead
of top-1 agreement; tiny grid detectors built in code, then FastestDet on the COCO sample (../shared/data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from edgebench.calibration.convert import ConvertConfig, _parity, _reference, convert_model
from edgebench.calibration.detection_data import find_coco_sample
from edgebench.errors import CalibrationError, ParityError
from edgebench.manifest import find_typed_manifest
from edgebench.runtimes import RUNTIMES, get_runtime, runtime_names
from edgebench.tools.synthetic import coco_folder, grid_detector

# one confident box per listed cell: (row, col, class) on a 4x4 grid, 3 classes, 32x32 input
CELLS = ((0, 0, 0), (1, 2, 1), (3, 1, 2))


def _grid(cells: tuple[tuple[int, int, int], ...] = CELLS, wide: int | None = None) -> np.ndarray:
    """Objectness 1 and class probability 1 at each cell, centre offset +0.5 cell, size half the image; `wide`:
    that cell's box is 0.95 of the image instead (IoU 0.28 with the right one: a wrong box)."""
    g = np.zeros((1 + 4 + 3, 4, 4), np.float32)
    for k, (r, c, cls) in enumerate(cells):
        g[0, r, c] = g[5 + cls, r, c] = 1.0
        g[1, r, c] = g[2, r, c] = np.arctanh(0.5)
        if k == wide:
            g[3, r, c] = g[4, r, c] = 3.0
    return g


def _ort(path: Path) -> Any:
    ort = get_runtime("ort-cpu")
    return ort.load(path, ort.Options(intra_op_threads=1))


@pytest.fixture
def det(tmp_path: Path) -> tuple[Path, Path]:
    """(the FP32 grid detector, a COCO-layout folder of 3 40x20 images whose ground truth is the box of cell (1, 2):
    centre (2.5 / 4, 1.5 / 4) of the image, half its size)."""
    data = coco_folder(tmp_path / "data", [[(1, [15.0, 2.5, 20.0, 10.0])]] * 3)
    return grid_detector(tmp_path / "m" / "model.fp32.onnx", _grid(), size=32), data


# candidate: (its grid, FP32 passes, INT8 passes, a reason it is refused with)
CANDIDATES = {
    "same boxes": (_grid(), True, True, None),
    "one box wrong": (_grid(wide=1), False, False, "box agreement 66.7 % < 99 % on 3 real images (of ORT FP32's "
                                                   "9 boxes with score >= 0.3, the share the model reproduces)"),
    "two boxes added": (_grid((*CELLS, (2, 0, 0), (3, 3, 0))), False, False,
                        "reverse box agreement with FP32 60.0 % < 75 % (of the model's 15 boxes, the share ORT FP32 "
                        "has)"),
    "outputs off by 0.01": (_grid() + np.float32(0.01), False, True, "real images max|diff| 1.00e-02 > bound"),
}


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_detection_parity_compares_decoded_boxes(det: tuple[Path, Path], tmp_path: Path, name: str) -> None:
    model, data = det
    grid, fp32_ok, int8_ok, reason = CANDIDATES[name]
    candidate = _ort(grid_detector(tmp_path / "c" / "model.fp32.onnx", grid, size=32, manifest=False))
    manifest = find_typed_manifest(model)
    assert manifest is not None
    for precision, ok in (("fp32", fp32_ok), ("int8", int8_ok)):
        cfg = ConvertConfig(runtime="ncnn", precision=precision, parity_data=str(data))
        p = _parity(candidate, _reference(model, manifest, cfg), cfg, manifest)
        assert p["passed"] is ok, p["reason"]
        real = p["real"]
        assert "top1_agreement" not in real and "top1_agreement" not in p["random"]  # no classes to agree on
        assert (real["n"], real["reference_boxes"], real["score_threshold"]) == (3, 9, 0.3)
        assert real["reference_map_pct"] == pytest.approx(100.0)  # the grid's box is the ground truth
        if ok:
            assert p["reason"] is None
        elif precision == ("int8" if "with FP32" in str(reason) else "fp32"):
            assert str(reason) in p["reason"]
    if name == "same boxes":
        assert (real["box_agreement_pct"], real["box_agreement_reverse_pct"], real["map_pct"]) == (100.0, 100.0,
                                                                                                    100.0)


def test_classifier_parity_keeps_top1(tiny_onnx: Path) -> None:
    """No manifest task: classification's figures and nothing of the detector's."""
    from edgebench.parity import ParityReference

    sess = _ort(tiny_onnx)
    x = np.random.default_rng(0).standard_normal((4, 3, 16, 16), dtype=np.float32)
    y = np.concatenate([sess.run({"input": x[i:i + 1]})["logits"] for i in range(4)])
    ref = ParityReference(x, y, x, y, None, "x")
    p = _parity(sess, ref, ConvertConfig(runtime="ncnn"))
    assert p["passed"] and p["real"]["top1_agreement"] == 1.0 and "top1_agreement" in p["random"]
    assert not any(k.startswith("box") for k in p["real"])


def test_detector_defaults_to_the_coco_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgebench.calibration.tasks import TASKS

    sample = coco_folder(tmp_path / "coco" / "val2017_first128", [[(0, [0.0, 0.0, 20.0, 10.0])]])
    monkeypatch.setenv("EDGEBENCH_DATA", str(tmp_path))
    det, cls = TASKS.get("detection"), TASKS.get("classification")
    assert (det.default_data("parity"), det.default_data("calibration")) == (str(sample), str(sample / "images"))
    assert (cls.default_data("parity"), cls.default_data("calibration")) == ("cifar10:test", "cifar10:train")


def test_detector_int8_without_real_images_is_refused(det: tuple[Path, Path]) -> None:
    model, _ = det
    manifest = find_typed_manifest(model)
    assert manifest is not None
    with pytest.raises(CalibrationError, match=r"give --parity-data \(e\.g\. a detection folder DIR with images/"):
        _reference(model, manifest, ConvertConfig(runtime="ncnn", precision="int8", parity_data=None))


def _available(runtime: str, *packages: str) -> None:
    """Skip unless `runtime` and the converter's `packages` are installed."""
    runtime_names()
    if not RUNTIMES.get(runtime)().available():
        pytest.skip(f"{runtime} is not installed here")
    for name in packages:
        pytest.importorskip(name)


def _ncnn() -> None:
    _available("ncnn", "pnnx", "onnx")


def test_ncnn_conversion_of_a_detector(det: tuple[Path, Path], tmp_path: Path) -> None:
    """Through convert_model: the converted manifest keeps task and decoder, so eval decodes its boxes."""
    _ncnn()
    from edgebench.calibration.evaluate_detection import evaluate_detection

    model, data = det
    path = convert_model(model, ConvertConfig(runtime="ncnn", parity_data=str(data), out=tmp_path / "out"))
    m = find_typed_manifest(path)
    assert m is not None and m.task == "detection" and (m.output or {}).get("decoder") == "fastestdet"
    assert m.parity is not None and m.parity["passed"] and m.parity["real"]["box_agreement_pct"] == 100.0
    assert list(m.extra["converter"]["output_shape"]) == [1, 8, 4, 4]
    r = evaluate_detection(path, data, runtime="ncnn", threads=1)
    assert r["map_pct"] == pytest.approx(evaluate_detection(model, data, threads=1)["map_pct"])


def test_ncnn_conversion_with_wrong_boxes_is_refused(det: tuple[Path, Path], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A converter that gets one box wrong (its model is right in every other cell): refused, nothing written."""
    _ncnn()
    from dataclasses import replace

    from edgebench.runtimes import converters

    model, data = det
    wrong = grid_detector(tmp_path / "wrong" / "model.fp32.onnx", _grid(wide=0), size=32, manifest=False)
    real = converters.get_converter("ncnn")
    monkeypatch.setattr(converters, "get_converter", lambda _rt: lambda job: real(replace(job, onnx_path=wrong)))
    with pytest.raises(ParityError, match=r"refused, nothing written: .*; box agreement 66\.7 % < 99 %"):
        convert_model(model, ConvertConfig(runtime="ncnn", parity_data=str(data), out=tmp_path / "out"))
    assert not (tmp_path / "out" / "ncnn" / "fp32").exists()


# --- FastestDet on the COCO sample --------------------------------------------------------------------------------

COCO = Path("coco") / "val2017_first128"


@pytest.fixture(scope="module")
def fastestdet(fastestdet_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's FastestDet export (tests/conftest.py), which conversions here write beside."""
    import shutil

    out = tmp_path_factory.mktemp("fastestdet") / "fd"
    shutil.copytree(fastestdet_export, out)
    return out


def _map(path: Path, runtime: str, shared: Path) -> float:
    from edgebench.calibration.evaluate_detection import evaluate_detection

    return float(evaluate_detection(path, shared / COCO, runtime=runtime, threads=1)["map_pct"])


@pytest.fixture(scope="module")
def fp32_map(fastestdet: Path, shared_data: Path) -> float:
    """ORT FP32's mAP@0.5:0.95 of the module's FastestDet on the 128 images, evaluated once for every test here."""
    return _map(fastestdet, "ort-cpu", shared_data)


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.torch
def test_fastestdet_ncnn_fp32_keeps_the_boxes(fastestdet: Path, shared_data: Path, fp32_map: float) -> None:
    """pnnx on the export as it is (its channel split is already a reshape: no strided Slice to rewrite, the rewrite
    itself is tested in tests/runtimes/test_ncnn_convert.py); parity on the 128 COCO images found by default."""
    _ncnn()
    path = convert_model(fastestdet, ConvertConfig(runtime="ncnn"))
    m = find_typed_manifest(path)
    assert m is not None and m.task == "detection" and m.extra["converter"]["rewrites"]["channel_slice_to_reshape"] == 0
    real = m.to_dict()["parity"]["real"]
    assert real["n"] == 128 and real["dataset"] == str(find_coco_sample())
    assert real["box_agreement_pct"] >= 99.0 and real["box_agreement_reverse_pct"] >= 99.0
    assert _map(path, "ncnn", shared_data) == pytest.approx(fp32_map, abs=0.05)


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.torch
def test_fastestdet_openvino_fp32_and_int8(fastestdet: Path, shared_data: Path, fp32_map: float) -> None:
    """OpenVINO FP32 reads the ONNX file (no conversion): its decoded boxes hold the FP32 bar; NNCF INT8,
    calibrated on the COCO images by default, holds the INT8 bar."""
    _available("openvino", "nncf")
    onnx = fastestdet / "model.fp32.onnx"
    manifest = find_typed_manifest(onnx)
    assert manifest is not None
    cfg = ConvertConfig(runtime="openvino", parity_images=64)
    ov = get_runtime("openvino")
    p = _parity(ov.load(onnx, ov.Options(intra_op_threads=1)), _reference(onnx, manifest, cfg), cfg, manifest)
    assert p["passed"], p["reason"]
    assert p["real"]["box_agreement_pct"] >= 99.0 and p["real"]["box_agreement_reverse_pct"] >= 99.0
    assert _map(onnx, "openvino", shared_data) == pytest.approx(fp32_map, abs=0.05)

    cfg8 = ConvertConfig(runtime="openvino", precision="int8", calib_size=64, parity_images=64)
    path = convert_model(fastestdet, cfg8)
    m = find_typed_manifest(path)
    assert m is not None and m.calibration is not None and m.calibration.dataset == str(find_coco_sample() / "images")
    real = m.to_dict()["parity"]["real"]
    assert min(real["box_agreement_pct"], real["box_agreement_reverse_pct"]) >= 75.0
    assert _map(path, "openvino", shared_data) > fp32_map - 3.0
