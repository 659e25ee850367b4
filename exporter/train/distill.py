"""Knowledge distillation for fine-tuning: the student learns the teacher's soft targets and the labels.

loss = (1 - alpha) * CE(student, labels) + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
(Hinton et al. 2015; the T^2 keeps the soft term's gradient scale independent of T). With 4000 training
images the soft targets carry far more information per image than one label, which is what lets a
pruned network recover the unpruned one's accuracy. `prune --distill` uses the model before pruning as
the teacher; `--teacher SPEC` names another one (same input spec and output size).

Example::

    cfg = DistillConfig(alpha=0.9, temperature=4.0)
    loss = distill_loss(student(x), teacher(x), y, cfg)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from edgebench.errors import UserInputError
from torch import nn


@dataclass(frozen=True)
class DistillConfig:
    """Weights of the distillation loss: `alpha` on the soft targets, 1 - alpha on the labels."""

    alpha: float = 0.9
    temperature: float = 4.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise UserInputError(f"--distill-alpha {self.alpha} must be in [0, 1] (the soft targets' weight)")
        if not self.temperature > 0:
            raise UserInputError(f"--distill-temperature {self.temperature} must be > 0 (e.g. 4)")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label_weight": 1.0 - self.alpha,
                "loss": "(1-alpha)*CE(labels) + alpha*T^2*KL(teacher_T || student_T)"}


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor,
                 cfg: DistillConfig) -> torch.Tensor:
    """The distillation loss of a batch (see the module docstring)."""
    t = cfg.temperature
    soft = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher.detach() / t, dim=1),
                    reduction="batchmean", log_target=True) * (t * t)
    if cfg.alpha >= 1.0:
        return soft
    return (1.0 - cfg.alpha) * F.cross_entropy(student, labels) + cfg.alpha * soft


def check_teacher(teacher: nn.Module, student: nn.Module, example: torch.Tensor, *, teacher_name: str,
                  student_name: str, teacher_input: Sequence[Any] | None = None,
                  student_input: Sequence[Any] | None = None) -> None:
    """Refuse a teacher that cannot teach `student`: another input spec or another output size."""
    if teacher_input is not None and student_input is not None and tuple(teacher_input) != tuple(student_input):
        raise UserInputError(
            f"teacher '{teacher_name}' takes another input ({teacher_input}) than '{student_name}' "
            f"({student_input}); give a teacher of the same input spec (e.g. the unpruned {student_name})"
        )
    with torch.no_grad():
        was_t, was_s = teacher.training, student.training
        teacher.eval()
        student.eval()
        try:
            try:
                t_out = teacher(example)
            except RuntimeError as e:
                raise UserInputError(f"teacher '{teacher_name}' does not run on '{student_name}''s input "
                                     f"{tuple(example.shape)} ({str(e).splitlines()[0]})") from None
            s_out = student(example)
        finally:
            teacher.train(was_t)
            student.train(was_s)
    if tuple(t_out.shape) != tuple(s_out.shape):
        raise UserInputError(
            f"teacher '{teacher_name}' outputs {tuple(t_out.shape[1:])} but '{student_name}' outputs "
            f"{tuple(s_out.shape[1:])}; give a teacher with the same classes"
        )


# --- the teacher of `prune --distill` / `train --teacher` ------------------------------------------------


@dataclass(frozen=True)
class TeacherRequest:
    """`--distill` (teacher: the model before pruning, or `teacher`) and `--teacher SPEC`."""

    distill: bool = False
    teacher: str | None = None  # a checkpoint / pruned round of this model, or a model name (published weights)
    data_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.teacher is not None and not self.teacher.strip():
            raise UserInputError("--teacher is empty; give a model name or a checkpoint path")


def example_input(spec: Any) -> torch.Tensor:
    """A zero batch of one input of `spec` (the model's input shape without the batch dimension)."""
    return torch.zeros((1, *[int(d) for d in spec.input.shape[1:]]))


def resolve_teacher(spec: Any, model: nn.Module, request: TeacherRequest, *, before_pruning: bool = True,
                    ) -> nn.Module | None:
    """The teacher module (eval mode, a copy), or None when no distillation is asked for.

    `before_pruning`: the caller prunes `model` afterwards (prune), so a copy of it is the default teacher;
    `train` has no model before pruning and needs `--teacher`.
    """
    from edgebench.exporter.loading import WeightsRequest, load_model
    from edgebench.exporter.zoo import get_spec

    if request.teacher is None and not request.distill:
        return None
    if request.teacher is None:
        if not before_pruning:
            raise UserInputError("--distill needs a teacher here: train has no model before pruning; give "
                                 "--teacher SPEC (a model name with published weights or a checkpoint/round)")
        return copy.deepcopy(model).eval()
    path = Path(request.teacher)
    if path.exists():
        tspec = spec
        teacher = load_model(spec, WeightsRequest(weights=path, data_dir=request.data_dir)).model
    else:
        tspec = get_spec(request.teacher)
        teacher = load_model(tspec, WeightsRequest(require_trained=True, data_dir=request.data_dir)).model
    check_teacher(teacher, model, example_input(spec), teacher_name=request.teacher, student_name=spec.name,
                  teacher_input=(tuple(tspec.input.shape[1:]), tspec.input.preprocessing.mean,
                                 tspec.input.preprocessing.std),
                  student_input=(tuple(spec.input.shape[1:]), spec.input.preprocessing.mean,
                                 spec.input.preprocessing.std))
    return teacher.eval()
