"""`edgebench describe`: a manifest for an ONNX file another tool exported, so quantize, eval, convert, bench
and compare use it exactly like an exported one.

The graph gives the input (name, layout, size, fixed or dynamic batch), the output (logits, probabilities or
something else), opset, op counts, parameters and MACs (`edgebench.calibration.graph`); the user gives what a
graph cannot tell: how images are preprocessed (a preset, a zoo model's spec, or mean/std/scale/...) and,
optionally, the class names. Nothing is guessed: a missing or contradicting choice is one clear error.

The manifest records `provenance.source = "described"`; it claims no parity and no accuracy (there is no
source model to compare with). Example::

    choice = PreprocessingChoice(preset="imagenet")
    m = describe(Path("mobilenet.onnx"), choice, labels="imagenet")   # writes mobilenet.json
    m.input.preprocessing.crop, m.macs, m.output["kind"]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgebench.calibration.graph import MACS_COUNTER, TensorInfo, graph_inputs, inspect_graph, load_graph
from edgebench.errors import OutputExistsError, UserInputError, check_one_of, suggest
from edgebench.manifest import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SOURCE_DESCRIBED,
    InputInfo,
    Manifest,
    Preprocessing,
    check_value,
    manifest_path,
)
from edgebench.registry import Registry

# CIFAR-10's own channel statistics (as the zoo's CIFAR models are trained with).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)  # B, G, R in 0..255 (VGG/ResNet Caffe models, Keras 'caffe' mode)

# What the first output holds. Classification kinds are scored by eval (top-1 = argmax, the same for logits and
# the probabilities a final Softmax makes); anything else is refused by eval and only benchmarked.
CLASS_OUTPUT_KINDS = ("logits", "probabilities", "log-probabilities", "scores")
OUTPUT_KIND_NOTES = {
    "logits": "class logits: eval scores top-1/top-5",
    "probabilities": "a final Softmax: class probabilities; top-1/top-5 are the same as on the logits",
    "log-probabilities": "a final LogSoftmax; top-1/top-5 are the same as on the logits",
    "scores": "a final Sigmoid (independent class scores); eval ranks them like logits",
    "other": "not one score per class: eval refuses classification metrics; bench measures speed and memory",
}
_PASS_THROUGH = frozenset({"Identity", "Reshape", "Flatten", "Squeeze", "Cast"})


@dataclass(frozen=True)
class PreprocessingPreset:
    """A common input convention. `size`: the default input size when the graph's is dynamic; `resize_ratio`:
    resize the short side to size x ratio, then centre-crop size (None: images are used at their size)."""

    name: str
    description: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float
    channel_order: str = "RGB"
    size: int | None = None
    resize_ratio: float | None = None
    interpolation: str = "bilinear"


PREPROCESSING_PRESETS: Registry[PreprocessingPreset] = Registry("preprocessing preset")
for _p in (
    PreprocessingPreset("imagenet", "ImageNet mean/std on 0..1 RGB, resize 256 + centre-crop 224 (torchvision)",
                        IMAGENET_MEAN, IMAGENET_STD, 1 / 255, size=224, resize_ratio=256 / 224),
    PreprocessingPreset("cifar10", "CIFAR-10 mean/std on 0..1 RGB, 32x32 images as they are",
                        CIFAR10_MEAN, CIFAR10_STD, 1 / 255, size=32),
    PreprocessingPreset("unit", "pixels scaled to 0..1 (x / 255), no mean/std", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                        1 / 255),
    PreprocessingPreset("symmetric", "pixels scaled to -1..1 (x / 127.5 - 1; TF/Keras MobileNet style)",
                        (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), 1 / 127.5),
    PreprocessingPreset("caffe-bgr", "BGR 0..255 minus the Caffe ImageNet means, resize 256 + crop 224",
                        CAFFE_BGR_MEAN, (1.0, 1.0, 1.0), 1.0, channel_order="BGR", size=224,
                        resize_ratio=256 / 224),
    PreprocessingPreset("tf-lite", "(x - 127) / 128 on 0..255 RGB (TF EfficientNet-Lite), resize 256 + crop 224",
                        (127.0, 127.0, 127.0), (128.0, 128.0, 128.0), 1.0, size=224, resize_ratio=256 / 224),
    PreprocessingPreset("imagenet-bicubic", "ImageNet mean/std, bicubic resize 256 + crop 224 (timm-style weights)",
                        IMAGENET_MEAN, IMAGENET_STD, 1 / 255, size=224, resize_ratio=256 / 224,
                        interpolation="bicubic"),
):
    PREPROCESSING_PRESETS.add(_p.name, _p)

CHOICE_HELP = ("--preprocessing PRESET (" + ", ".join(PREPROCESSING_PRESETS.names()) + "), --input-like ZOO_NAME, "
               "or --mean a,b,c --std a,b,c [--scale S --size HxW --resize R --layout NCHW|NHWC "
               "--channel-order RGB|BGR --resize-mode MODE]")
# how a detector's images are fitted to its input (`--resize-mode`; the first is the default)
DETECTOR_RESIZE_MODES = ("stretch", "letterbox")


@dataclass(frozen=True)
class PreprocessingChoice:
    """What the user said about the input (every field optional; `like`: a zoo model's input spec for
    --input-like). `resolve()` turns it plus the graph's input into a `Preprocessing`."""

    preset: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    scale: float | None = None
    size: tuple[int, int] | None = None
    resize: int | None = None
    layout: str | None = None
    channel_order: str | None = None
    like: InputInfo | None = None
    like_name: str | None = None
    resize_mode: str | None = None

    def __post_init__(self) -> None:
        if self.preset is not None:
            PREPROCESSING_PRESETS.get(self.preset)  # unknown name: NotFoundError with a suggestion
        if self.preset is not None and self.like is not None:
            raise UserInputError(f"give --preprocessing ('{self.preset}') or --input-like ('{self.like_name}'), "
                                 "not both")
        for name in ("layout", "channel_order", "scale", "resize", "size", "mean", "std"):  # the manifest's rules
            if getattr(self, name) is not None:
                check_value(name, getattr(self, name), "--" + name.replace("_", "-"))
        if self.mean is not None and self.std is not None and len(self.mean) != len(self.std):
            raise UserInputError(f"--mean has {len(self.mean)} values but --std {len(self.std)}; give one per channel")
        if self.resize_mode is not None:
            check_one_of("--resize-mode", self.resize_mode, DETECTOR_RESIZE_MODES,
                         fix="It says how a detector's images fit its input (a classifier's are resized and "
                             "centre-cropped: --resize).")

    @property
    def given(self) -> bool:
        """Whether any option was given (quantize/eval use the options only then)."""
        return any(getattr(self, f) is not None for f in ("preset", "mean", "std", "scale", "size", "resize",
                                                          "layout", "channel_order", "like", "resize_mode"))

    def source(self) -> str:
        """Where the preprocessing comes from, for the manifest ('preset imagenet', 'input-like resnet20', ...)."""
        base = (f"preset {self.preset}" if self.preset else f"input-like {self.like_name}" if self.like is not None
                else "options")
        given = [f for f in ("mean", "std", "scale", "size", "resize", "layout", "channel_order", "resize_mode")
                 if getattr(self, f) is not None]
        return base + (f" + {', '.join('--' + g.replace('_', '-') for g in given)}" if given and base != "options"
                       else f" ({', '.join('--' + g.replace('_', '-') for g in given)})" if given else "")


