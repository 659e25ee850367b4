"""The model manifest: the JSON file that travels beside every ONNX file edgebench writes.

`DIR/model.fp32.onnx` has `DIR/model.fp32.json`; `model.int8.onnx` has `model.int8.json`.
Each later step (quantize, eval, bench, report) reads it instead of guessing how the model
wants its input. A bare .onnx without a manifest still benches (`find_manifest` returns None).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgebench.errors import UserInputError

MANIFEST_SCHEMA_VERSION = 1

# Conventional channel statistics; each zoo entry names the ones it was trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How uint8 HWC RGB images become the model's float input.

    Order: resize the short side to `resize` (if set), centre-crop to `crop` (if set),
    scale by `scale`, subtract `mean`, divide by `std`, transpose to `layout`.
    """

    crop: int | None = None
    resize: int | None = None
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    channel_order: Literal["RGB", "BGR"] = "RGB"
    interpolation: Literal["bilinear", "nearest", "bicubic"] = "bilinear"

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std):
            raise UserInputError(f"preprocessing mean {self.mean} and std {self.std} differ in length")
        if any(s <= 0 for s in self.std):
            raise UserInputError(f"preprocessing std {self.std} must be > 0")
        if self.layout not in ("NCHW", "NHWC"):
            raise UserInputError(f"layout '{self.layout}' is not one of NCHW, NHWC")
        for name in ("crop", "resize"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise UserInputError(f"preprocessing {name}={v} must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("mean", "std"):
            if k in known:
                known[k] = tuple(float(x) for x in known[k])
        return cls(**known)


@dataclass(frozen=True)
class InputInfo:
    """What a model expects: size, channels, preprocessing and the class names of its outputs."""

    name: str
    shape: tuple[int | str, ...]  # e.g. ("batch", 3, 32, 32)
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    dataset: str | None = None
    class_names: tuple[str, ...] = ()

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
        return cls(
            name=d["name"],
            shape=tuple(d["shape"]),
            preprocessing=Preprocessing.from_dict(d.get("preprocessing", {})),
            dataset=d.get("dataset"),
            class_names=tuple(d.get("class_names", ())),
        )


def sha256_file(path: Path) -> str:
    from edgebench.download import file_digest

    return file_digest(path, "sha256")


def manifest_path(model: Path) -> Path:
    """`DIR/model.fp32.onnx` -> `DIR/model.fp32.json`."""
    model = Path(model)
    return model.with_suffix(".json")


def find_manifest(model: Path) -> dict[str, Any] | None:
    """The manifest beside `model`, or None for a bare ONNX file."""
    p = manifest_path(model)
    if not p.is_file():
        return None
    return load_manifest(p)


def load_manifest(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"manifest '{path}' does not exist; re-run edgebench export") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f"manifest '{path}' is not valid JSON ({e}); re-run edgebench export") from None
    if not isinstance(data, dict) or data.get("kind") != "edgebench.model":
        raise UserInputError(f"'{path}' is not an edgebench model manifest (no kind 'edgebench.model')")
    version = data.get("schema_version")
    if version != MANIFEST_SCHEMA_VERSION:
        raise UserInputError(
            f"manifest '{path}' has schema_version {version!r}; this edgebench reads "
            f"{MANIFEST_SCHEMA_VERSION}; re-export with this version"
        )
    return data


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


def input_info(manifest: dict[str, Any] | None) -> InputInfo | None:
    if manifest is None or "input" not in manifest:
        return None
    return InputInfo.from_dict(manifest["input"])


def new_manifest(**fields: Any) -> dict[str, Any]:
    """A manifest dict with the header every manifest carries."""
    return {"schema_version": MANIFEST_SCHEMA_VERSION, "kind": "edgebench.model", **fields}
