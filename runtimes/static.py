"""What the converted-model runtimes (openvino, litert, ncnn) share: file checks and static shapes.

A LiteRT or ncnn artifact has a fixed input shape (batch 1). Feeding another shape is refused, never
resized: resizing a static model's batch runs but can give wrong results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.artifact import check_model_file
from edgebench.errors import ModelFileError, UserInputError
from edgebench.runtimes.base import TensorSpec
from edgebench.units import to_mb

if TYPE_CHECKING:
    import numpy as np


def load_file(model: Path, suffixes: tuple[str, ...], runtime: str) -> Path:
    """`model`, checked to exist and to be a file this runtime reads; else one line naming the fix."""
    model = check_model_file(Path(model))
    if model.suffix not in suffixes:
        how = "" if ".onnx" in suffixes else (
            f"; convert it on the workstation: edgebench convert {model.parent} --runtime {runtime}")
        raise ModelFileError(f"runtime '{runtime}' reads {', '.join(suffixes)} files, not '{model.name}'{how}")
    return model


def artifact_info(model: Path) -> dict[str, Any]:
    """Precision, converter and parity of a model file, from its manifest (ONNX files: model.<p>.onnx)."""
    from edgebench.manifest import find_typed_manifest, thaw

    man = find_typed_manifest(model)
    precision = man.precision if man is not None else ("int8" if ".int8." in model.name else "fp32")
    info: dict[str, Any] = {"precision": precision, "file": model.name,
                            "file_size_mb": artifact_size_mb(model)}
    if man is not None:
        cal = man.calibration.to_dict() if man.calibration is not None else None
        found = {"converter": man.extra.get("converter"), "parity": man.parity, "calibration": cal}
        info.update({k: thaw(v) for k, v in found.items() if v is not None})
    return info


def artifact_size_mb(model: Path) -> float:
    """Size of the files a runtime loads: `.xml`+`.bin`, `.param`+`.bin`, else the file itself (MB = 10**6 bytes)."""
    total = model.stat().st_size
    if model.suffix in (".xml", ".param"):
        weights = model.with_suffix(".bin")
        if weights.is_file():
            total += weights.stat().st_size
    return to_mb(total)


def check_feeds(inputs: Sequence[TensorSpec], feeds: Mapping[str, np.ndarray]) -> None:
    """Every input present with the static dims the model fixes (a fixed batch is refused, not resized)."""
    for spec in inputs:
        if spec.name not in feeds:
            raise UserInputError(f"input '{spec.name}' is missing; feeds hold {', '.join(feeds) or 'nothing'}")
        got = tuple(feeds[spec.name].shape)
        want = spec.shape
        bad = len(got) != len(want) or any(isinstance(w, int) and w > 0 and w != g
                                           for w, g in zip(want, got, strict=False))
        if bad:
            raise UserInputError(
                f"input '{spec.name}' has shape {list(got)} but this model is static {spec.pretty_shape()}; "
                "resizing a static model's batch would give wrong results: use --batch "
                f"{want[0]} or bench the ONNX model (dynamic batch) with ort-cpu or openvino"
            )