def _image_layout(t: TensorInfo, forced: str | None) -> str | None:
    """'NCHW'/'NHWC' when `t` looks like an image input (float, rank 4, 1 or 3 channels), else None."""
    if not t.dtype.startswith("float") or len(t.shape) != 4:
        return None
    c1, c3 = t.shape[1] in (1, 3), t.shape[3] in (1, 3)
    if forced is not None:
        return forced
    if c1 and not c3:
        return "NCHW"
    if c3 and not c1:
        return "NHWC"
    if c1 and c3:
        return "ambiguous"
    return None


def _pick_input(inputs: tuple[TensorInfo, ...], path: Path, layout: str | None) -> tuple[TensorInfo, str]:
    if not inputs:
        raise UserInputError(f"'{path}' has no graph inputs; there is nothing to feed")
    kinds = [(t, _image_layout(t, layout)) for t in inputs]
    images = [(t, k) for t, k in kinds if k is not None]
    if len(images) > 1:
        listed = "; ".join(t.describe() for t, _ in images)
        raise UserInputError(
            f"'{path}' has {len(images)} image-like inputs ({listed}): which one is the image? edgebench feeds one "
            "image input, so export the graph with the others fixed (as constants) and describe that graph"
        )
    if not images:
        listed = "; ".join(t.describe() for t in inputs)
        raise UserInputError(
            f"'{path}' has no image input ({listed}): edgebench describes image models (a float input of rank 4 "
            "with 1 or 3 channels, NCHW or NHWC); give --layout if the channel count is unusual. `edgebench bench` "
            "still measures the model without a manifest"
        )
    others = [t for t in inputs if t is not images[0][0]]
    if others:
        raise UserInputError(
            f"'{path}' takes non-image input(s) besides the image ({'; '.join(t.describe() for t in others)}); "
            "edgebench feeds one image input: export the graph with those fixed"
        )
    t, kind = images[0]
    if kind == "ambiguous":
        raise UserInputError(f"input {t.describe()} could be NCHW or NHWC; say which with --layout NCHW|NHWC")
    return t, kind


