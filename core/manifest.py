"""The model manifest: the JSON file that travels beside every ONNX file edgebench writes.

`DIR/model.fp32.onnx` has `DIR/model.fp32.json`; `model.int8.onnx` has `model.int8.json`.
Each later step (quantize, eval, bench, report) reads it instead of guessing how the model
wants its input. A bare .onnx without a manifest still benches (`find_typed_manifest` returns None).

`Manifest` is the typed form; `Manifest.to_dict()` / `Manifest.from_dict()` are the one place the
JSON schema is written and read (keys this version does not know are kept in `extra`, so nothing
a newer writer or a user added is lost). A child (INT8, FP16, converted) is made with
`parent.derive(...)`, which keeps what describes the network and records the parent's file and
sha256. Example::

    m = read_manifest(Path("artifacts/resnet20/model.fp32.json"))      # a Manifest
    child = m.derive(precision="int8", onnx_file="model.int8.onnx")     # parent_sha256 = m.onnx_sha256
    write_json(path, child.to_dict())
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Self

from edgebench.errors import UserInputError, check_one_of
from edgebench.readers import read_json_file

MANIFEST_SCHEMA_VERSION = 1

# Conventional channel statistics; each zoo entry names the ones it was trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("short-side", "stretch", "letterbox")
LETTERBOX_GRAY = 114  # the padding of a letterboxed image, per channel (0..255): ultralytics' gray


# --- the one validation of manifest values (the loader, `describe` and the CLI options that set them) ------

MAX_IMAGE_SIDE = 4096  # resize/crop/size: pixels; a bigger side is a typo (100000 made eval grow to 22 GB)
MAX_CLASSES = 1_000_000
MAX_CHANNELS = 4  # mean/std: one value per image channel (grey, RGB, RGBA)
LAYOUTS = ("NCHW", "NHWC")
CHANNEL_ORDERS = ("RGB", "BGR")
INTERPOLATIONS = ("bilinear", "nearest", "bicubic")


def _int_in(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _channels(positive: bool) -> Callable[[Any], bool]:
    return lambda v: (isinstance(v, list | tuple) and 1 <= len(v) <= MAX_CHANNELS
                      and all(_finite(x) and (not positive or x > 0) for x in v))


def _dim(v: Any) -> bool:
    """An integer >= 1 or a symbolic name ("batch", "N", "s0"): a string of digits ("16") is neither."""
    return _int_in(1, 2**31 - 1)(v) or (isinstance(v, str) and 0 < len(v) <= 64 and v.isprintable()
                                        and (v[0].isalpha() or v[0] == "_"))


_SIDE = f"an integer from 1 to {MAX_IMAGE_SIDE} (pixels)"
# field -> (test, what is allowed): each value a manifest records or an option sets is checked here, once
FIELD_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "resize": (_int_in(1, MAX_IMAGE_SIDE), _SIDE + ", the short side before the centre crop"),
    "crop": (_int_in(1, MAX_IMAGE_SIDE), _SIDE + ", the side of the square centre crop"),
    "size": (lambda v: isinstance(v, list | tuple) and len(v) == 2 and all(_int_in(1, MAX_IMAGE_SIDE)(x) for x in v),
             f"HxW, each {_SIDE}"),
    "scale": (lambda v: _finite(v) and v > 0, "a finite number > 0 (e.g. 0.00392 for 1/255)"),
    "mean": (_channels(False), f"1 to {MAX_CHANNELS} finite numbers, one per channel"),
    "std": (_channels(True), f"1 to {MAX_CHANNELS} finite numbers > 0, one per channel"),
    "layout": (lambda v: v in LAYOUTS, " or ".join(LAYOUTS)),
    "channel_order": (lambda v: v in CHANNEL_ORDERS, " or ".join(CHANNEL_ORDERS)),
    "interpolation": (lambda v: v in INTERPOLATIONS, "one of " + ", ".join(INTERPOLATIONS)),
    "num_classes": (_int_in(1, MAX_CLASSES), f"an integer from 1 to {MAX_CLASSES}"),
    "shape": (lambda v: isinstance(v, list | tuple) and 1 <= len(v) <= 8 and all(_dim(d) for d in v),
              "1 to 8 dims, each an integer >= 1 or a symbolic name (a letter first) such as \"batch\""),
    "batch": (_dim, "an integer >= 1 or a symbolic name such as \"batch\""),
    "name": (lambda v: isinstance(v, str) and 0 < len(v) <= 256 and v.isprintable(), "a non-empty name"),
}


def shown_value(value: Any) -> str:
    """`value` for a one-line message, as JSON would write it (NaN, lists), at most 60 characters.

    >>> shown_value((float("nan"), 1))
    '[NaN, 1]'
    """
    try:
        text = json.dumps(thaw(value))
    except (TypeError, ValueError):
        text = repr(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)[:60]


def check_value(rule: str, value: Any, label: str) -> Any:
    """`value` if `FIELD_RULES[rule]` allows it, else a UserInputError "LABEL is VALUE; allowed: ...".

    `label` names where the value came from: an option (`--resize`) or a manifest field
    (`field 'input.preprocessing.resize'`).

    >>> check_value("resize", 256, "--resize")
    256
    >>> check_value("num_classes", -3, "--num-classes")
    Traceback (most recent call last):
    ...
    edgebench.errors.UserInputError: --num-classes is -3; allowed: an integer from 1 to 1000000
    """
    test, allowed = FIELD_RULES[rule]
    if not test(value):
        raise UserInputError(f"{label} is {shown_value(value)}; allowed: {allowed}")
    return value


def check_file_field(value: Any, label: str, *, up: bool = False) -> Any:
    """A file a manifest names: a relative path inside the model's folder (None passes).

    No absolute path, no drive, no backslash; no '..' unless `up` (a converted artifact's `parent_file`,
    `../../model.fp32.onnx`: where it is followed, `artifact.confined_path` keeps it in the model folder).
    """
    if value is None:
        return value
    parts = str(value).split("/")
    bad = (not isinstance(value, str) or not value or value.startswith("/") or "\\" in value or ":" in parts[0]
           or not value.isprintable() or (".." in parts and not up))
    if bad:
        raise UserInputError(f"{label} is {shown_value(value)}; allowed: a relative path inside the model's folder "
                             f"(a file name such as model.fp32.onnx{'' if up else ', no ..'})")
    return value


@dataclass(frozen=True)
class Preprocessing:
    """How uint8 HWC RGB images become the model's float input.

    Order: resize the short side to `resize` (if set), centre-crop to `crop` (if set),
    scale by `scale`, subtract `mean`, divide by `std`, transpose to `layout`. `resize_mode` "stretch"
    (detectors such as FastestDet) instead resizes every image to `resize` x `resize` (unset: the model's input
    height x width) without keeping its aspect (bilinear as OpenCV's INTER_LINEAR: half-pixel centres, no
    antialiasing), and does not crop; "letterbox" (YOLOv5/YOLOv8 as ultralytics trains them) resizes it keeping
    its aspect so that it fits that size, centred, the rest padded with gray `LETTERBOX_GRAY`
    (`calibration.preprocess.Letterbox`).
    """

    crop: int | None = None
    resize: int | None = None
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    channel_order: Literal["RGB", "BGR"] = "RGB"
    interpolation: Literal["bilinear", "nearest", "bicubic"] = "bilinear"
    resize_mode: Literal["short-side", "stretch", "letterbox"] = "short-side"

    def __post_init__(self) -> None:
        check_one_of("resize_mode", self.resize_mode, RESIZE_MODES)
        for name in ("crop", "resize", "scale", "mean", "std", "layout", "channel_order", "interpolation"):
            v = getattr(self, name)
            if v is not None or name not in ("crop", "resize"):
                check_value(name, v, f"field 'input.preprocessing.{name}'")
        if len(self.mean) != len(self.std):
            raise UserInputError(f"preprocessing mean {shown_value(self.mean)} and std {shown_value(self.std)} differ "
                                 "in length; give one value per channel in each")
        object.__setattr__(self, "mean", tuple(float(x) for x in self.mean))
        object.__setattr__(self, "std", tuple(float(x) for x in self.std))

    @property
    def fits_whole(self) -> bool:
        """The whole image is fitted to the input (stretch, letterbox: detectors), not resized and cropped."""
        return self.resize_mode != "short-side"

    def fit_hw(self, hw: tuple[int, int] | None) -> tuple[int, int] | None:
        """The size a whole image is fitted to: `resize` x `resize` when set, else the model's input `hw`."""
        return (self.resize, self.resize) if self.resize is not None else hw

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        if self.resize_mode == "short-side":  # the default: manifests of classifiers stay as they were
            del d["resize_mode"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        if not isinstance(d, Mapping):  # read_manifest turns the TypeError into one line naming the file
            raise TypeError(f"'preprocessing' is {type(d).__name__}, not an object")
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("mean", "std"):
            if isinstance(known.get(k), list):
                known[k] = tuple(known[k])
        return cls(**known)


def image_hw(shape: Sequence[Any], layout: str) -> tuple[int, int] | None:
    """(height, width) of an image tensor shape in `layout` (NCHW or NHWC) when both are fixed ints, else None."""
    dims = tuple(shape[2:4]) if layout == "NCHW" else tuple(shape[1:3])
    if len(dims) == 2 and all(isinstance(d, int) and d > 0 for d in dims):
        return int(dims[0]), int(dims[1])
    return None


@dataclass(frozen=True)
class InputInfo:
    """What a model expects: size, channels, preprocessing and the class names of its outputs."""

    name: str
    shape: tuple[int | str, ...]  # e.g. ("batch", 3, 32, 32)
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    dataset: str | None = None
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_value("name", self.name, "field 'input.name'")
        check_value("shape", self.shape, "field 'input.shape'")
        if not isinstance(self.preprocessing, Preprocessing):
            raise UserInputError(f"field 'input.preprocessing' is {shown_value(self.preprocessing)}; allowed: an "
                                 "object")
        object.__setattr__(self, "shape", tuple(self.shape))

    def image_hw(self) -> tuple[int, int] | None:
        """(height, width) of the image input when both are fixed, read by the preprocessing's layout.

        >>> InputInfo("x", ("N", 3, 32, 32)).image_hw()
        (32, 32)
        >>> InputInfo("x", (1, 224, 224, 3), Preprocessing(layout="NHWC")).image_hw()
        (224, 224)
        """
        return image_hw(self.shape, self.preprocessing.layout)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "preprocessing": self.preprocessing.to_dict(),
            "dataset": self.dataset,
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputInfo:
        pp = d.get("preprocessing", {})
        if not isinstance(pp, Mapping):
            raise UserInputError(f"field 'input.preprocessing' is {shown_value(pp)}; allowed: an object")
        return cls(
            name=d["name"],
            shape=tuple(d["shape"]) if isinstance(d["shape"], list | tuple) else d["shape"],
            preprocessing=Preprocessing.from_dict(dict(pp)),
            dataset=d.get("dataset"),
            class_names=tuple(d.get("class_names", ())),
        )


MANIFEST_KIND = "edgebench.model"
PRECISIONS = ("fp32", "fp16", "int8")
Json = Mapping[str, Any]  # a read-only JSON object (nested dicts are MappingProxyType, lists are tuples)


def freeze(value: Any) -> Any:
    """A read-only copy of a JSON value: dicts -> MappingProxyType, lists -> tuples (recursively)."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The JSON form of a `freeze`d value (mappings -> dict, tuples -> list)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class WeightsRecord:
    """The checkpoint a model was exported from (`weights` in the manifest).

    `source`: "published" (the zoo's file, with `url` and `license`), "user" (--weights), "pruned"
    (a pruned round: `extra` holds structure_file/structure_sha256/filters/round/importance), or
    "random-init" (no checkpoint; `sha256` None).
    """

    source: str
    file: str | None = None
    sha256: str | None = None
    url: str | None = None
    license: str | None = None
    extra: Json = field(default_factory=lambda: MappingProxyType({}))

    RANDOM_INIT = "random-init"

    def __post_init__(self) -> None:
        check_file_field(self.file, "field 'weights.file'")
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", freeze(self.extra))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        for k in ("file", "sha256", "url", "license"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        out.update(thaw(self.extra))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WeightsRecord:
        known = ("source", "file", "sha256", "url", "license")
        return cls(source=str(d.get("source", "unknown")), file=d.get("file"), sha256=d.get("sha256"),
                   url=d.get("url"), license=d.get("license"),
                   extra=freeze({k: v for k, v in d.items() if k not in known}))

    @property
    def is_random(self) -> bool:
        return self.source == self.RANDOM_INIT


@dataclass(frozen=True)
class PrunedInfo:
    """`pruned` in the manifest of a pruned round's ONNX: where the round's checkpoint is and how it was pruned."""

    round: int
    weights_file: str
    structure_file: str = "structure.json"
    importance: str | None = None
    scope: str | None = None
    filters: Json = field(default_factory=lambda: MappingProxyType({}))
    top1_pct_torch: float | None = None
    extra: Json = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        check_file_field(self.weights_file or None, "field 'pruned.weights_file'")
        check_file_field(self.structure_file, "field 'pruned.structure_file'")
        for name in ("filters", "extra"):
            if not isinstance(getattr(self, name), MappingProxyType):
                object.__setattr__(self, name, freeze(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        out = {"round": self.round, "structure_file": self.structure_file, "weights_file": self.weights_file,
               "importance": self.importance, "scope": self.scope, "filters": thaw(self.filters),
               "top1_pct_torch": self.top1_pct_torch}
        out.update(thaw(self.extra))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PrunedInfo:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(round=int(d.get("round", 0)), weights_file=str(d.get("weights_file", "")),
                   structure_file=str(d.get("structure_file", "structure.json")), importance=d.get("importance"),
                   scope=d.get("scope"), filters=freeze(d.get("filters") or {}), top1_pct_torch=d.get("top1_pct_torch"),
                   extra=freeze({k: v for k, v in d.items() if k not in known}))


_RECORD_META = ("extra", "keys")


def _record_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in _RECORD_META)


class _Record:
    """A typed JSON object inside the manifest (`recipe`, `calibration`): its fields' JSON types checked (`TYPES`),
    the key order kept for a byte-identical write-back (`keys`), unknown keys kept (`extra`)."""

    WHERE: ClassVar[str]
    TYPES: ClassVar[Mapping[str, tuple[type, ...]]]
    extra: Json
    keys: tuple[str, ...]

    def __post_init__(self) -> None:
        for name, want in self.TYPES.items():
            v = getattr(self, name)
            if v is not None and (not isinstance(v, want) or (isinstance(v, bool) and bool not in want)):
                raise UserInputError(f"field '{self.WHERE}.{name}' is {json.dumps(thaw(v))[:60]}; expected "
                                     f"{' or '.join(t.__name__ for t in want)}")
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", freeze(self.extra))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the keys in the order read (every field, then `extra`, when built in code)."""
        names = _record_fields(type(self))
        keys = self.keys or (*names, *self.extra)
        return {k: thaw(getattr(self, k) if k in names else self.extra[k]) for k in keys}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Known keys as fields (lists as tuples), the rest in `extra`, the key order kept (`keys`)."""
        names = _record_fields(cls)
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
        return cls(**kw, extra=freeze({k: v for k, v in d.items() if k not in names}), keys=tuple(d))


@dataclass(frozen=True)
class RecipeRecord(_Record):
    """`recipe` in an INT8 manifest: how the model was quantized (`calibration.recipes.QuantRecipe.to_dict()`).

    Fields an older manifest lacks read as the recipe defaults; `keys` keeps the JSON key order (old files are
    written back byte-identical), `extra` the keys this version does not know.

    >>> r = RecipeRecord.from_dict({"quant_format": "qdq", "nodes_to_exclude": ["a"]})
    >>> r.weight_bits, r.nodes_to_exclude, r.to_dict()
    (8, ('a',), {'quant_format': 'qdq', 'nodes_to_exclude': ['a']})
    """

    quant_format: str = "qdq"
    activation_type: str = "uint8"
    weight_type: str = "int8"
    per_channel: bool = True
    reduce_range: bool = False
    method: str = "minmax"
    percentile: float = 99.999
    activation_symmetric: bool = False
    float_logits: bool = True
    nodes_to_exclude: tuple[str, ...] = ()
    op_types_to_exclude: tuple[str, ...] = ()
    weight_bits: int = 8
    activation_bits: int = 8
    int8_nodes: tuple[str, ...] = ()
    name: str = "custom"
    why: str = field(default="", compare=False)
    extra: Json = field(default_factory=lambda: MappingProxyType({}), hash=False)
    keys: tuple[str, ...] = field(default=(), compare=False)

    WHERE: ClassVar[str] = "recipe"
    TYPES: ClassVar[Mapping[str, tuple[type, ...]]] = {
        "quant_format": (str,), "activation_type": (str,), "weight_type": (str,), "per_channel": (bool,),
        "reduce_range": (bool,), "method": (str,), "percentile": (int, float), "activation_symmetric": (bool,),
        "float_logits": (bool,), "nodes_to_exclude": (tuple,), "op_types_to_exclude": (tuple,),
        "weight_bits": (int,), "activation_bits": (int,), "int8_nodes": (tuple,), "name": (str,), "why": (str,)}


@dataclass(frozen=True)
class CalibrationRecord(_Record):
    """`calibration` in a manifest: the images the ranges were fitted to (`quantize`: dataset, size, seed,
    batch size, sha256, method; `convert` records `images` and `source`); `extra` keeps unknown keys."""

    dataset: str | None = None
    size: int | None = None
    requested_size: int | None = None
    seed: int | None = None
    batch_size: int | None = None
    sha256: str | None = None
    method: str | None = None
    quant_pre_process: bool | None = None
    images: int | None = None  # convert: the images calibrated on
    source: str | None = None  # convert: where the set came from (--data, the ORT INT8 model's, the default)
    extra: Json = field(default_factory=lambda: MappingProxyType({}), hash=False)
    keys: tuple[str, ...] = field(default=(), compare=False)

    WHERE: ClassVar[str] = "calibration"
    TYPES: ClassVar[Mapping[str, tuple[type, ...]]] = {
        "dataset": (str,), "size": (int,), "requested_size": (int,), "seed": (int,), "batch_size": (int,),
        "sha256": (str,), "method": (str,), "quant_pre_process": (bool,), "images": (int,), "source": (str,)}


# What each manifest field holds, grouped by what `derive()` does with it.
# NETWORK: describes the network and its input; a child (INT8, FP16, converted) keeps it.
NETWORK_FIELDS = ("name", "arch", "family", "description", "input", "output", "num_classes", "batch", "params",
                  "macs", "macs_counter", "weights", "weights_sha256", "published_top1_pct", "fp32_accuracy",
                  "pruned", "provenance", "sparsity", "task")
# FILE: describes one file and how it was produced; a child starts without it and sets its own.
FILE_FIELDS = ("precision", "onnx_file", "onnx_sha256", "file_size_mb", "opset", "exporter", "simplify", "parity",
               "export_seconds", "created_utc", "versions", "parent_file", "parent_sha256", "parent_precision",
               "parent_file_size_mb", "quantization_mode", "recipe", "preset", "calibration", "nodes", "graph",
               "accuracy_aware", "qat", "lineage_root_sha256", "doctor")

_INT = (int,)
_NUM = (int, float)
_STR = (str,)
_MAP = (Mapping,)
# JSON types each scalar/object field must have (None is always allowed: an optional field).
_TYPES: dict[str, tuple[type, ...]] = {
    "name": _STR, "arch": _STR, "family": _STR, "description": _STR, "output": _MAP, "num_classes": _INT,
    "batch": (int, str), "params": _INT, "macs": _INT, "macs_counter": _STR, "weights_sha256": _STR,
    "published_top1_pct": _NUM, "fp32_accuracy": _MAP, "precision": _STR, "onnx_file": _STR, "onnx_sha256": _STR,
    "file_size_mb": _NUM, "opset": _INT, "exporter": _STR, "simplify": _MAP, "parity": _MAP, "export_seconds": _NUM,
    "created_utc": _STR, "versions": _MAP, "parent_file": _STR, "parent_sha256": _STR, "parent_precision": _STR,
    "parent_file_size_mb": _NUM, "quantization_mode": _STR, "recipe": _MAP, "preset": _MAP, "calibration": _MAP,
    "nodes": _MAP, "input": _MAP, "weights": _MAP, "pruned": _MAP, "provenance": _MAP, "graph": _MAP,
    "sparsity": _MAP, "accuracy_aware": _MAP, "qat": _MAP, "lineage_root_sha256": _STR, "task": _STR,
    "doctor": _MAP,
}

# `provenance.source` of a manifest `edgebench describe` wrote for a third-party ONNX file (no PyTorch model
# behind it, so no parity or torch accuracy is claimed); an exported manifest has no provenance ("exported").
SOURCE_DESCRIBED = "described"
SOURCE_EXPORTED = "exported"


@dataclass(frozen=True)
class Manifest:
    """A model manifest, typed. Every field but the header is optional (a hand-written manifest may hold only
    `input`); `extra` keeps the keys this version does not know. Nested JSON objects are read-only mappings.
    """

    # the network (kept by children)
    name: str | None = None
    arch: str | None = None
    family: str | None = None
    description: str | None = None
    input: InputInfo | None = None
    output: Json | None = None
    num_classes: int | None = None
    batch: int | str | None = None
    params: int | None = None
    macs: int | None = None
    macs_counter: str | None = None
    weights: WeightsRecord | None = None
    weights_sha256: str | None = None
    published_top1_pct: float | None = None
    fp32_accuracy: Json | None = None
    pruned: PrunedInfo | None = None
    provenance: Json | None = None  # where the network facts come from: {"source": "described", ...}
    sparsity: Json | None = None  # unstructured sparsity of the weights (kept by INT8 children)
    task: str | None = None  # "detection", ...; None (absent) means classification (edgebench.task.TASKS)
    # this file
    precision: str = "fp32"
    onnx_file: str | None = None
    onnx_sha256: str | None = None
    file_size_mb: float | None = None
    opset: int | None = None
    exporter: str | None = None
    simplify: Json | None = None
    parity: Json | None = None
    export_seconds: float | None = None
    created_utc: str | None = None
    versions: Json | None = None
    # a derived file: its parent and what was done to it
    parent_file: str | None = None
    parent_sha256: str | None = None
    parent_precision: str | None = None
    parent_file_size_mb: float | None = None
    quantization_mode: str | None = None
    recipe: RecipeRecord | None = None
    preset: Json | None = None
    calibration: CalibrationRecord | None = None
    nodes: Json | None = None
    graph: Json | None = None  # facts read from this file's ONNX graph (op counts, MACs by op, opset upgrade)
    accuracy_aware: Json | None = None  # accuracy-aware PTQ: budget, drop before/after, what stayed float and why
    qat: Json | None = None  # quantization-aware training: epochs, distillation, parity vs the fake-quant model
    lineage_root_sha256: str | None = None  # the FP32 file at the root of the parent chain (set by derive)
    doctor: Json | None = None  # `edgebench doctor --apply`: the diagnosis, the measured fixes and the decision
    # keys this version does not know, kept as they were
    extra: Json = field(default_factory=lambda: MappingProxyType({}))
    schema_version: int = MANIFEST_SCHEMA_VERSION
    kind: str = MANIFEST_KIND

    def __post_init__(self) -> None:
        check_one_of("manifest precision", self.precision, PRECISIONS)
        for name in ("num_classes", "batch"):
            if getattr(self, name) is not None:
                check_value(name, getattr(self, name), f"field '{name}'")
        check_file_field(self.onnx_file, "field 'onnx_file'")
        check_file_field(self.parent_file, "field 'parent_file'", up=True)
        weights_file = self.extra.get("weights_file") if isinstance(self.extra, Mapping) else None
        check_file_field(weights_file, "field 'weights_file'")
        for name, record in (("recipe", RecipeRecord), ("calibration", CalibrationRecord)):
            v = getattr(self, name)
            if v is not None and not isinstance(v, record):  # a dict (a writer's, or the JSON): typed here, once
                object.__setattr__(self, name, record.from_dict(v))
        for name in ("output", "fp32_accuracy", "simplify", "parity", "versions", "preset", "nodes", "provenance",
                     "graph", "sparsity", "accuracy_aware", "qat", "doctor",
                     "extra"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, MappingProxyType):
                object.__setattr__(self, name, freeze(v))

    # --- the schema, written and read here only ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to disk (header first; None-valued optional fields left out)."""
        out: dict[str, Any] = {"schema_version": self.schema_version, "kind": self.kind}
        for name in NETWORK_FIELDS + FILE_FIELDS:
            v = getattr(self, name)
            if v is None:
                continue
            records = InputInfo | WeightsRecord | PrunedInfo | RecipeRecord | CalibrationRecord
            out[name] = v.to_dict() if isinstance(v, records) else thaw(v)
        for k, v in self.extra.items():
            out.setdefault(k, thaw(v))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "manifest") -> Manifest:
        """Parse a manifest JSON object; `source` names it in errors (e.g. the file path).

        Reads schema_version 1 (every edgebench so far writes it); a newer or unknown version fails
        with the fix.
        """
        if not isinstance(data, Mapping) or data.get("kind") != MANIFEST_KIND:
            raise UserInputError(f"'{source}' is not an edgebench model manifest (no kind '{MANIFEST_KIND}')")
        version = data.get("schema_version")
        if isinstance(version, int) and not isinstance(version, bool) and version > MANIFEST_SCHEMA_VERSION:
            raise UserInputError(
                f"manifest '{source}' has schema_version {version}, newer than this edgebench reads "
                f"({MANIFEST_SCHEMA_VERSION}); upgrade edgebench (pip install -U edgebench) or re-export the model "
                "with this version"
            )
        hashable = isinstance(version, str | int | float | type(None))  # a list or object is never a version
        if (not hashable or version not in _UPGRADES) and version != MANIFEST_SCHEMA_VERSION:
            raise UserInputError(
                f"manifest '{source}' has schema_version {version!r}; this edgebench reads "
                f"{MANIFEST_SCHEMA_VERSION}; re-export the model with `edgebench export`"
            )
        d = dict(data)
        while d.get("schema_version") in _UPGRADES:  # older layouts: upgrade step by step
            d = _UPGRADES[d["schema_version"]](d)
        kwargs: dict[str, Any] = {}
        for name in NETWORK_FIELDS + FILE_FIELDS:
            if name not in d or d[name] is None:
                continue
            v = d[name]
            want = _TYPES[name]
            if not isinstance(v, want) or isinstance(v, bool):
                names = " or ".join("object" if t is Mapping else t.__name__ for t in want)
                raise UserInputError(
                    f"manifest '{source}': field '{name}' is {json.dumps(v)[:60]} ({type(v).__name__}); expected "
                    f"{names}; fix the file or re-export the model"
                )
            kwargs[name] = v
        try:
            if "input" in kwargs:
                kwargs["input"] = InputInfo.from_dict(kwargs["input"])
            if "weights" in kwargs:
                kwargs["weights"] = WeightsRecord.from_dict(kwargs["weights"])
            if "pruned" in kwargs:
                kwargs["pruned"] = PrunedInfo.from_dict(kwargs["pruned"])
            known = set(NETWORK_FIELDS + FILE_FIELDS) | {"schema_version", "kind"}
            return cls(**kwargs, extra={k: v for k, v in d.items() if k not in known})
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, UserInputError):
                raise UserInputError(f"manifest '{source}': {e}; fix the file or re-export the model") from None
            raise UserInputError(f"manifest '{source}' has a malformed entry ({e!r}); re-export the model") from None

    # --- children --------------------------------------------------------------------------------------

    def derive(self, *, precision: str, onnx_file: str, **changes: Any) -> Manifest:
        """The manifest of a file made from this one (INT8, FP16, a converted model).

        Keeps the network fields (`NETWORK_FIELDS`: arch, input, params, MACs, weights, pruned, ...) and the
        unknown `extra` keys; drops what described this file (sha256, size, parity, exporter, versions, ...);
        records this file as the parent (`parent_file`, `parent_sha256` = this `onnx_sha256`,
        `parent_precision`, `parent_file_size_mb`) and the root of the chain (`lineage_root_sha256`: this
        file's root; its parent for a manifest written before lineages were recorded; else this file).
        `changes` sets any other field.

        >>> fp32 = Manifest(name="m", onnx_file="model.fp32.onnx", onnx_sha256="ab", file_size_mb=1.0, opset=17)
        >>> c = fp32.derive(precision="int8", onnx_file="model.int8.onnx")
        >>> (c.name, c.parent_sha256, c.parent_file, c.opset, c.lineage_root_sha256)
        ('m', 'ab', 'model.fp32.onnx', None, 'ab')
        >>> c.replace(onnx_sha256="cd").derive(precision="fp16", onnx_file="x.onnx").lineage_root_sha256
        'ab'
        """
        if self.onnx_sha256 is None and "parent_sha256" not in changes:
            raise UserInputError(
                f"manifest of '{self.onnx_file or self.name}' records no onnx_sha256, so a child cannot name its "
                "parent; verify the parent file (ModelArtifact.verify) and pass parent_sha256"
            )
        unknown = set(changes) - set(NETWORK_FIELDS) - set(FILE_FIELDS) - {"extra"}
        if unknown:
            raise TypeError(f"Manifest.derive() got unknown fields {sorted(unknown)}")
        kept = {name: getattr(self, name) for name in NETWORK_FIELDS}
        parent = {"parent_file": self.onnx_file, "parent_sha256": self.onnx_sha256,
                  "parent_precision": self.precision, "parent_file_size_mb": self.file_size_mb,
                  "lineage_root_sha256": (self.lineage_root_sha256 or self.parent_sha256  # an older child: its parent
                                          or changes.get("parent_sha256") or self.onnx_sha256)}
        fields = {k: v for k, v in changes.items() if k != "extra"}  # `extra` is passed once, below
        return Manifest(**{**kept, **parent, **fields, "precision": precision, "onnx_file": onnx_file},
                        extra=changes.get("extra", self.extra))

    @property
    def source(self) -> str:
        """'described' (written by `edgebench describe` from the ONNX graph alone) or 'exported' (the default:
        a manifest without `provenance`, as `edgebench export` writes it)."""
        if self.provenance is not None and isinstance(self.provenance.get("source"), str):
            return str(self.provenance["source"])
        return SOURCE_EXPORTED

    @property
    def described(self) -> bool:
        return self.source == SOURCE_DESCRIBED

    def with_file(self, path: Path) -> Manifest:
        """This manifest with `onnx_file`, `onnx_sha256` and `file_size_mb` of the file at `path`."""
        path = Path(path)
        return replace(self, onnx_file=path.name, onnx_sha256=sha256_file(path),
                       file_size_mb=path.stat().st_size / 1e6)

    def replace(self, **changes: Any) -> Manifest:
        """A copy with `changes` (dataclasses.replace)."""
        return replace(self, **changes)


