"""The fine-tuning loop `qat` and `sparsify` share: SGD + momentum, cosine learning rate, crop + flip, optional
knowledge distillation (`exporter.train.distill`), with hooks before each epoch and after each optimizer step.

    history = finetune(model, train_data, pp, epochs=1, lr=5e-4, batch_size=64, teacher=fp32, distill=DistillConfig())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from edgebench.errors import UserInputError
from edgebench.exporter.train.distill import DistillConfig
from edgebench.exporter.train.loop import train_one_epoch


def finetune(model: torch.nn.Module, train_data: Any, pp: Any, *, epochs: int, lr: float, batch_size: int,
             weight_decay: float = 5e-4, momentum: float = 0.9, seed: int = 0, augment: bool = True,
             teacher: torch.nn.Module | None = None, distill: DistillConfig | None = None,
             before_epoch: Callable[[int], None] | None = None, after_step: Callable[[], None] | None = None,
             after_epoch: Callable[[dict[str, Any]], None] | None = None,
             log: Callable[[str], None] | None = None, tag: str = "finetune") -> list[dict[str, Any]]:
    """SGD + momentum with a cosine learning rate, crop + flip augmentation, optional KD from `teacher`.

    The loop QAT and sparse fine-tuning share: `before_epoch(epoch)` (e.g. freeze activation ranges),
    `after_step()` (e.g. re-apply sparsity masks) and `after_epoch(row)` (e.g. validate and keep the best state;
    it may add fields to the row) are their hooks. Returns one row per epoch.
    """
    log = log or (lambda _m: None)
    device = torch.device("cpu")
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise UserInputError("fine-tuning needs trainable weights, and this model has none")
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps = max(1, len(train_data) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * steps))
    if teacher is not None:
        teacher.eval()
    history = []
    for epoch in range(epochs):
        if before_epoch is not None:
            before_epoch(epoch)
        total, correct, seen = train_one_epoch(model, train_data, pp, device, opt, sched, epoch=epoch, seed=seed,
                                               batch_size=batch_size, augment=augment, teacher=teacher, distill=distill,
                                               after_step=after_step)
        if not np.isfinite(total):
            raise UserInputError(f"{tag} diverged at epoch {epoch + 1} (loss {total}); lower --lr")
        row = {"epoch": epoch + 1, "loss": total / seen, "train_top1_pct": 100.0 * correct / seen}
        if after_epoch is not None:
            after_epoch(row)
        history.append(row)
        log(f"{tag} epoch {epoch + 1}/{epochs}: loss {row['loss']:.3f}, train top-1 {row['train_top1_pct']:.1f} %")
    model.eval()
    return history
