"""Knowledge distillation loss (Hinton et al. 2015), shared by QAT and sparse fine-tuning.

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, labels)

The teacher is the FP32 model the student started from, in eval mode and without gradients. `T^2` keeps the
soft term's gradient scale independent of the temperature.

    cfg = DistillConfig(alpha=0.5, temperature=4.0)
    loss = distill_loss(student(x), teacher(x), y, cfg)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from edgebench.errors import UserInputError


@dataclass(frozen=True)
class DistillConfig:
    """alpha: weight of the teacher's soft targets (0 = labels only, 1 = teacher only); temperature > 0."""

    alpha: float = 0.5
    temperature: float = 4.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise UserInputError(f"--distill-alpha {self.alpha} must be in [0, 1] (e.g. 0.5)")
        if not self.temperature > 0:
            raise UserInputError(f"--distill-temperature {self.temperature} must be > 0 (e.g. 4)")


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor,
                 cfg: DistillConfig) -> torch.Tensor:
    """The combined loss (mean over the batch)."""
    t = cfg.temperature
    soft = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher.detach() / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
    return cfg.alpha * soft + (1.0 - cfg.alpha) * F.cross_entropy(student, labels)


def finetune(model: torch.nn.Module, train_data: Any, pp: Any, *, epochs: int, lr: float, batch_size: int,
             weight_decay: float = 5e-4, momentum: float = 0.9, seed: int = 0, augment: bool = True,
             teacher: torch.nn.Module | None = None, distill: DistillConfig | None = None,
             before_epoch: Callable[[int], None] | None = None, after_step: Callable[[], None] | None = None,
             log: Callable[[str], None] | None = None, tag: str = "finetune") -> list[dict[str, Any]]:
    """SGD + momentum with a cosine learning rate, crop + flip augmentation, optional KD from `teacher`.

    The loop QAT and sparse fine-tuning share: `before_epoch(epoch)` (e.g. freeze activation ranges) and
    `after_step()` (e.g. re-apply sparsity masks) are their hooks. Returns one row per epoch.
    """
    import numpy as np
    from edgebench.exporter.train import augment_batch, to_tensor

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
