"""Training and fine-tuning on CIFAR-style data: SGD + momentum, cosine learning rate, crop + flip.

The recipe (He et al. 2016 for CIFAR, also the study's): SGD with momentum 0.9, learning rate 0.1
decayed to 0 along a cosine (stepped every iteration), weight decay 5e-4, random 32x32 crops of
the image padded by 4 black pixels, random horizontal flips. Augmentation works on the uint8
images (numpy), then the model's own preprocessing (`calibration.preprocess`) makes the input, so
training and evaluation see the same normalisation as the exported model.

Every epoch ends with a test evaluation and `DIR/last.pt` (model, optimizer, scheduler, history):
`resume=True` continues from it. `best.pt` holds the weights of the best test epoch. Reported:
best top-1 (and its epoch), mean top-1 over the last `mean_last` epochs, final top-1/top-5.

Example::

    cfg = TrainConfig.finetune(epochs=5)
    summary = train(model, load_dataset("cifar10:train"), load_dataset("cifar10"), spec.input.preprocessing, cfg)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from edgebench.atomic import atomic_path, ensure_writable_dir
from edgebench.calibration.datasets import Dataset
from edgebench.calibration.preprocess import preprocess
from edgebench.errors import BadCheckpoint, OutputExistsError, UserInputError, check_one_of
from edgebench.exporter.train.distill import DistillConfig, distill_loss
from edgebench.manifest import Preprocessing
from torch import nn

if TYPE_CHECKING:
    from edgebench.exporter.loading import DataRequest, WeightsRequest
    from edgebench.exporter.train.distill import TeacherRequest
    from edgebench.exporter.zoo import ModelSpec

LAST = "last.pt"
BEST = "best.pt"
DEVICES = ("cpu", "cuda", "auto")
Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `epochs=0` only evaluates."""

    epochs: int
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    augment: bool = True
    seed: int = 0
    mean_last: int = 5
    eval_batch_size: int = 500
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise UserInputError(f"--epochs {self.epochs} must be an integer >= 0")
        if self.batch_size < 2:
            raise UserInputError(f"--batch-size {self.batch_size} must be >= 2 (batch norm needs two samples)")
        if not self.lr > 0:
            raise UserInputError(f"--lr {self.lr} must be > 0")
        if not 0 <= self.momentum < 1:
            raise UserInputError(f"momentum {self.momentum} must be in [0, 1)")
        if self.weight_decay < 0:
            raise UserInputError(f"--weight-decay {self.weight_decay} must be >= 0")
        if self.mean_last < 1:
            raise UserInputError(f"mean_last {self.mean_last} must be >= 1")
        if self.eval_batch_size < 1:
            raise UserInputError(f"eval batch size {self.eval_batch_size} must be >= 1")
        check_one_of("--device", self.device, DEVICES)

    @classmethod
    def cifar(cls, epochs: int = 200) -> TrainConfig:
        # training from scratch: the CIFAR ResNet recipe, lr 0.1 with cosine decay
        return cls(epochs=epochs)

    @classmethod
    def finetune(cls, epochs: int = 10) -> TrainConfig:
        # a pruned net starts from trained weights: lr 0.1 would throw them away, 0.01 recovers them
        return cls(epochs=epochs, lr=0.01)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserInputError("--device cuda: no CUDA GPU is visible here; use --device cpu or auto")
    return torch.device(name)