# schema_version -> function upgrading a manifest dict of that version to the next one. Empty: version 1 is
# the only layout written so far (edgebench <= this one); a layout change bumps MANIFEST_SCHEMA_VERSION and
# adds its upgrade here, so files of the previous layout keep loading.
_UPGRADES: dict[Any, Any] = {}


def sha256_file(path: Path) -> str:
    from edgebench.download import file_digest

    return file_digest(path, "sha256")


def manifest_path(model: Path) -> Path:
    """`DIR/model.fp32.onnx` -> `DIR/model.fp32.json`."""
    model = Path(model)
    return model.with_suffix(".json")


def read_manifest(path: Path) -> Manifest:
    """The typed manifest in the JSON file `path`; one clear UserInputError for every way it can be wrong."""
    path = Path(path)
    return Manifest.from_dict(read_json_file(path, "manifest"), str(path))


def find_typed_manifest(model: Path) -> Manifest | None:
    """The typed manifest beside `model`, or None for a bare ONNX file."""
    p = manifest_path(model)
    return read_manifest(p) if p.is_file() else None


def write_manifest(model: Path, manifest: Manifest, *, force: bool = True) -> Path:
    """Write `manifest` beside `model` (atomically); returns the manifest's path."""
    from edgebench.atomic import write_json

    return write_json(manifest_path(model), manifest.to_dict(), force=force)


# --- dict forms (scripts and test fixtures write and read manifests as JSON objects) ---------------------


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest at `path` as a JSON dict, validated by `Manifest.from_dict` (prefer `read_manifest`)."""
    return read_manifest(path).to_dict()


def resolve_model_arg(path: Path) -> Path:
    """Accept a model folder (picks its `model.fp32.onnx`, else its only .onnx) or an .onnx file."""
    path = Path(path)
    if path.is_dir():
        preferred = path / "model.fp32.onnx"
        if preferred.is_file():
            return preferred
        found = sorted(path.glob("*.onnx"))
        if len(found) == 1:
            return found[0]
        names = ", ".join(p.name for p in found) or "none"
        raise UserInputError(
            f"folder '{path}' holds {len(found)} .onnx files ({names}); name the file to use"
        )
    return path


def new_manifest(**fields: Any) -> dict[str, Any]:
    """A manifest dict with the header every manifest carries (validated through `Manifest`)."""
    return Manifest.from_dict({"schema_version": MANIFEST_SCHEMA_VERSION, "kind": MANIFEST_KIND, **fields},
                              "new manifest").to_dict()