def _resolve_preprocessing(choice: PreprocessingChoice, t: TensorInfo, layout: str, path: Path
                           ) -> tuple[Preprocessing, tuple[int, int]]:
    """The Preprocessing and input HxW for image input `t`; contradictions with its shape are errors."""
    c_dim = t.shape[1] if layout == "NCHW" else t.shape[3]
    hw = t.shape[2:4] if layout == "NCHW" else t.shape[1:3]
    other_c = t.shape[3] if layout == "NCHW" else t.shape[1]
    if choice.layout is not None and isinstance(c_dim, int) and c_dim not in (1, 3) and other_c in (1, 3):
        other = "NHWC" if layout == "NCHW" else "NCHW"
        raise UserInputError(
            f"--layout {layout} contradicts input {t.describe()}: it would have {c_dim} channels; the input looks "
            f"{other}: drop --layout or give --layout {other}"
        )
    preset = PREPROCESSING_PRESETS.get(choice.preset) if choice.preset else None
    if preset is None and choice.like is None and (choice.mean is None or choice.std is None):
        raise UserInputError(f"say how images become the input {t.describe()} of '{path}': {CHOICE_HELP}; "
                             "nothing is guessed")
    base = choice.like.preprocessing if choice.like is not None else None
    mean = choice.mean or (preset.mean if preset else base.mean)  # type: ignore[union-attr]
    std = choice.std or (preset.std if preset else base.std)  # type: ignore[union-attr]
    scale = choice.scale or (preset.scale if preset else base.scale if base else 1 / 255)
    order = choice.channel_order or (preset.channel_order if preset else base.channel_order if base else "RGB")
    interpolation = base.interpolation if base else preset.interpolation if preset else "bilinear"
    channels = c_dim if isinstance(c_dim, int) and c_dim > 0 else None
    if channels is not None and len(mean) != channels:
        how = f"preset {choice.preset}" if choice.mean is None and preset else "--mean/--std"
        raise UserInputError(
            f"{how} gives {len(mean)} channel means but input {t.describe()} has {channels} channel(s) ({layout}); "
            f"give --mean/--std with {channels} value(s)"
        )
    # the input size: the graph's, else --size, else the base's
    default = (preset.size if preset else (base.crop if base else None))
    like_hw = tuple(choice.like.shape[-2:]) if choice.like is not None and len(choice.like.shape) == 4 else None
    fixed = tuple(int(d) for d in hw) if all(isinstance(d, int) and d > 0 for d in hw) else None
    if choice.size is not None and fixed is not None and tuple(choice.size) != fixed:
        raise UserInputError(
            f"--size {choice.size[0]}x{choice.size[1]} contradicts input {t.describe()}, whose size is fixed at "
            f"{fixed[0]}x{fixed[1]}; drop --size or give --size {fixed[0]}x{fixed[1]}"
        )
    size = fixed or choice.size or ((default, default) if default else None) or (
        like_hw if like_hw and all(isinstance(d, int) for d in like_hw) else None)
    if size is None:
        raise UserInputError(f"input {t.describe()} has a dynamic height/width; give the size to feed with "
                             "--size HxW (e.g. --size 224x224)")
    h, w = int(size[0]), int(size[1])
    # resize + crop: --resize, else the preset's ratio, else the base's (when the size matches its crop)
    resize = choice.resize
    if resize is None and preset is not None and preset.resize_ratio is not None:
        resize = round(min(h, w) * preset.resize_ratio)
    elif resize is None and base is not None and base.resize is not None:
        resize = base.resize if base.crop == h == w else round(min(h, w) * base.resize / (base.crop or h))
    crop = None
    if resize is not None or (base is not None and base.crop is not None):
        if h != w:
            raise UserInputError(f"input {t.describe()} is {h}x{w}, not square: edgebench crops square images; "
                                 "drop --resize and feed images of that size (or a preset without resize/crop)")
        crop = h
    if resize is not None and resize < h:
        raise UserInputError(f"--resize {resize} is smaller than the {h}x{w} input: the short side must be "
                             f"resized to at least {h} before the centre crop; give --resize {round(h * 256 / 224)}")
    if (preset is not None and preset.size is not None and preset.resize_ratio is None and resize is None
            and (h, w) != (preset.size, preset.size)):
        raise UserInputError(
            f"preset {preset.name} feeds {preset.size}x{preset.size} images as they are but input {t.describe()} "
            f"wants {h}x{w}; give --resize {max(h, w)} (resize + centre-crop) or another preset"
        )
    pp = Preprocessing(crop=crop, resize=resize, scale=float(scale), mean=tuple(mean), std=tuple(std),
                       layout=layout, channel_order=order, interpolation=interpolation)  # type: ignore[arg-type]
    return pp, (h, w)


