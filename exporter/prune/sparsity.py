"""Unstructured magnitude sparsity with fine-tuning, exported as a normal FP32 ONNX model (then INT8 as usual).

The smallest |w| of every Conv2d/Linear weight are set to zero, either over all layers at once (`global`: one
threshold, so layers with many small weights lose more) or layer by layer (`layer`: each layer loses the same
fraction). Fine-tuning keeps the zeros (masks re-applied after every optimizer step), with distillation from
the dense model available. Zeros survive export (BN folding scales, never un-zeros, a weight) and INT8
(symmetric weights: zero is exactly 0). ORT's CPU kernels do not skip zeros, so the model is no faster; it
compresses better (zip/gzip of the ONNX file), which is what the study measured.

    masks = magnitude_masks(model, 0.75, "global")
    apply_masks(model, masks); zero_fraction(model)      # -> 0.75 (of the prunable weights)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from edgebench.calibration.bits import gzip_size_mb, onnx_zero_fraction
from edgebench.errors import UserInputError, check_one_of
from torch import nn

if TYPE_CHECKING:
    from collections.abc import Callable

    from edgebench.exporter.loading import FinetuneRequest
    from edgebench.exporter.train.distill import DistillConfig
    from edgebench.manifest import Manifest

SCOPES = ("global", "layer")


@dataclass(frozen=True)
class SparsityConfig:
    """sparsity: the fraction of Conv/Linear weights set to zero, in [0, 1); scope: global or layer."""

    sparsity: float
    scope: str = "global"
    epochs: int = 3
    lr: float = 0.01
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        s = self.sparsity
        if isinstance(s, bool) or not isinstance(s, int | float) or not 0.0 <= s < 1.0:
            raise UserInputError(f"--sparsity {s!r} must be in [0, 1): the fraction of weights set to zero, e.g. "
                                 "0.5, 0.75 or 0.9 (1.0 would remove every weight)")
        check_one_of("--scope", self.scope, SCOPES)
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise UserInputError(f"--epochs {self.epochs} must be an integer >= 0")
        if not self.lr > 0:
            raise UserInputError(f"--lr {self.lr} must be > 0")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise UserInputError(f"--batch-size {self.batch_size} must be an integer >= 2 (batch norm needs two "
                                 "samples)")


def prunable(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights sparsity applies to: every Conv2d/Linear weight, by module name."""
    out = {name: m.weight for name, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    if not out or not any(w.requires_grad for w in out.values()):
        raise UserInputError("sparsity needs trainable Conv2d/Linear weights, and this model has none")
    return out


def magnitude_masks(model: nn.Module, sparsity: float, scope: str = "global") -> dict[str, torch.Tensor]:
    """Boolean keep-masks zeroing the `sparsity` fraction of smallest-|w| weights (exact count, ties by index)."""
    weights = prunable(model)
    masks: dict[str, torch.Tensor] = {}
    if scope == "global":
        flat = torch.cat([w.detach().abs().flatten() for w in weights.values()])
        k = round(sparsity * flat.numel())
        keep = torch.ones(flat.numel(), dtype=torch.bool)
        if k:
            keep[torch.argsort(flat, stable=True)[:k]] = False
        i = 0
        for name, w in weights.items():
            masks[name] = keep[i:i + w.numel()].reshape(w.shape)
            i += w.numel()
        return masks
    for name, w in weights.items():
        k = round(sparsity * w.numel())
        keep = torch.ones(w.numel(), dtype=torch.bool)
        if k:
            keep[torch.argsort(w.detach().abs().flatten(), stable=True)[:k]] = False
        masks[name] = keep.reshape(w.shape)
    return masks


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    weights = prunable(model)
    for name, keep in masks.items():
        weights[name].mul_(keep.to(weights[name].dtype))


def zero_fraction(model: nn.Module) -> dict[str, Any]:
    """Zeros among the prunable weights: overall and per layer."""
    weights = prunable(model)
    per = {n: float((w == 0).float().mean()) for n, w in weights.items()}
    total = sum(w.numel() for w in weights.values())
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    return {"overall": zeros / total, "weights": total, "per_layer": per}


def run_sparsify(model: nn.Module, spec: Any, out_dir: Path, train_data: Any, cfg: SparsityConfig, *,
                 eval_data: Any = None, distill: Any = None, weights: Any = None, force: bool = False,
                 log: Any = None) -> Any:
    """Prune `model` to `cfg.sparsity`, fine-tune with the masks, export `DIR/model.fp32.onnx`; returns its manifest
    (with `sparsity`: target, scope, achieved in PyTorch and in the ONNX file, gzip size, top-1 before/after)."""
    from edgebench.atomic import removed_on_failure
    from edgebench.errors import OutputExistsError
    from edgebench.exporter.export import ONNX_FILE
    from edgebench.manifest import manifest_path

    out_dir = Path(out_dir)
    for p in (out_dir / ONNX_FILE, manifest_path(out_dir / ONNX_FILE)):
        if p.exists() and not force:
            raise OutputExistsError(f"'{p}' already exists; pass --force to overwrite it")
    if cfg.epochs > 0:
        train_data.require_labels("fine-tuning")  # before pruning and fine-tuning, not after
    if eval_data is not None:
        eval_data.require_labels("evaluation")
    # a refused ONNX file (zeros lost) or Ctrl-C after the export takes back the files this run created
    with removed_on_failure(out_dir / ONNX_FILE, manifest_path(out_dir / ONNX_FILE)):
        return _run_sparsify(model, spec, out_dir, train_data, cfg, eval_data=eval_data, distill=distill,
                             weights=weights, force=force, log=log or (lambda _m: None))


def _run_sparsify(model: nn.Module, spec: Any, out_dir: Path, train_data: Any, cfg: SparsityConfig, *,
                  eval_data: Any, distill: Any, weights: Any, force: bool, log: Any) -> Any:
    """`run_sparsify` once its inputs are checked: prune, fine-tune, export, check the zeros survived."""
    import copy

    from edgebench.errors import ParityError
    from edgebench.exporter.export import ONNX_FILE, export_model
    from edgebench.exporter.train.finetune import finetune
    from edgebench.exporter.train.loop import evaluate_model
    from edgebench.manifest import manifest_path, read_manifest, write_manifest

    pp = spec.input.preprocessing
    teacher = copy.deepcopy(model).eval() if distill is not None else None
    dense = evaluate_model(model, eval_data, pp) if eval_data is not None else None
    masks = magnitude_masks(model, cfg.sparsity, cfg.scope)
    apply_masks(model, masks)
    pruned = evaluate_model(model, eval_data, pp) if eval_data is not None else None
    if pruned:
        log(f"{100 * cfg.sparsity:.0f} % {cfg.scope} sparsity: top-1 {dense['top1_pct']:.2f} -> "  # type: ignore[index]
            f"{pruned['top1_pct']:.2f} % before fine-tuning")
    history = finetune(model, train_data, pp, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                       teacher=teacher, distill=distill, after_step=lambda: apply_masks(model, masks), log=log,
                       tag="sparse")
    after = evaluate_model(model, eval_data, pp) if eval_data is not None else None
    achieved = zero_fraction(model)
    export_model(model, spec, out_dir, parity_dataset=eval_data, parity_images=200,
                 accuracy_images=1000 if eval_data is not None else None, force=force, weights=weights)
    path = out_dir / ONNX_FILE
    in_onnx = onnx_zero_fraction(path)
    if in_onnx["overall"] + 1e-6 < achieved["overall"] * 0.999:
        raise ParityError(f"the ONNX file keeps {100 * in_onnx['overall']:.1f} % zeros, not the "
                          f"{100 * achieved['overall']:.1f} % of the PyTorch model")
    manifest = read_manifest(manifest_path(path)).replace(sparsity={
        "target": cfg.sparsity, "scope": cfg.scope, "method": "unstructured magnitude (|w|), Conv2d + Linear weights",
        "zero_fraction_torch": achieved["overall"], "zero_fraction_onnx": in_onnx["overall"],
        "weights": achieved["weights"],
        "per_layer": {k: round(v, 4) for k, v in achieved["per_layer"].items()},
        "epochs": cfg.epochs, "lr": cfg.lr, "train_data": train_data.name,
        "distill": None if distill is None else {"alpha": distill.alpha, "temperature": distill.temperature},
        "top1_pct_torch_dense": dense and dense["top1_pct"], "top1_pct_torch_pruned": pruned and pruned["top1_pct"],
        "top1_pct_torch_finetuned": after and after["top1_pct"], "history": history,
        "gzip_mb": gzip_size_mb(path)})
    write_manifest(path, manifest)
    return manifest


@dataclass(frozen=True)
class SparsifyJob:
    """Everything `edgebench sparsify` does: the model, images and output folder, the sparsity config and an
    optional distillation from the dense model. Nothing is read or written until `run_sparsify_job`."""

    request: FinetuneRequest
    config: SparsityConfig
    distill: DistillConfig | None = None


def run_sparsify_job(job: SparsifyJob, log: Callable[[str], None]) -> Manifest:
    """Load the model and images of `job`, then `run_sparsify`; returns the sparse FP32 model's manifest."""
    loaded, train, ev = job.request.load(log)
    return run_sparsify(loaded.model, loaded.spec, job.request.out_dir, train, job.config, eval_data=ev,
                        distill=job.distill, weights=loaded.weights, force=job.request.force, log=log)
