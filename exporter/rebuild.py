"""Rebuild the PyTorch module a model folder was exported from (what the `torch` runtimes run).

The runtimes layer sits below the exporter, so it cannot import the zoo or the checkpoint code: the
layers above pass these functions in (`edgebench.runtimes.torch.session.provide`, with `TORCH_RUNTIME_NEEDS`
in `edgebench.exporter`).

Example::

    module, weights = build_module(read_manifest(folder / "model.fp32.json"), folder)   # a typed Manifest
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from edgebench.errors import BadCheckpoint, ModelFileError
from edgebench.manifest import Manifest

if TYPE_CHECKING:
    from torch import nn


def find_weights_file(manifest: Manifest, folder: Path) -> Path:
    """The checkpoint the model was exported from: `weights.file` of the manifest (inside the model folder,
    checked against `weights.sha256` when recorded), else the published weights of `arch` whose sha256 is
    `weights_sha256`."""
    from edgebench.artifact import confined_path
    from edgebench.manifest import sha256_file

    recorded = (manifest.weights.file if manifest.weights is not None else None) or manifest.extra.get("weights_file")
    if recorded:
        what = f"weights file of the manifest in '{folder}'"
        for p in (confined_path(folder, str(recorded), what=what), folder / Path(str(recorded)).name):
            if p.is_file():
                want = manifest.weights.sha256 if manifest.weights is not None else None
                if want and sha256_file(p) != want:
                    raise BadCheckpoint(f"'{p}' has sha256 {sha256_file(p)[:12]}, not the {want[:12]} its manifest "
                                        "records for the weights: the checkpoint changed after export; put the "
                                        "original back or export again")
                return p
    arch = manifest.arch
    sha = manifest.weights_sha256
    name = manifest.name or arch
    if not sha:
        raise BadCheckpoint(
            f"'{name}' was exported with random weights (no weights_sha256); the torch "
            "runtimes rebuild from a checkpoint: export with trained weights"
        )
    from edgebench.exporter.zoo import get_spec

    spec = get_spec(str(arch))
    if spec.weights is not None and sha == spec.weights.sha256:
        from edgebench.exporter.checkpoint import find_weights

        return find_weights(spec.weights, download=False)
    where = f"'{recorded}' (not found)" if recorded else "no weights file"
    raise BadCheckpoint(
        f"cannot find the weights of '{name}': the manifest records {where} and sha256 "
        f"{str(sha)[:12]} is not published weights of '{arch}'; put the checkpoint back or re-export"
    )


def _pruned_loader(weights: Path) -> Any:
    """`exporter.prune.saved.load_pruned` when `weights` is a pruned round checkpoint, else None."""
    try:
        from edgebench.exporter.prune.saved import is_pruned_checkpoint, load_pruned
    except ImportError:  # pruning support (torch-pruning) not installed
        return None
    return load_pruned if is_pruned_checkpoint(weights) else None


def build_module(manifest: Manifest, folder: Path) -> tuple[nn.Module, Path]:
    """The FP32 nn.Module of a manifest, with its weights loaded, in eval mode, and the weights file."""
    from edgebench.exporter.checkpoint import load_weights
    from edgebench.exporter.zoo import get_spec

    arch = manifest.arch
    if not arch or manifest.input is None:
        raise ModelFileError("the manifest names no 'arch' or no 'input'; re-export the model with edgebench export")
    weights = find_weights_file(manifest, folder)
    pruned = _pruned_loader(weights)
    if pruned is not None:
        model, _ = pruned(weights)
        return model.eval(), weights
    model = get_spec(str(arch)).build(manifest.num_classes or len(manifest.input.class_names) or None)
    load_weights(model, weights, str(arch))
    return model.eval(), weights


def calibration_images(manifest: Manifest, settings: dict[str, Any]) -> np.ndarray:
    """The torch-int8 runtime's calibration batch: `settings` (dataset, size, seed) preprocessed as the
    manifest says, so PyTorch calibrates on the same images as the ONNX Runtime INT8 model."""
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.preprocess import preprocess
    from edgebench.errors import CalibrationError

    info = manifest.input
    if info is None:
        raise ModelFileError("the manifest has no 'input'; re-export the model with edgebench export")
    ds = load_dataset(str(settings["dataset"]), size=settings.get("size"), seed=settings.get("seed"),
                      preprocessing=info.preprocessing)
    if len(ds) == 0:
        raise CalibrationError(f"calibration set '{settings['dataset']}' is empty")
    return preprocess(ds.images, info.preprocessing, info.image_hw())
