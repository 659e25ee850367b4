"""The dataset layouts users have (issue #26 item 1), on small images made in code.

ImageNet val as a flat folder + ground-truth file, wnid folders, a CSV beside a flat folder, class-name folders
matched by name, labels that do not fit the model refused before any work, and the image formats (JPEG, PNG, WebP,
EXIF orientation, grey/CMYK).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from edgebench.calibration.datasets import CIFAR10_CLASSES, load_dataset
from edgebench.calibration.labels import ClassList, check_labels_fit, imagenet_classes, read_labels_file
from edgebench.errors import DataError
from PIL import Image

CIFAR = ClassList(CIFAR10_CLASSES)


def _img(path: Path, value: int = 0, size: tuple[int, int] = (20, 16), mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((size[1], size[0], 3), value, np.uint8)
    arr[0, 0] = (255, 0, 0)
    im = Image.fromarray(arr)
    im = im.convert(mode) if mode != "RGB" else im
    im.save(path)
    return path


def _val_folder(root: Path, n: int = 3) -> list[str]:
    names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, n + 1)]
    for i, name in enumerate(names):
        _img(root / name, 10 * i)
    return names


def test_flat_val_folder_with_the_official_ground_truth(tmp_path: Path) -> None:
    names = _val_folder(tmp_path / "val")
    gt = tmp_path / "ILSVRC2012_val_ground_truth.txt"  # 'FILE INDEX' for more files than the folder holds
    gt.write_text("".join(f"ILSVRC2012_val_{i:08d}.JPEG {(i * 7) % 1000}\n" for i in range(1, 50)))
    ds = load_dataset(str(tmp_path / "val"), labels_file=gt, classes=imagenet_classes())
    assert ds.labels.tolist() == [7, 14, 21]
    assert ds.class_names == imagenet_classes().names and str(gt) in ds.name
    assert len(names) == len(ds)


def test_labels_file_found_in_the_folder_or_its_parent(tmp_path: Path) -> None:
    _val_folder(tmp_path / "val1300" / "images")
    (tmp_path / "val1300" / "labels.txt").write_text(
        "ILSVRC2012_val_00000001.JPEG, 472\nILSVRC2012_val_00000002.JPEG, 260\nILSVRC2012_val_00000003.JPEG, 0\n")
    (tmp_path / "val1300" / "notes.txt").write_text("not a labels file: these images are a sample\n")
    for spec in (tmp_path / "val1300" / "images", tmp_path / "val1300"):  # images/ or the folder holding it
        ds = load_dataset(str(spec), classes=imagenet_classes())
        assert ds.labels.tolist() == [472, 260, 0], spec
        assert "labels.txt" in ds.name  # says which file was used


def test_two_labels_files_are_refused_naming_both(tmp_path: Path) -> None:
    _val_folder(tmp_path / "val")
    for name in ("a.txt", "b.csv"):
        (tmp_path / "val" / name).write_text("ILSVRC2012_val_00000001.JPEG,3\n")
    with pytest.raises(DataError, match=r"2 labels files .*a\.txt.*b\.csv.*--labels-file"):
        load_dataset(str(tmp_path / "val"))


def test_a_flat_folder_without_labels_file_stays_unlabelled(tmp_path: Path) -> None:
    _val_folder(tmp_path / "calib")
    assert load_dataset(str(tmp_path / "calib")).labels.tolist() == [-1, -1, -1]


def test_csv_with_wnids_beside_a_flat_folder(tmp_path: Path) -> None:
    _img(tmp_path / "calib" / "images" / "n01440764_tench.jpg")
    _img(tmp_path / "calib" / "images" / "n01484850_shark.jpg")
    (tmp_path / "calib" / "labels.csv").write_text(
        "file,wnid,torchvision_index,torchvision_category\n"
        "n01440764_tench.jpg,n01440764,0,tench\nn01484850_shark.jpg,n01484850,2,great white shark\n")
    ds = load_dataset(str(tmp_path / "calib"), classes=imagenet_classes())
    assert ds.labels.tolist() == [0, 2]


def test_name_wnid_lines_and_name_tab_index_lines(tmp_path: Path) -> None:
    _val_folder(tmp_path / "val", 2)
    lf = tmp_path / "wnids.txt"
    lf.write_text("ILSVRC2012_val_00000001.JPEG,n01443537\nILSVRC2012_val_00000002.JPEG,n01440764\n")
    assert load_dataset(str(tmp_path / "val"), labels_file=lf).labels.tolist() == [1, 0]
    lf.write_text("ILSVRC2012_val_00000001.JPEG\t5\nval/ILSVRC2012_val_00000002.JPEG\t6\n")  # paths: base name
    assert load_dataset(str(tmp_path / "val"), labels_file=lf).labels.tolist() == [5, 6]


def test_a_line_that_is_no_label_is_refused_with_its_number(tmp_path: Path) -> None:
    lf = tmp_path / "l.txt"
    lf.write_text("a.png 1\nb.png 2 3\n")
    with pytest.raises(DataError, match=r"line 2 is 'b.png 2 3'; expected 'FILE INDEX'"):
        read_labels_file(lf)


def test_an_image_missing_from_the_labels_file_is_refused(tmp_path: Path) -> None:
    _val_folder(tmp_path / "val")
    lf = tmp_path / "gt.txt"
    lf.write_text("ILSVRC2012_val_00000001.JPEG 1\n")
    with pytest.raises(DataError, match=r"no line for 2 of the 3 images \(first: ILSVRC2012_val_00000002.JPEG\)"):
        load_dataset(str(tmp_path / "val"), labels_file=lf)


def test_labels_file_for_a_folder_of_class_folders_is_refused(tmp_path: Path) -> None:
    _img(tmp_path / "d" / "a" / "x.png")
    _img(tmp_path / "d" / "b" / "y.png")
    (tmp_path / "gt.txt").write_text("x.png 1\n")
    with pytest.raises(DataError, match=r"holds no images directly \(it has 2 sub-folders\)"):
        load_dataset(str(tmp_path / "d"), labels_file=tmp_path / "gt.txt")


def test_labels_file_is_for_image_folders_only(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 4, 4, 3), np.uint8), labels=np.arange(2))
    with pytest.raises(ValueError, match="applies to an image folder"):
        load_dataset(str(tmp_path / "d.npz"), labels_file=tmp_path / "gt.txt")


def test_wnid_folders_map_through_imagenet_not_sorted_position(tmp_path: Path) -> None:
    _img(tmp_path / "train" / "n01443537" / "a.JPEG")  # goldfish = 1, shark = 2; sorted position would be 0, 1
    _img(tmp_path / "train" / "n01484850" / "b.JPEG")
    ds = load_dataset(str(tmp_path / "train"))
    assert ds.labels.tolist() == [1, 2] and ds.class_names == imagenet_classes().names


def test_class_name_folders_match_the_model_classes_by_name(tmp_path: Path) -> None:
    _img(tmp_path / "d" / "truck" / "a.png")
    _img(tmp_path / "d" / "Cat" / "b.png")  # case-insensitive
    ds = load_dataset(str(tmp_path / "d"), classes=CIFAR)
    assert dict(zip(["Cat", "truck"], ds.labels.tolist(), strict=True)) == {"Cat": 3, "truck": 9}
    assert ds.class_names == CIFAR10_CLASSES
    _img(tmp_path / "shark" / "great_white_shark" / "a.png")
    assert load_dataset(str(tmp_path / "shark"), classes=imagenet_classes()).labels.tolist() == [2]
    _img(tmp_path / "syn" / "man-eater" / "a.png")  # an unambiguous synonym of the same class
    assert load_dataset(str(tmp_path / "syn"), classes=imagenet_classes()).labels.tolist() == [2]


def test_without_the_model_classes_folders_keep_their_sorted_positions(tmp_path: Path) -> None:
    _img(tmp_path / "d" / "cat" / "a.png")
    (tmp_path / "d" / "bird").mkdir()  # empty: still class 0, as before
    _img(tmp_path / "d" / "dog" / "b.png")
    ds = load_dataset(str(tmp_path / "d"))
    assert ds.labels.tolist() == [1, 2] and ds.class_names == ("bird", "cat", "dog")


def test_numbered_class_folders_are_class_indices(tmp_path: Path) -> None:
    for c in ("2", "10", "9"):  # sorted as text: 10, 2, 9
        _img(tmp_path / "d" / c / "a.png")
    ds = load_dataset(str(tmp_path / "d"), classes=imagenet_classes())
    assert ds.labels.tolist() == [10, 2, 9]  # folders 10, 2, 9: their numbers, not their sorted positions
    _img(tmp_path / "d" / "1000" / "a.png")
    with pytest.raises(DataError, match="label 1000 is out of range for the model's 1000 classes"):
        load_dataset(str(tmp_path / "d"), classes=imagenet_classes())


def test_unknown_class_folder_is_refused_naming_it(tmp_path: Path) -> None:
    _img(tmp_path / "d" / "truck" / "a.png")
    _img(tmp_path / "d" / "zebra" / "b.png")
    with pytest.raises(DataError, match=r"1 of 2 class folders name no class of the model \(zebra; the model's "
                                        r"classes: airplane"):
        load_dataset(str(tmp_path / "d"), classes=CIFAR)


@pytest.mark.parametrize(("line", "why"), [("a.png 1000", "out of range for the model's 1000 classes"),
                                           ("a.png -1", "label -1 is negative"),
                                           ("a.png n99999999", "'n99999999' is not a class"),
                                           ("a.png unicorn", "'unicorn' is not a class")])
def test_labels_that_do_not_fit_are_refused(tmp_path: Path, line: str, why: str) -> None:
    _img(tmp_path / "val" / "a.png")
    (tmp_path / "gt.txt").write_text(line + "\n")
    with pytest.raises(DataError, match=why):
        load_dataset(str(tmp_path / "val"), labels_file=tmp_path / "gt.txt", classes=imagenet_classes())


def test_a_ten_class_set_against_a_thousand_outputs_is_refused() -> None:
    from edgebench.calibration.dataset import Dataset

    cifar = Dataset(np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 3]), "cifar10-test", CIFAR10_CLASSES)
    with pytest.raises(DataError, match=r"has 10 classes .* but the model has 1000 outputs"):
        check_labels_fit(cifar, 1000)
    check_labels_fit(cifar, 10)
    unnamed = Dataset(np.zeros((2, 4, 4, 3), np.uint8), np.array([0, 12]), "n.npz")
    with pytest.raises(DataError, match="label 12, out of range for the model's 10 outputs"):
        check_labels_fit(unnamed, 10)


def test_formats_exif_orientation_grey_and_cmyk(tmp_path: Path) -> None:
    d = tmp_path / "mixed"
    _img(d / "a.png")
    _img(d / "b.webp")
    _img(d / "c.JPEG", mode="L")
    _img(d / "d.jpg", mode="CMYK")
    arr = np.zeros((16, 20, 3), np.uint8)
    arr[0, 0] = 255  # top-left white; orientation 6: rotate 90 degrees clockwise to show upright
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(d / "e.png", exif=exif)
    with pytest.raises(DataError, match="one size"):  # e.png turns upright: 16x20, not 20x16
        load_dataset(str(d))
    (d / "e.png").unlink()
    ds = load_dataset(str(d))
    assert ds.images.shape == (4, 16, 20, 3)
    rotated = load_dataset(str(_exif_only(tmp_path / "rot", im, exif)))
    assert rotated.images.shape == (1, 20, 16, 3) and rotated.images[0, 0, -1].max() > 200  # top-right after turning


def _exif_only(d: Path, im: Image.Image, exif: Image.Exif) -> Path:
    d.mkdir()
    im.save(d / "x.png", exif=exif)
    return d


def _imagenet_tiny(tmp_path: Path, resize: int = 18, folder: str = "m") -> Path:
    """A 16x16 conv net with 1,000 outputs and an ImageNet manifest (resize `resize`, crop 16)."""
    pytest.importorskip("onnx")
    from edgebench.manifest import InputInfo, Manifest, Preprocessing
    from edgebench.tools.synthetic import conv_net

    model = conv_net(tmp_path / folder / "model.fp32.onnx", classes=1000)
    info = InputInfo("input", ("batch", 3, 16, 16), Preprocessing(resize=resize, crop=16), "imagenet",
                     imagenet_classes().names)
    m = Manifest(name="tiny", input=info, num_classes=1000).with_file(model)
    (model.parent / "model.fp32.json").write_text(json.dumps(m.to_dict()), encoding="utf-8")
    return model


def test_eval_cli_on_a_val_folder_with_ground_truth_and_a_misfit(tmp_path: Path) -> None:
    """`eval --data DIR --labels-file FILE` on an ImageNet-class model; a 10-class folder is refused before the
    model runs (exit 2, one line)."""
    from edgebench.cli import app
    from typer.testing import CliRunner

    model = _imagenet_tiny(tmp_path)
    _val_folder(tmp_path / "val")
    (tmp_path / "gt.txt").write_text("".join(f"ILSVRC2012_val_{i:08d}.JPEG {i}\n" for i in range(1, 4)))
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(tmp_path / "val"), "--labels-file",
                                 str(tmp_path / "gt.txt"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["n"] == 3 and "gt.txt" in out["dataset"] and out["num_classes"] == 1000
    _img(tmp_path / "ten" / "unicorn" / "a.png")
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(tmp_path / "ten")])
    assert r.exit_code == 2 and "'unicorn'" not in r.stdout
    assert "name no class of the model (unicorn" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_labels_imagenet_names_the_shipped_thousand_classes() -> None:
    from edgebench.calibration.describe import resolve_labels

    dataset, names, n = resolve_labels("imagenet")
    assert (dataset, n, names[:2], names[134], names[517]) == ("imagenet", 1000, ("tench", "goldfish"),
                                                               "crane bird", "crane")
    assert imagenet_classes().wnids[0] == "n01440764" and len(set(imagenet_classes().wnids)) == 1000


def test_quantize_calibrates_on_a_flat_folder_with_a_wnid_csv(tmp_path: Path) -> None:
    """`quantize --data` reads the same layouts (one loader): calib1000's images/ + labels.csv, mixed sizes."""
    from edgebench.cli import app
    from typer.testing import CliRunner

    model = _imagenet_tiny(tmp_path)
    calib = tmp_path / "calib1000"
    for i, (wnid, size) in enumerate([("n01440764", (30, 20)), ("n01443537", (20, 25)), ("n01484850", (18, 18))]):
        _img(calib / "images" / f"{wnid}_{i}.jpg", 40 * i, size)
    (calib / "labels.csv").write_text("file,wnid,torchvision_index,torchvision_category\n" + "".join(
        f"{w}_{i}.jpg,{w},{i},x\n" for i, w in enumerate(["n01440764", "n01443537", "n01484850"])))
    r = CliRunner().invoke(app, ["quantize", str(model.parent), "--data", str(calib), "--preset", "x86-vnni"])
    assert r.exit_code == 0, r.output
    m = json.loads((model.parent / "model.int8.json").read_text())
    assert m["calibration"]["size"] == 3 and m["calibration"]["dataset"] == str(calib)