def resolve_labels(spec: str | None) -> tuple[str | None, tuple[str, ...], int | None]:
    """--labels -> (dataset, class names, number of classes). 'cifar10', 'imagenet' (the 1,000 ImageNet-1k names
    in torchvision's order, shipped in the package), 'coco' (the 80 COCO detection classes) or a file with one
    class name per line."""
    if spec is None:
        return None, (), None
    if spec == "cifar10":
        from edgebench.calibration.datasets import CIFAR10_CLASSES

        return "cifar10", tuple(CIFAR10_CLASSES), len(CIFAR10_CLASSES)
    if spec == "coco":
        from edgebench.calibration.detection_data import COCO80_CLASSES

        return "coco", COCO80_CLASSES, len(COCO80_CLASSES)
    if spec == "imagenet":
        from edgebench.calibration.labels import imagenet_classes

        names = imagenet_classes().names
        return "imagenet", names, len(names)
    p = Path(spec)
    if not p.is_file():
        raise UserInputError(f"--labels '{spec}' is not cifar10, imagenet or an existing file (one class name per "
                             f"line).{suggest(spec, ['cifar10', 'imagenet'])}")
    try:
        names = tuple(line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip())
    except UnicodeDecodeError:
        raise UserInputError(f"--labels '{spec}' is not a UTF-8 text file with one class name per line") from None
    if not names:
        raise UserInputError(f"--labels '{spec}' holds no class names; give one per line")
    return None, names, len(names)


def output_kind(model: Any, out: TensorInfo) -> str:
    """'logits', 'probabilities' (final Softmax), 'log-probabilities', 'scores' (Sigmoid) or 'other'."""
    if not out.dtype.startswith("float") or len(out.shape) != 2 or not isinstance(out.shape[1], int):
        return "other"
    producer = {o: n for n in model.graph.node for o in n.output}
    node = producer.get(out.name)
    while node is not None and node.op_type in _PASS_THROUGH and node.input:
        node = producer.get(node.input[0])
    op = node.op_type if node is not None else ""
    return {"Softmax": "probabilities", "LogSoftmax": "log-probabilities", "Sigmoid": "scores"}.get(op, "logits")


