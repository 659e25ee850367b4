"""Preprocessing that matches each weight's training (issue #26 item 2).

One implementation (`calibration.preprocess`): resize the short side + centre crop, interpolation and
normalisation per preset. Checked against torchvision's PIL transforms (what the weights were trained/evaluated
with); the image-folder loader + `preprocess` give the same tensor as `preprocess` of the original image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from edgebench.calibration.datasets import load_dataset
from edgebench.calibration.describe import PREPROCESSING_PRESETS, PreprocessingChoice, describe_manifest
from edgebench.calibration.preprocess import preprocess
from edgebench.manifest import Preprocessing
from PIL import Image

# torchvision's ToTensor + Normalize in float32 against (x * scale - mean) / std: rounding only
TOLERANCE = 1e-5


def _photo(h: int = 300, w: int = 400, seed: int = 0) -> np.ndarray:
    """A smooth image with detail (a gradient + noise), so resampling differences would show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], axis=-1)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _pp(preset: str) -> Preprocessing:
    p = PREPROCESSING_PRESETS.get(preset)
    size = p.size or 224
    return Preprocessing(crop=size, resize=round(size * (p.resize_ratio or 1)), scale=p.scale, mean=p.mean,
                         std=p.std, channel_order=p.channel_order, interpolation=p.interpolation)  # type: ignore[arg-type]


@pytest.mark.torch
@pytest.mark.parametrize("preset", ["imagenet", "imagenet-bicubic", "tf-lite", "caffe-bgr"])
def test_preprocess_matches_torchvision_pil_transforms(preset: str) -> None:
    """torchvision Resize(256) + CenterCrop(224) + ToTensor + Normalize on a PIL image (the reference the weights
    were evaluated with) == edgebench's numpy `preprocess` (what every runtime and the device run)."""
    pytest.importorskip("torchvision")
    import torch
    from torchvision import transforms as T

    pp = _pp(preset)
    img = _photo()
    interp = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}[pp.interpolation]
    geometry = T.Compose([T.Resize(pp.resize, interpolation=interp), T.CenterCrop(pp.crop)])
    cropped = torch.from_numpy(np.asarray(geometry(Image.fromarray(img)), np.float32)).permute(2, 0, 1)
    if pp.channel_order == "BGR":
        cropped = cropped.flip(0)
    mean = torch.tensor(pp.mean).view(3, 1, 1)
    std = torch.tensor(pp.std).view(3, 1, 1)
    want = ((cropped * pp.scale - mean) / std).numpy()
    got = preprocess(img[None], pp)[0]
    assert got.shape == (3, 224, 224)
    np.testing.assert_allclose(got, want, atol=TOLERANCE * float(np.abs(want).max()), rtol=0)


def test_tf_lite_preset_is_x_minus_127_over_128() -> None:
    x = preprocess(np.array([[[[0, 127, 255]]]], np.uint8), Preprocessing(scale=1.0, mean=(127.0,) * 3,
                                                                           std=(128.0,) * 3))
    np.testing.assert_allclose(x.ravel(), [-127 / 128, 0.0, 1.0], atol=1e-6)
    tf = PREPROCESSING_PRESETS.get("tf-lite")
    assert (tf.scale, tf.mean, tf.std, tf.interpolation) == (1.0, (127.0,) * 3, (128.0,) * 3, "bilinear")


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_loading_a_folder_then_preprocessing_equals_preprocessing_the_file(tmp_path: Path,
                                                                           interpolation: str) -> None:
    """The loader keeps a `resize` square so images of any size stack; `preprocess` then gives exactly the
    one-pass tensor (before, the loader cropped to 224 and `preprocess` resized that again to 256: a zoom)."""
    pp = Preprocessing(resize=256, crop=224, interpolation=interpolation)  # type: ignore[arg-type]
    d = tmp_path / "mixed"
    d.mkdir()
    photos = [_photo(300, 400, 0), _photo(333, 257, 1), _photo(256, 256, 2), _photo(227, 227, 3)]
    for i, p in enumerate(photos):
        Image.fromarray(p).save(d / f"{i}.png")
    ds = load_dataset(str(d), preprocessing=pp)
    np.testing.assert_array_equal(preprocess(ds.images, pp), np.concatenate([preprocess(p[None], pp)
                                                                             for p in photos]))


def test_the_manifest_records_the_preset(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from tests.calibration.byo_graphs import image_net

    p = image_net(tmp_path / "n.onnx", size="H")  # type: ignore[arg-type]
    for preset, interp in (("tf-lite", "bilinear"), ("imagenet-bicubic", "bicubic")):
        m = describe_manifest(p, PreprocessingChoice(preset=preset))
        assert m.input is not None
        pp = m.input.to_dict()["preprocessing"]
        want = PREPROCESSING_PRESETS.get(preset)
        assert (pp["resize"], pp["crop"], pp["interpolation"]) == (256, 224, interp)
        assert (tuple(pp["mean"]), tuple(pp["std"]), pp["scale"]) == (want.mean, want.std, want.scale)