def test_bare_onnx_with_labels_imagenet_reads_wnid_folders(tmp_path: Path) -> None:
    """A model without a manifest: `--preprocessing ... --labels imagenet` gives its class order, so wnid folders
    map to it (before, `--labels imagenet` named no classes)."""
    pytest.importorskip("onnx")
    from edgebench.cli import app
    from edgebench.tools.synthetic import conv_net
    from typer.testing import CliRunner

    model = conv_net(tmp_path / "bare.onnx", classes=1000)
    _img(tmp_path / "train" / "n01443537" / "a.JPEG", size=(24, 20))
    _img(tmp_path / "train" / "n01484850" / "b.JPEG", size=(20, 30))
    r = CliRunner().invoke(app, ["eval", str(model), "--data", str(tmp_path / "train"), "--preprocessing", "unit",
                                 "--size", "16x16", "--resize", "18", "--labels", "imagenet", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["n"] == 2


def test_eval_on_a_device_pushes_the_labels_file(tmp_path: Path) -> None:
    """`eval --on DEV --labels-file F`: F is a local file, pushed with the data (not passed as a path the device
    does not have), and the preprocessing options travel in the request."""
    from edgebench.bench.eval_run import EvalConfig
    from edgebench.devices.jobs import EvalPreprocessing, EvalRequest

    (tmp_path / "gt.txt").write_text("a.png 1\n")
    _img(tmp_path / "val" / "a.png")
    req = EvalRequest(str(tmp_path / "m.onnx"), EvalConfig(data=str(tmp_path / "val"), labels_file=tmp_path / "gt.txt",
                                                           limit=5),
                      preprocessing=EvalPreprocessing.of(preset="tf-lite", labels="imagenet"))
    models, paths = req.local_files()
    assert models == (tmp_path / "m.onnx",)
    assert paths == (("--data", tmp_path / "val"), ("--labels-file", tmp_path / "gt.txt"))
    b, c = "b" * 64, "c" * 64  # pushed folders are named by their content digest, which the request carries
    there = req.on_device({str(tmp_path / "m.onnx"): "models/a/m.onnx", str(tmp_path / "val"): f"data/{b}/val",
                           str(tmp_path / "gt.txt"): f"data/{c}/gt.txt"})
    assert (there.model, there.config.data, there.config.labels_file) == ("models/a/m.onnx", f"data/{b}/val",
                                                                          Path(f"data/{c}/gt.txt"))
    assert there.data_sha256 == (("--data", b), ("--labels-file", c))
    # the Annotated options (cli/common.py) travel too: a forwarded command line once dropped --preprocessing/--labels
    assert EvalRequest.from_json(there.to_json()).preprocessing == EvalPreprocessing.of(preset="tf-lite",
                                                                                      labels="imagenet")


def test_a_baseline_with_other_resizing_scores_as_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """`eval A --baseline B` where A resizes to 24 and B to 18: B's figures are its own (its images are not
    resized first to A's 24, then again to 18)."""
    from edgebench.calibration.evaluate import evaluate, evaluate_pair

    a, b = _imagenet_tiny(tmp_path, 24, "a"), _imagenet_tiny(tmp_path, 18, "b")
    rng = np.random.default_rng(0)
    (tmp_path / "val").mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "val" / f"{i}.png")
    (tmp_path / "val" / "gt.txt").write_text("".join(f"{i}.png {i}\n" for i in range(6)))
    pair = evaluate_pair(a, b, str(tmp_path / "val"), threads=1)
    alone = evaluate(b, str(tmp_path / "val"), threads=1)
    assert pair["baseline"]["predictions"] == alone["predictions"]
    assert pair["model"]["predictions"] == evaluate(a, str(tmp_path / "val"), threads=1)["predictions"]
    seen: list[tuple[int, ...]] = []  # the images both models get: decoded as they are (30x40), not A's 24x24

    def spy(path: Path, ds: object, **kw: object) -> dict[str, object]:
        seen.append(ds.images.shape)  # type: ignore[attr-defined]
        return evaluate(path, ds, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("edgebench.calibration.evaluate.evaluate", spy)
    evaluate_pair(a, b, str(tmp_path / "val"), threads=1)
    evaluate_pair(a, _imagenet_tiny(tmp_path, 24, "a2"), str(tmp_path / "val"), threads=1)  # alike: resized once
    assert seen == [(6, 30, 40, 3)] * 2 + [(6, 24, 24, 3)] * 2