TASKS_DESCRIBED = ("classification", "detection")
DETECTION_NOTES = {
    "fastestdet": "FastestDet-style grid [N, 1+4+C, H, W] (objectness, box, class probabilities per cell)",
    "yolov5": "YOLOv5-style [N, boxes, 5+C]: cx, cy, w, h in input pixels, objectness, class scores",
    "yolov8": "YOLOv8-style [N, 4+C, boxes]: cx, cy, w, h in input pixels, class scores",
    "nms-boxes": "NMS inside the graph: [N, K, 6] = x1, y1, x2, y2 in input pixels, score, class",
}


def detection_layout(model: Any, out: TensorInfo) -> tuple[str, int | None]:
    """(decoder, classes) of a detector's output `out`: a grid [N, 5+C, H, W] is FastestDet-style; [N, K, 6] in a
    graph with a NonMaxSuppression node holds final boxes; [N, A, B] is YOLOv5-style when its last dim is the
    smaller (boxes x (5+C)), YOLOv8-style when it is the larger ((4+C) x boxes). One line naming the layouts
    otherwise."""
    shape = list(out.shape)
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    has_nms = any(n.op_type == "NonMaxSuppression" for n in model.graph.node)
    if len(dims) == 4 and dims[1] is not None and dims[1] >= 6:
        return "fastestdet", dims[1] - 5
    if len(dims) == 3 and dims[2] == 6 and has_nms:
        return "nms-boxes", None
    if len(dims) == 3 and dims[1] is not None and dims[2] is not None:
        if dims[2] < dims[1] and dims[2] >= 6:
            return "yolov5", dims[2] - 5
        if dims[1] < dims[2] and dims[1] >= 5:
            return "yolov8", dims[1] - 4
    raise UserInputError(
        f"output {out.describe()} is none of the detection layouts edgebench decodes: "
        + "; ".join(DETECTION_NOTES.values()) + " (fixed sizes); give a graph with one of them first")


def _name(path: Path) -> str:
    stem = path.stem
    if stem.startswith("model") and path.parent.name:
        return path.parent.resolve().name
    return stem


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for p in ("edgebench", "onnx"):
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def check_task(task: str, choice: PreprocessingChoice) -> None:
    """`--task` one of TASKS_DESCRIBED, and `--resize-mode` only with a detector's."""
    check_one_of("--task", task, TASKS_DESCRIBED)
    if task != "detection" and choice.resize_mode is not None:
        raise UserInputError(f"--resize-mode {choice.resize_mode} is for detectors: describe the model with "
                             f"`edgebench describe MODEL --task detection --resize-mode {choice.resize_mode}` (a "
                             "classifier's images are resized and centre-cropped: --resize)")