def augment_batch(images: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Random crop of the image padded by `pad` black pixels, then a random horizontal flip (uint8 NHWC)."""
    n, h, w, c = images.shape
    padded = np.zeros((n, h + 2 * pad, w + 2 * pad, c), np.uint8)
    padded[:, pad:pad + h, pad:pad + w] = images
    dy = rng.integers(0, 2 * pad + 1, n)
    dx = rng.integers(0, 2 * pad + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip][:, :, ::-1]
    return out


def to_tensor(images: np.ndarray, pp: Preprocessing, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(preprocess(images, pp)).to(device)


@torch.no_grad()
def evaluate_model(model: nn.Module, data: Dataset, pp: Preprocessing, *, batch_size: int = 500,
                   device: torch.device | str = "cpu", limit: int | None = None) -> dict[str, Any]:
    """Top-1 / top-5 accuracy (percent) and mean cross-entropy of `model` on `data` (eval mode)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    n = len(data) if limit is None else min(limit, len(data))
    if n < 1:
        raise UserInputError(f"dataset '{data.name}' is empty; nothing to evaluate")
    correct1 = correct5 = 0
    loss = 0.0
    try:
        for i in range(0, n, batch_size):
            x = to_tensor(data.images[i:min(i + batch_size, n)], pp, device)
            y = torch.from_numpy(data.labels[i:min(i + batch_size, n)]).to(device)
            logits = model(x)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            k = min(5, logits.shape[1])
            top = logits.topk(k, dim=1).indices
            correct1 += int((top[:, 0] == y).sum())
            correct5 += int((top == y[:, None]).any(dim=1).sum())
    finally:
        model.train(was_training)
    return {"top1_pct": 100.0 * correct1 / n, "top5_pct": 100.0 * correct5 / n, "loss": loss / n, "n": n}


def reference_divergence(reference: nn.Module, data: Dataset, pp: Preprocessing, *, temperature: float = 4.0,
                         batch_size: int = 500) -> Callable[[nn.Module], dict[str, Any]]:
    """An evaluator whose `loss` is the KL divergence (x T^2, as distillation weighs it) of a model's softened
    outputs from `reference`'s on `data`, with top-1 vs the labels beside it.

    On training images the network has memorised, cross-entropy vs the labels barely moves when a block is
    removed (the logits keep their large margins) while the function does change: the divergence from the
    unpruned model sees it, and it is what distillation then has to repair.
    """
    n = len(data)
    if n < 1:
        raise UserInputError(f"dataset '{data.name}' is empty; nothing to evaluate")

    def logits_of(model: nn.Module) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                return torch.cat([model(to_tensor(data.images[i:i + batch_size], pp, "cpu"))
                                  for i in range(0, n, batch_size)])
        finally:
            model.train(was_training)

    ref = F.log_softmax(logits_of(reference) / temperature, dim=1)
    labels = torch.from_numpy(data.labels[:n])

    def evaluate(model: nn.Module) -> dict[str, Any]:
        out = logits_of(model)
        kl = F.kl_div(F.log_softmax(out / temperature, dim=1), ref, log_target=True, reduction="batchmean")
        top1 = 100.0 * float((out.argmax(1) == labels).float().mean())
        return {"loss": float(kl) * temperature ** 2, "top1_pct": top1, "n": n}

    return evaluate


def _summary(history: list[dict[str, Any]], cfg: TrainConfig, seconds: float) -> dict[str, Any]:
    if not history:
        return {"epochs": 0, "history": [], "seconds": seconds}
    tops = [h["test_top1_pct"] for h in history]
    best = int(np.argmax(tops))
    tail = history[-cfg.mean_last:]
    return {
        "epochs": len(history),
        "best_top1_pct": tops[best],
        "best_top5_pct": history[best]["test_top5_pct"],
        "best_epoch": history[best]["epoch"],
        "mean_top1_pct": float(np.mean([h["test_top1_pct"] for h in tail])),
        "mean_top5_pct": float(np.mean([h["test_top5_pct"] for h in tail])),
        "mean_over_epochs": len(tail),
        "final_top1_pct": tops[-1],
        "final_top5_pct": history[-1]["test_top5_pct"],
        "seconds": seconds,
        "history": history,
    }


def _save(obj: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}



def train_one_epoch(model: nn.Module, train_data: Dataset, pp: Preprocessing, device: Any, opt: Any, sched: Any, *,
                    epoch: int, seed: int, batch_size: int, augment: bool, teacher: nn.Module | None = None,
                    distill: DistillConfig | None = None,
                    after_step: Callable[[], None] | None = None) -> tuple[float, int, int]:
    """One epoch of SGD steps in a seeded order (crop + flip when `augment`, KD from `teacher` when `distill`);
    `after_step()` runs after each optimizer step. Returns (summed loss, correct predictions, images seen).

    The one training loop: `train` (train, prune's fine-tuning) and `finetune` (qat, sparsify) both call it.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(train_data))
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    for b in range(max(1, len(train_data) // batch_size)):
        idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
        images = train_data.images[idx]
        if augment:
            images = augment_batch(images, rng)
        x = to_tensor(images, pp, device)
        y = torch.from_numpy(train_data.labels[idx]).to(device)
        logits = model(x)
        if teacher is not None and distill is not None:
            with torch.no_grad():
                soft = teacher(x)
            loss = distill_loss(logits, soft, y, distill)
        else:
            loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if after_step is not None:
            after_step()
        loss_sum += float(loss.detach()) * len(idx)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(idx)
    return loss_sum, correct, seen

def train(model: nn.Module, train_data: Dataset, test_data: Dataset, pp: Preprocessing, cfg: TrainConfig, *,
          out_dir: Path | None = None, resume: bool = False, force: bool = False,
          checkpoint_extra: dict[str, Any] | None = None, log: Log | None = None,
          teacher: nn.Module | None = None, distill: DistillConfig | None = None) -> dict[str, Any]:
    """Train `model` in place with `cfg`; evaluate on `test_data` after every epoch.

    With `teacher`, the loss is `distill_loss` (soft targets of the teacher, in eval mode, on the same
    augmented batch, weighted by `distill`, default `DistillConfig()`) instead of plain cross-entropy.

    With `out_dir`, writes `last.pt` every epoch (resumable) and `best.pt` (`{"state_dict": ..., **checkpoint_extra}`).
    The model keeps its final weights (not the best ones); the summary reports both.
    """
    log = log or (lambda _msg: None)
    device = resolve_device(cfg.device)
    if len(train_data) < cfg.batch_size and cfg.epochs > 0:
        raise UserInputError(
            f"training set '{train_data.name}' has {len(train_data)} images, fewer than --batch-size {cfg.batch_size}"
        )
    last = best_path = None
    if out_dir is not None:
        out_dir = ensure_writable_dir(Path(out_dir))
        last, best_path = out_dir / LAST, out_dir / BEST
        if last.exists() and not (resume or force):
            raise OutputExistsError(f"'{last}' exists: pass --resume to continue that run or --force to start over")
    elif resume:
        raise UserInputError("--resume needs the output folder of the run to continue (-o DIR)")

    model.to(device)
    if teacher is not None:
        teacher.to(device).eval()
        distill = distill or DistillConfig()
    torch.manual_seed(cfg.seed)
    params_decay = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params_decay, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                          nesterov=cfg.nesterov)
    steps_per_epoch = max(1, len(train_data) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs * steps_per_epoch))
    history: list[dict[str, Any]] = []
    start_epoch = 0
    best_top1 = -1.0
    if resume and last is not None and last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        if state.get("config") != asdict(cfg):
            raise UserInputError(
                f"'{last}' was written with other training settings ({state.get('config')}); resume with the same "
                "options or start over with --force"
            )
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:
            raise BadCheckpoint(f"'{last}' does not fit this model ({str(e).splitlines()[0]})") from None
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = list(state["history"])
        start_epoch = int(state["epoch"])
        best_top1 = max((h["test_top1_pct"] for h in history), default=-1.0)
        log(f"resuming from epoch {start_epoch} of {cfg.epochs}")

    t_start = time.perf_counter()
    spent = sum(h["seconds"] for h in history)
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        loss_sum, correct, seen = train_one_epoch(model, train_data, pp, device, opt, sched, epoch=epoch, seed=cfg.seed,
                                                  batch_size=cfg.batch_size, augment=cfg.augment, teacher=teacher,
                                                  distill=distill)
        if not np.isfinite(loss_sum):
            raise UserInputError(f"training diverged at epoch {epoch + 1} (loss {loss_sum}); lower --lr")
        ev = evaluate_model(model, test_data, pp, batch_size=cfg.eval_batch_size, device=device)
        row = {"epoch": epoch + 1, "lr": float(opt.param_groups[0]["lr"]), "train_loss": loss_sum / seen,
               "train_top1_pct": 100.0 * correct / seen, "test_top1_pct": ev["top1_pct"],
               "test_top5_pct": ev["top5_pct"], "test_loss": ev["loss"], "seconds": time.perf_counter() - t0}
        history.append(row)
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.3f}, train {row['train_top1_pct']:.1f} %, "
            f"test top-1 {ev['top1_pct']:.2f} % top-5 {ev['top5_pct']:.2f} % ({row['seconds']:.0f} s)")
        if best_path is not None and ev["top1_pct"] > best_top1:
            _save({"state_dict": _cpu_state(model), "epoch": epoch + 1, "top1_pct": ev["top1_pct"],
                   **(checkpoint_extra or {})}, best_path)
        best_top1 = max(best_top1, ev["top1_pct"])
        if last is not None:
            _save({"model": _cpu_state(model), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                   "epoch": epoch + 1, "history": history, "config": asdict(cfg)}, last)
    model.eval()
    if teacher is not None:
        teacher.cpu()
    out = _summary(history, cfg, spent + time.perf_counter() - t_start)
    out["distill"] = distill.to_dict() if teacher is not None and distill is not None else None
    return out


# --- `edgebench train`: one library call ---------------------------------------------------------------

TRAIN_SUMMARY = "train.json"


@dataclass(frozen=True)
class TrainingRun:
    """Everything `edgebench train` does, as one value: the model and its starting weights, the recipe, the
    data, an optional distillation teacher and the output folder (`best.pt`, `last.pt`, `train.json`, and the
    `structure.json` of a pruned model). Validated here; nothing is read or written until `run_training`."""

    spec: ModelSpec
    out_dir: Path
    config: TrainConfig
    weights: WeightsRequest
    data: DataRequest
    teacher: TeacherRequest | None = None  # distillation: `--distill` / `--teacher`
    distill: DistillConfig = field(default_factory=DistillConfig)
    resume: bool = False
    force: bool = False

    def __post_init__(self) -> None:
        if self.data.train is None:
            raise UserInputError("training needs a training set: give --train-data (e.g. cifar10:train)")


def run_training(run: TrainingRun, *, log: Log | None = None) -> dict[str, Any]:
    """Load the model, train it (`train`) into `run.out_dir` and write `train.json`; returns that summary.

    Refuses a folder holding a run (`last.pt`) unless `resume`/`force` before loading anything.
    """
    import hashlib
    import json

    from edgebench.atomic import check_writable_dir, write_json, write_text
    from edgebench.exporter.loading import load_model
    from edgebench.exporter.prune.saved import MARKER, STRUCTURE_FILE, describe_structure
    from edgebench.exporter.train.distill import resolve_teacher

    say = log or (lambda _msg: None)
    if (run.out_dir / LAST).exists() and not (run.resume or run.force):
        raise OutputExistsError(f"'{run.out_dir / LAST}' exists: pass --resume to continue or --force")
    check_writable_dir(run.out_dir)  # before the model and the data are loaded

    torch.manual_seed(run.config.seed)  # --seed also draws the initial weights of an untrained model
    loaded = load_model(run.spec, run.weights)
    if loaded.note:
        say(loaded.note)
    net, spec, structure = loaded.model, loaded.spec, loaded.structure
    teacher = resolve_teacher(spec, net, run.teacher, before_pruning=False) if run.teacher is not None else None
    train_ds, test_ds = run.data.load()
    if train_ds is None:  # excluded by TrainingRun.__post_init__
        raise UserInputError("training needs a training set: give --train-data")
    out = ensure_writable_dir(run.out_dir)
    extra: dict[str, Any] = {}
    if structure is not None:  # keep best.pt loadable: the structure file beside it
        st = describe_structure(net, spec.name, structure.get("num_classes"),
                                **{k: v for k, v in structure.items() if k in ("round", "importance", "scope")})
        text = json.dumps(st, indent=2) + "\n"
        write_text(out / STRUCTURE_FILE, text)
        extra = {MARKER: {"arch": spec.name, "structure_file": STRUCTURE_FILE,
                          "structure_sha256": hashlib.sha256(text.encode()).hexdigest()}}
    cfg = run.config
    say(f"training {spec.name} on {train_ds.name} ({len(train_ds)} images), testing on {test_ds.name} "
        f"({len(test_ds)}), {cfg.epochs} epochs, lr {cfg.lr}, device {cfg.device}")
    summary = train(net, train_ds, test_ds, spec.input.preprocessing, cfg, out_dir=out, resume=run.resume,
                    force=run.force, checkpoint_extra=extra, log=say, teacher=teacher, distill=run.distill)
    summary.update(arch=spec.name, weights=loaded.weights.to_dict(), config=cfg.__dict__,
                   train_data={"name": train_ds.name, "n": len(train_ds)},
                   test_data={"name": test_ds.name, "n": len(test_ds)})
    write_json(out / TRAIN_SUMMARY, summary)
    return summary
