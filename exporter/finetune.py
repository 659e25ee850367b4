"""The fine-tuning loop `qat` and `sparsify` share: SGD + momentum, cosine learning rate, crop + flip, optional
knowledge distillation (`exporter.distill`), with hooks before each epoch and after each optimizer step.

    history = finetune(model, train_data, pp, epochs=1, lr=5e-4, batch_size=64, teacher=fp32, distill=DistillConfig())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from edgebench.errors import UserInputError
from edgebench.exporter.distill import DistillConfig, distill_loss
from edgebench.exporter.train import augment_batch, to_tensor


def finetune(model: torch.nn.Module, train_data: Any, pp: Any, *, epochs: int, lr: float, batch_size: int,
             weight_decay: float = 5e-4, momentum: float = 0.9, seed: int = 0, augment: bool = True,
             teacher: torch.nn.Module | None = None, distill: DistillConfig | None = None,
             before_epoch: Callable[[int], None] | None = None, after_step: Callable[[], None] | None = None,
             log: Callable[[str], None] | None = None, tag: str = "finetune") -> list[dict[str, Any]]:
    """SGD + momentum with a cosine learning rate, crop + flip augmentation, optional KD from `teacher`.

    The loop QAT and sparse fine-tuning share: `before_epoch(epoch)` (e.g. freeze activation ranges) and
    `after_step()` (e.g. re-apply sparsity masks) are their hooks. Returns one row per epoch.
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
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(train_data))
        model.train()
        total, correct, seen = 0.0, 0, 0
        for b in range(steps):
            idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
            images = train_data.images[idx]
            if augment:
                images = augment_batch(images, rng)
            x = to_tensor(images, pp, device)
            y = torch.from_numpy(train_data.labels[idx]).to(device)
            logits = model(x)
            if teacher is not None and distill is not None:
                with torch.no_grad():
                    t_logits = teacher(x)
                loss = distill_loss(logits, t_logits, y, distill)
            else:
                loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if after_step is not None:
                after_step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        if not np.isfinite(total):
            raise UserInputError(f"{tag} diverged at epoch {epoch + 1} (loss {total}); lower --lr")
        row = {"epoch": epoch + 1, "loss": total / seen, "train_top1_pct": 100.0 * correct / seen}
        history.append(row)
        log(f"{tag} epoch {epoch + 1}/{epochs}: loss {row['loss']:.3f}, train top-1 {row['train_top1_pct']:.1f} %")
    model.eval()
    return history