def describe_manifest(path: Path, choice: PreprocessingChoice, labels: str | None = None,
                      task: str = "classification") -> Manifest:
    """The manifest of the ONNX file `path` (in memory; `describe` writes it); `task` "detection": its output
    layout (`detection_layout`) becomes `output.decoder` and images are stretched to the input size (or
    letterboxed: `choice.resize_mode`)."""
    check_task(task, choice)
    path = Path(path)
    model = load_graph(path)
    t, layout = _pick_input(graph_inputs(model), path, choice.layout)
    pp, (h, w) = _resolve_preprocessing(choice, t, layout, path)
    batch_dim = t.shape[0] if isinstance(t.shape[0], int) and t.shape[0] > 0 else None
    c = len(pp.mean)
    spatial = (c, h, w) if layout == "NCHW" else (h, w, c)
    g = inspect_graph(path, input_shapes={t.name: (batch_dim or 1, *spatial)}, model=model)
    out = g.outputs[0]
    decoder = None
    if task == "detection":
        decoder, n_out = detection_layout(model, out)
        kind = "detection-grid" if decoder == "fastestdet" else "detection-boxes" if decoder == "nms-boxes" \
            else "detection-anchors"
        pp = replace(pp, resize_mode=choice.resize_mode or DETECTOR_RESIZE_MODES[0], resize=None, crop=None)
    else:
        kind = output_kind(model, out)
        n_out = int(out.shape[1]) if kind != "other" else None  # type: ignore[arg-type]
    dataset, names, n_labels = resolve_labels(labels)
    if n_labels is not None and decoder is not None and n_out is not None and n_labels != n_out:
        raise UserInputError(f"--labels {labels} names {n_labels} classes but the {decoder} output {out.describe()} "
                             f"has {n_out}; give the labels this detector was trained with")
    if decoder is not None:
        n_out = n_out if n_out is not None else n_labels
    elif n_labels is not None:
        if kind == "other":
            raise UserInputError(f"--labels {labels} names classes but output {out.describe()} is not one score per "
                                 "class; drop --labels")
        if n_labels != n_out:
            raise UserInputError(
                f"--labels {labels} names {n_labels} classes but output {out.describe()} has {n_out}; give the "
                "labels this model was trained with"
            )
    if choice.like is not None and not names and choice.like.class_names and len(choice.like.class_names) == n_out:
        dataset, names = choice.like.dataset, tuple(choice.like.class_names)
    from edgebench.calibration.quantize import quantized_ops

    ops = quantized_ops(model)
    precision = "int8" if ops else ("fp16" if t.dtype == "float16" else "fp32")
    batch_name = t.shape[0] if isinstance(t.shape[0], str) else "batch"
    shape: tuple[int | str, ...] = (batch_dim or batch_name, *spatial)
    out_info = {"name": out.name, "shape": list(out.shape), "kind": kind,
                "note": DETECTION_NOTES[decoder] if decoder else OUTPUT_KIND_NOTES[kind]}
    if decoder is not None:
        out_info["decoder"] = decoder
    if len(g.outputs) > 1:
        out_info["note"] += f"; {len(g.outputs) - 1} more output(s) are ignored by eval"
    now = datetime.now(UTC).isoformat(timespec="seconds")
    provenance = {
        "source": SOURCE_DESCRIBED,
        "tool": "edgebench describe",
        "producer": g.producer,
        "preprocessing": choice.source(),
        "labels": labels,
        "parity": "not measured: no source model; the ONNX file is the reference",
        "described_utc": now,
    }
    manifest = Manifest(
        name=_name(path),
        task="detection" if decoder is not None else None,
        family="third-party",
        description=f"{path.name} described from its ONNX graph ({g.producer}, opset {g.opset})",
        input=InputInfo(name=t.name, shape=shape, preprocessing=pp, dataset=dataset, class_names=names),
        output=out_info,
        num_classes=n_out,
        batch=batch_dim if batch_dim is not None else "dynamic",
        params=g.params,
        macs=g.macs,
        macs_counter=MACS_COUNTER if g.macs is not None else None,
        provenance=provenance,
        precision=precision,
        opset=g.opset,
        created_utc=now,
        versions=_versions(),
        graph=g.to_dict(),
    )
    return replace(manifest, onnx_file=path.name, onnx_sha256=g.sha256, file_size_mb=g.file_size_mb)


def describe_target(path: Path, out: Path | None) -> Path:
    """Where `describe` writes the manifest of `path`: `out` when it is a .json file; an existing folder or any
    other name is a folder that gets the manifest's default name (as quantize's -o: a file by its suffix, else a
    folder); default: beside the model.

    >>> [str(describe_target(Path("m/net.onnx"), Path(o))) for o in ("newdir", "a.json")]
    ['newdir/net.json', 'a.json']
    """
    if out is None:
        return manifest_path(path)
    out = Path(out)
    return out if out.suffix == ".json" and not out.is_dir() else out / manifest_path(path).name


def describe(path: Path, choice: PreprocessingChoice, labels: str | None = None, *, out: Path | None = None,
             force: bool = False, task: str = "classification") -> Manifest:
    """Describe `path` and write its manifest to `out` (default: beside the model, `X.json`); an existing file
    is kept unless `force`."""
    from edgebench.atomic import write_json

    check_task(task, choice)
    path = Path(path)
    target = describe_target(path, out)
    if target.resolve() == path.resolve():
        raise UserInputError(f"-o '{target}' is the model itself; give a .json path")
    if target.exists() and not force:
        raise OutputExistsError(f"manifest '{target}' already exists; pass --force to replace it")
    manifest = describe_manifest(path, choice, labels, task)
    write_json(target, manifest.to_dict(), force=force)
    return manifest
