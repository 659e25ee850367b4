"""uint8 HWC RGB images -> the model's float input, driven by the manifest's `Preprocessing`.

The same function feeds calibration, evaluation, parity and training, so they never disagree; bad images
raise `DataError` (the calibration reader turns it into a `CalibrationError`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from edgebench.errors import DataError
from edgebench.manifest import LETTERBOX_GRAY, Preprocessing


def resize_short_side(img: np.ndarray, size: int, interpolation: str) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    if min(h, w) == size:
        return img
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    resample = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST, "bicubic": Image.BICUBIC}[interpolation]
    return np.asarray(Image.fromarray(img).resize((nw, nh), resample=resample))


def stretch_resize(img: np.ndarray, height: int, width: int, interpolation: str = "bilinear") -> np.ndarray:
    """Resize an [H, W, C] uint8 image to `height` x `width`, aspect not kept, as OpenCV's cv2.resize does
    (INTER_LINEAR: half-pixel centres, edge pixels repeated, no antialiasing; or INTER_NEAREST): what
    detectors trained with OpenCV (FastestDet) expect. Pure numpy.

    >>> img = np.array([[0, 100], [200, 255]], np.uint8)[..., None]
    >>> stretch_resize(img, 4, 4)[..., 0].tolist()[:2]    # row 1 = 3/4 of row 0 + 1/4 of row 1 (half-pixel centres)
    [[0, 25, 75, 100], [50, 72, 117, 139]]
    """
    h, w = img.shape[:2]
    if (h, w) == (height, width):
        return img
    if interpolation == "nearest":
        ys = np.minimum(np.floor(np.arange(height) * (h / height)).astype(np.int64), h - 1)
        xs = np.minimum(np.floor(np.arange(width) * (w / width)).astype(np.int64), w - 1)
        return img[ys][:, xs]

    def taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        lo = np.floor(pos)
        frac = np.where(pos < 0, 0.0, pos - lo)
        lo = lo.astype(np.int64)
        return np.clip(lo, 0, n_in - 1), np.clip(lo + 1, 0, n_in - 1), frac

    y0, y1, fy = taps(height, h)
    x0, x1, fx = taps(width, w)
    src = img.astype(np.float64)
    fx3 = fx[None, :, None]
    rows = np.unique(np.concatenate([y0, y1]))  # the input rows any output row reads, each blended along x once
    across = np.empty((h, width, *src.shape[2:]), np.float64)
    across[rows] = src[rows][:, x0] * (1 - fx3) + src[rows][:, x1] * fx3
    out = across[y0] * (1 - fy)[:, None, None] + across[y1] * fy[:, None, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Letterbox:
    """Where a `height` x `width` image lands in a letterboxed `input_hw` (ultralytics' LetterBox, centred, scale-up
    allowed): resized by `scale` (the larger side fits) to `resized_hw`, padded `top` and `left` (the rest right
    and below) with gray `LETTERBOX_GRAY`. `image` applies it; `boxes_to_image` maps boxes back (the one inverse,
    as ultralytics' scale_boxes + clip_boxes).

    >>> lb = Letterbox.of((480, 640), (320, 320))    # a landscape frame: pad above and below
    >>> lb.scale, lb.resized_hw, (lb.top, lb.left)
    (0.5, (240, 320), (40, 0))
    >>> lb.boxes_to_image(np.array([[0., 40, 160, 160]])).tolist()
    [[0.0, 0.0, 320.0, 240.0]]
    """

    image_hw: tuple[int, int]
    input_hw: tuple[int, int]
    scale: float
    resized_hw: tuple[int, int]
    top: int
    left: int

    @classmethod
    def of(cls, image_hw: tuple[int, int], input_hw: tuple[int, int]) -> Letterbox:
        (h, w), (ih, iw) = image_hw, input_hw
        if min(h, w, ih, iw) < 1:
            raise DataError(f"cannot letterbox a {h}x{w} image into {ih}x{iw}: both need sides >= 1")
        scale = min(ih / h, iw / w)
        rh, rw = min(ih, max(1, round(h * scale))), min(iw, max(1, round(w * scale)))
        # ultralytics: top = round(dh - 0.1), bottom = round(dh + 0.1): an odd padding puts its extra pixel below
        top, left = round((ih - rh) / 2 - 0.1), round((iw - rw) / 2 - 0.1)
        return cls((int(h), int(w)), (int(ih), int(iw)), scale, (rh, rw), top, left)

    def image(self, img: np.ndarray, interpolation: str = "bilinear") -> np.ndarray:
        """The [H, W, C] uint8 image resized (as `stretch_resize`: OpenCV's INTER_LINEAR) and padded to `input_hw`."""
        if tuple(img.shape[:2]) != self.image_hw:
            raise DataError(f"a letterbox for {self.image_hw[0]}x{self.image_hw[1]} images got one of "
                            f"{img.shape[0]}x{img.shape[1]}")
        out = np.full((*self.input_hw, img.shape[2]), LETTERBOX_GRAY, np.uint8)
        rh, rw = self.resized_hw
        out[self.top:self.top + rh, self.left:self.left + rw] = stretch_resize(img, rh, rw, interpolation)
        return out

    def boxes_to_input(self, boxes: np.ndarray) -> np.ndarray:
        """x1y1x2y2 boxes in image pixels -> pixels of the letterboxed input."""
        pad = np.array([self.left, self.top, self.left, self.top], np.float64)
        return np.asarray(boxes, np.float64).reshape(-1, 4) * self.scale + pad

    def boxes_to_image(self, boxes: np.ndarray) -> np.ndarray:
        """x1y1x2y2 boxes in pixels of the letterboxed input -> image pixels (the padding taken off, divided by
        the scale), clipped to the image."""
        pad = np.array([self.left, self.top, self.left, self.top], np.float64)
        out = (np.asarray(boxes, np.float64).reshape(-1, 4) - pad) / self.scale
        h, w = self.image_hw
        return np.clip(out, 0.0, np.array([w, h, w, h], np.float64))


def center_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    if h < size or w < size:
        raise DataError(f"image of {h}x{w} is smaller than the crop {size}x{size}; resize it first")
    top, left = (h - size) // 2, (w - size) // 2
    return img[top:top + size, left:left + size]


def fit_image(img: np.ndarray, pp: Preprocessing, hw: tuple[int, int] | None = None) -> np.ndarray:
    """Resize the short side to `pp.resize` (if set), then centre-crop `pp.crop` (if set): the one geometric step
    of every path (eval, calibration, parity, every runtime). Grey [H,W,1] images stay [H,W,1]. With
    `resize_mode` "stretch" or "letterbox" (detectors): the whole image fitted to `resize` x `resize`, or to the
    model's `hw` (stretched, or letterboxed: `Letterbox`)."""
    if pp.fits_whole:
        target = pp.fit_hw(hw)
        if target is None:
            raise DataError(f"preprocessing resize_mode '{pp.resize_mode}' needs the model's input height and width "
                            "(or resize); give a model with a fixed input size")
        if pp.resize_mode == "letterbox":
            return Letterbox.of(img.shape[:2], target).image(img, pp.interpolation)
        return stretch_resize(img, *target, interpolation=pp.interpolation)
    if pp.resize is not None:
        grey = img.ndim == 3 and img.shape[-1] == 1
        img = resize_short_side(img[..., 0] if grey else img, pp.resize, pp.interpolation)
        img = img[..., None] if grey else img
    return center_crop(img, pp.crop) if pp.crop is not None else img


def fit_for_loading(img: np.ndarray, pp: Preprocessing, hw: tuple[int, int] | None = None) -> np.ndarray:
    """What an image loader keeps of a decoded image so images of any size stack: resized to `pp.resize` and
    centre-cropped to a `resize` square (or to `crop` without resize). `preprocess` of the result equals
    `preprocess` of the original: the short side is already `resize`, and a centre crop of a centre crop is
    the centre crop (floor((W - R) / 2) + (R - C) // 2 == floor((W - C) / 2) when R - C is even; resize 256,
    crop 224 and resize = crop + 32 all are). A detector's (stretch, letterbox): fitted whole to `resize` or the
    model's input `hw` (fitting an image of that size again changes nothing); kept as it is when neither is known."""
    if pp.fits_whole:
        return fit_image(img, pp, hw) if pp.fit_hw(hw) is not None else img
    if pp.resize is not None:
        square = Preprocessing(resize=pp.resize, crop=pp.resize, interpolation=pp.interpolation)
        return fit_image(img, square)
    return fit_image(img, pp)


def preprocess(images: np.ndarray, pp: Preprocessing, expected_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Turn a batch of uint8 [N,H,W,C] images into float32 in `pp.layout`.

    `expected_hw` (the model's spatial size) is checked after resize/crop, so a dataset of the
    wrong resolution fails with one clear line instead of a runtime shape error.

    >>> x = preprocess(np.zeros((2, 32, 32, 3), np.uint8), Preprocessing())
    >>> x.shape, x.dtype
    ((2, 3, 32, 32), dtype('float32'))
    """
    if images.ndim != 4:
        raise DataError(f"images have shape {list(images.shape)}; expected [N, H, W, C] uint8")
    channels = len(pp.mean)
    if images.shape[-1] != channels:
        raise DataError(
            f"images have {images.shape[-1]} channels but the model wants {channels} "
            f"({pp.channel_order if channels == 3 else 'channels'}); convert the images"
        )
    if images.dtype != np.uint8:
        raise DataError(f"images are {images.dtype}; expected uint8 pixels 0..255")
    if pp.fits_whole or pp.resize is not None or pp.crop is not None:
        images = np.stack([fit_image(img, pp, expected_hw) for img in images])
    if expected_hw is not None and tuple(images.shape[1:3]) != tuple(expected_hw):
        raise DataError(
            f"images are {images.shape[1]}x{images.shape[2]} after preprocessing but the model wants "
            f"{expected_hw[0]}x{expected_hw[1]}; use a dataset of that size or set resize/crop"
        )
    x = images.astype(np.float32)
    if pp.channel_order == "BGR":
        x = x[..., ::-1]
    mean = np.asarray(pp.mean, np.float32)
    x = (x * np.float32(pp.scale) - mean) / np.asarray(pp.std, np.float32)
    if pp.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)
