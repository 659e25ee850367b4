"""Quantization-aware training that mirrors a preset's ONNX Runtime recipe, exported as QDQ ONNX ORT runs in INT8.

API choice (torch 2.14.1): the eager/FX `torch.ao.quantization` flows are deprecated, and PT2E lives in
`torchao`, a new dependency (not installed here) whose quantizers target XNNPACK/x86-inductor numerics, not
ORT's. Both would need their own translation to ORT's recipe anyway. This module instead rewrites the model
with torch.fx and calls the two core fake-quant ops, `torch.fake_quantize_per_channel_affine` (weights) and
`torch.fake_quantize_per_tensor_affine` (activations), which are stable aten ops, have straight-through
gradients, and which the TorchScript ONNX exporter writes as QuantizeLinear/DequantizeLinear pairs. So the
ranges, rounding and placement are exactly the ones written here, computed with ORT's own formulas:

- weights: symmetric per output channel (or per tensor), scale = max|w| / 127, or / 64 with reduce_range
  (ORT's `get_qmin_qmax_for_qType(..., symmetric=True)`), zero point 0, int8;
- activations: uint8 or int8 as the preset says, asymmetric (range widened to include 0) or symmetric,
  min/max calibrated on training images like PTQ's MinMax, then tracked with an EMA during the first half
  of fine-tuning and frozen;
- placement like ORT's QDQ quantizer: the graph input, the output of every Conv, Add and average pool (after
  the ReLU that follows it, which ORT folds into the quantized range), and any other input of a
  Conv/Linear/Add (looking through nn.Identity);
  the final Linear keeps float logits (`float_logits`). BatchNorm is folded into the convolutions first
  (as ORT's pre-processing does), so training sees the inference graph.

After export the weight QuantizeLinear nodes are folded into int8 initializers and every Conv/Gemm bias
becomes int32 (scale = input scale x weight scale), the layout ORT's fusions expect. The export is checked
against the fake-quant PyTorch model (max |logit diff|, top-1 agreement) and ORT's fused ops are counted.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from edgebench.calibration.dataset import Dataset
from edgebench.calibration.recipes import QuantRecipe
from edgebench.errors import UserInputError
from edgebench.parity import QAT_MIN_TOP1_AGREEMENT, compare_outputs, top1_agreement
from torch import nn

if TYPE_CHECKING:
    from edgebench.calibration.recipes import PresetChoice
    from edgebench.exporter.loading import FinetuneRequest
    from edgebench.exporter.train.distill import DistillConfig
    from edgebench.manifest import Manifest

Log = Callable[[str], None]
EMA = 0.9


def _qrange(int_type: str, symmetric: bool) -> tuple[int, int]:
    """ORT's quantized range for activations (get_qmin_qmax_for_qType)."""
    if int_type == "uint8":
        return (0, 255)
    return (-127, 127) if symmetric else (-128, 127)


def check_qat_recipe(recipe: QuantRecipe) -> None:
    """QAT exports what ORT runs as INT8: 8-bit QDQ only."""
    if recipe.quant_format != "qdq" or (recipe.weight_bits, recipe.activation_bits) != (8, 8):
        raise UserInputError(
            f"QAT exports 8-bit QDQ (ORT's INT8 kernels); preset '{recipe.name}' asks for {recipe.quant_format} "
            f"w{recipe.weight_bits}/a{recipe.activation_bits}: use an 8-bit QDQ preset (auto, x86-vnni, ...)")
    if recipe.method != "minmax":
        raise UserInputError(f"QAT calibrates its starting ranges with minmax; preset method '{recipe.method}' is "
                             "not mirrored: use --method minmax (the presets' default)")


class ActQuant(nn.Module):
    """Fake-quantizes an activation per tensor with ORT's formula; min/max observed (EMA) until frozen."""

    def __init__(self, int_type: str, symmetric: bool) -> None:
        super().__init__()
        self.int_type, self.symmetric = int_type, symmetric
        self.qmin, self.qmax = _qrange(int_type, symmetric)
        self.register_buffer("lo", torch.tensor(float("inf")))
        self.register_buffer("hi", torch.tensor(float("-inf")))
        self.observe = True  # collect ranges
        self.enabled = False  # fake-quantize

    def extra_repr(self) -> str:
        return f"{self.int_type}, symmetric={self.symmetric}, range=({float(self.lo):.4g}, {float(self.hi):.4g})"

    def scale_zp(self) -> tuple[float, int]:
        if not (np.isfinite(float(self.lo)) and np.isfinite(float(self.hi))):
            raise UserInputError(f"an activation range became ({float(self.lo)}, {float(self.hi)}): fine-tuning "
                                 "diverged; lower --lr (e.g. 0.0005)")
        lo, hi = min(float(self.lo), 0.0), max(float(self.hi), 0.0)
        if self.symmetric:
            a = max(abs(lo), abs(hi))
            lo, hi = -a, a
        scale = (hi - lo) / (self.qmax - self.qmin) if hi > lo else 1.0
        scale = float(np.float32(scale))
        zp = 0 if self.symmetric and self.int_type == "int8" else round(self.qmin - lo / scale)
        if self.symmetric and self.int_type == "uint8":
            zp = 128
        return scale, int(np.clip(zp, self.qmin, self.qmax))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observe:
            with torch.no_grad():
                lo, hi = x.detach().min(), x.detach().max()
                if torch.isinf(self.lo):
                    self.lo.copy_(lo)
                    self.hi.copy_(hi)
                elif self.enabled:  # during training: EMA
                    self.lo.mul_(EMA).add_((1 - EMA) * lo)
                    self.hi.mul_(EMA).add_((1 - EMA) * hi)
                else:  # calibration: running min/max, like ORT's MinMax
                    self.lo.copy_(torch.minimum(self.lo, lo))
                    self.hi.copy_(torch.maximum(self.hi, hi))
        if not self.enabled:
            return x
        scale, zp = self.scale_zp()
        lo_q, hi_q = (0, 255) if self.int_type == "uint8" else (-128, 127)
        return torch.fake_quantize_per_tensor_affine(x, scale, zp, lo_q, hi_q)


def weight_scale(w: torch.Tensor, per_channel: bool, reduce_range: bool) -> torch.Tensor:
    """ORT's symmetric int8 weight scale: max|w| / 127 (or / 64 with reduce_range), per output channel."""
    qmax = 64.0 if reduce_range else 127.0
    a = w.detach().abs().flatten(1).amax(1) if per_channel else w.detach().abs().amax().reshape(1)
    return (torch.clamp(a, min=1e-8) / qmax).float()


class QuantWeight(nn.Module):
    """Wraps a Conv2d/Linear: its weight is fake-quantized symmetric int8 on every forward."""

    def __init__(self, mod: nn.Module, per_channel: bool, reduce_range: bool) -> None:
        super().__init__()
        self.mod, self.per_channel, self.reduce_range = mod, per_channel, reduce_range
        self.enabled = False
        self.frozen: torch.Tensor | None = None  # the scale, fixed for export (else computed every forward)

    def freeze(self, on: bool = True) -> None:
        self.frozen = weight_scale(self.mod.weight, self.per_channel, self.reduce_range) if on else None

    def qweight(self) -> torch.Tensor:
        w = self.mod.weight
        if not self.enabled:
            return w
        s = self.frozen if self.frozen is not None else weight_scale(w, self.per_channel, self.reduce_range)
        zp = torch.zeros(s.shape[0], dtype=torch.int32, device=w.device)
        if self.per_channel:
            return torch.fake_quantize_per_channel_affine(w, s.to(w.device), zp, 0, -128, 127)
        return torch.fake_quantize_per_tensor_affine(w, float(s[0]), 0, -128, 127)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.mod
        if isinstance(m, nn.Linear):
            return F.linear(x, self.qweight(), m.bias)
        return F.conv2d(x, self.qweight(), m.bias, m.stride, m.padding, m.dilation, m.groups)


def _is_relu(node: Any, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules.get(node.target), nn.ReLU)
    if node.op == "call_function":
        return node.target in (F.relu, torch.relu)
    return node.op == "call_method" and node.target == "relu"


def _is_add(node: Any) -> bool:
    return ((node.op == "call_function" and node.target in (operator.add, torch.add, operator.iadd))
            or (node.op == "call_method" and node.target in ("add", "add_")))


def _is_pool(node: Any, modules: dict[str, nn.Module]) -> bool:
    if node.op == "call_module":
        return isinstance(modules.get(node.target), nn.AdaptiveAvgPool2d | nn.AvgPool2d)
    return node.op == "call_function" and node.target in (F.adaptive_avg_pool2d, F.avg_pool2d)


def _source(node: Any, modules: dict[str, nn.Module]) -> Any:
    """`node` seen through nn.Identity (which exports to nothing). Flatten/reshape are not looked through: ORT
    fuses a Gemm only when DequantizeLinear feeds it directly."""
    while isinstance(node, torch.fx.Node) and node.op == "call_module" and isinstance(modules.get(node.target),
                                                                                      nn.Identity):
        node = node.args[0]
    return node


def prepare_qat(model: nn.Module, recipe: QuantRecipe) -> torch.fx.GraphModule:
    """A copy of `model` (eval mode: BN folded) with fake quantization placed like ORT's QDQ quantizer.

    Observers and fake quantization start disabled and observing; `calibrate` then `enable` switch them.
    """
    from torch.fx.experimental.optimization import fuse

    check_qat_recipe(recipe)
    if not any(p.requires_grad for p in model.parameters()):
        raise UserInputError("QAT needs trainable weights, and this model has none (no parameter requires grad); "
                             "pass a model with Conv/Linear weights")
    try:
        gm = fuse(copy.deepcopy(model).eval())  # symbolic_trace + Conv/BN folding
    except Exception as e:  # torch.fx raises many types on untraceable code
        raise UserInputError(f"QAT needs a model torch.fx can trace ({type(e).__name__}: {str(e)[:200]}); "
                             "data-dependent control flow cannot be fake-quantized this way") from None
    modules = dict(gm.named_modules())
    weighted = [n for n in gm.graph.nodes if n.op == "call_module"
                and isinstance(modules.get(n.target), nn.Conv2d | nn.Linear)]
    if not weighted:
        raise UserInputError("QAT found no Conv2d/Linear layer to quantize in this model")
    for n in weighted:
        mod = modules[n.target]
        if isinstance(mod, nn.Conv2d) and mod.padding_mode != "zeros":
            raise UserInputError(f"layer {n.target}: padding_mode '{mod.padding_mode}' is not exported as QDQ Conv")
        gm.add_submodule(n.target, QuantWeight(mod, recipe.per_channel, recipe.reduce_range))
    act_type, sym = recipe.activation_type, recipe.activation_symmetric
    counter = [0]
    quantized: set[Any] = set()  # fx nodes whose value is already fake-quantized

    def insert_after(node: Any) -> Any:
        name = f"act_q{counter[0]}"
        counter[0] += 1
        gm.add_submodule(name, ActQuant(act_type, sym))
        with gm.graph.inserting_after(node):
            q = gm.graph.call_module(name, (node,))
        node.replace_all_uses_with(q, delete_user_cb=lambda u: u is not q)
        quantized.add(q)
        return q

    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        if node.op == "placeholder":
            insert_after(node)
    for node in list(gm.graph.nodes):
        is_conv = node.op == "call_module" and isinstance(modules.get(node.target), QuantWeight) and \
            isinstance(modules[node.target].mod, nn.Conv2d)
        if not (is_conv or _is_add(node) or _is_pool(node, modules)):
            continue
        users = list(node.users)
        point = users[0] if len(users) == 1 and _is_relu(users[0], modules) else node
        if point not in quantized and not any(u in quantized for u in point.users):
            insert_after(point)
    for node in list(gm.graph.nodes):  # inputs of Conv/Linear/Add not quantized yet (e.g. after a pool)
        is_w = node.op == "call_module" and isinstance(modules.get(node.target), QuantWeight)
        if not (is_w or _is_add(node)):
            continue
        for arg in list(node.args[:1] if is_w else node.args[:2]):
            if isinstance(arg, torch.fx.Node) and _source(arg, modules) not in quantized:
                name = f"act_q{counter[0]}"
                counter[0] += 1
                gm.add_submodule(name, ActQuant(act_type, sym))
                with gm.graph.inserting_after(arg):
                    q = gm.graph.call_module(name, (arg,))
                node.replace_input_with(arg, q)
                quantized.add(q)
    gm.graph.lint()
    gm.recompile()
    return gm


def fake_quant_modules(gm: nn.Module) -> tuple[list[ActQuant], list[QuantWeight]]:
    mods = list(gm.modules())
    return [m for m in mods if isinstance(m, ActQuant)], [m for m in mods if isinstance(m, QuantWeight)]


@torch.no_grad()
def calibrate(gm: nn.Module, batches: list[torch.Tensor]) -> None:
    """MinMax ranges of every activation over `batches` (float forward), then fake quantization on."""
    acts, weights = fake_quant_modules(gm)
    gm.eval()
    for a in acts:
        a.observe, a.enabled = True, False
    for x in batches:
        gm(x)
    for m in (*acts, *weights):
        m.enabled = True
    for a in acts:
        a.observe = False


def set_observing(gm: nn.Module, on: bool) -> None:
    for a in fake_quant_modules(gm)[0]:
        a.observe = on


@dataclass(frozen=True)
class QATConfig:
    """Fine-tuning with fake quantization: few epochs, a small learning rate (the weights start trained), and
    model selection on a held-out `val_fraction` of the training images (epoch 0 = the calibrated starting point,
    PTQ's model; ties keep the earlier state). `keep_ptq`: when no fine-tuned epoch beats epoch 0 on validation,
    write ORT's own PTQ model of the same recipe and calibration images (the starting point itself)."""

    epochs: int = 3
    lr: float = 5e-4
    batch_size: int = 64
    weight_decay: float = 0.0  # the folded weights carry BN's scale: decay would shrink the function itself
    momentum: float = 0.9
    calib_images: int = 1000
    freeze_ranges_after: float = 0.5  # fraction of the epochs during which activation ranges follow an EMA
    seed: int = 0
    augment: bool = True
    val_fraction: float = 0.1
    keep_ptq: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise UserInputError(f"--epochs {self.epochs} must be an integer >= 0")
        if not self.lr > 0:
            raise UserInputError(f"--lr {self.lr} must be > 0 (e.g. 0.0005)")
        if self.batch_size < 2:
            raise UserInputError(f"--batch-size {self.batch_size} must be >= 2")
        if self.calib_images < 1:
            raise UserInputError(f"--calib-size {self.calib_images} must be >= 1")
        if not 0.0 <= self.freeze_ranges_after <= 1.0:
            raise UserInputError(f"freeze_ranges_after {self.freeze_ranges_after} must be in [0, 1]")
        if not 0.0 <= self.val_fraction <= 0.5:
            raise UserInputError(f"--val-fraction {self.val_fraction} must be in [0, 0.5] (e.g. 0.1; 0 = no "
                                 "held-out split, the last epoch is kept)")


def holdout_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fine-tuning indices, validation indices) of `n` items: disjoint, sorted, together all of 0..n-1;
    round(fraction * n) items (at least 1 when fraction > 0) held out, drawn with `seed`.

    >>> fit, val = holdout_split(10, 0.2, seed=0)
    >>> len(fit), len(val), sorted(set(fit) | set(val)) == list(range(10))
    (8, 2, True)
    """
    k = 0 if fraction <= 0 else max(1, round(fraction * n))
    if k and n - k < 1:
        raise UserInputError(f"--val-fraction {fraction} of {n} images leaves nothing to fine-tune on")
    perm = np.random.default_rng([seed, 0x7A1]).permutation(n)
    return np.sort(perm[k:]), np.sort(perm[:k])


def split_for_validation(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset | None]:
    """`data` split by `holdout_split` into (fine-tuning set, validation set or None when fraction is 0)."""
    fit, val = holdout_split(len(data), fraction, seed)
    if len(val) == 0:
        return data, None
    return (Dataset(data.images[fit], data.labels[fit], f"{data.name}[fit {len(fit)}@{seed}]", data.class_names),
            Dataset(data.images[val], data.labels[val], f"{data.name}[val {len(val)}@{seed}]", data.class_names))


@torch.no_grad()
def predict(model: nn.Module, data: Dataset, pp: Any, batch_size: int = 500) -> tuple[np.ndarray, float]:
    """Top-1 predictions and mean cross-entropy of `model` (eval mode) on `data`; fake-quant observers stay off,
    so evaluating never moves an activation range."""
    from edgebench.exporter.train.loop import to_tensor

    acts = fake_quant_modules(model)[0]
    observing = [a.observe for a in acts]
    was_training = model.training
    model.eval()
    for a in acts:
        a.observe = False
    preds, loss = [], 0.0
    try:
        for i in range(0, len(data), batch_size):
            logits = model(to_tensor(data.images[i:i + batch_size], pp, torch.device("cpu")))
            loss += float(F.cross_entropy(logits, torch.from_numpy(data.labels[i:i + batch_size]), reduction="sum"))
            preds.append(logits.argmax(1).numpy())
    finally:
        for a, o in zip(acts, observing, strict=True):
            a.observe = o
        model.train(was_training)
    return np.concatenate(preds), loss / max(1, len(data))


def validation_row(model: nn.Module, data: Dataset, pp: Any, epoch: int,
                   reference: np.ndarray | None = None) -> dict[str, Any]:
    """One point of the validation curve: top-1, loss and (with the FP32 model's `reference` predictions)
    top-1 agreement with FP32 on the held-out images."""
    p, loss = predict(model, data, pp)
    row = {"epoch": epoch, "val_top1_pct": 100.0 * float((p == data.labels).mean()), "val_loss": loss,
           "val_correct": int((p == data.labels).sum()), "n": len(data)}
    if reference is not None:
        row["val_agree_fp32_pct"] = 100.0 * float((p == reference).mean())
    return row


@dataclass
class QATRun:
    """What `qat_train` did: one row per fine-tuning epoch, the validation curve (epoch 0 = after calibration),
    the epoch whose state the model now holds, and the last epoch's state when another one was selected."""

    history: list[dict[str, Any]]
    val_curve: list[dict[str, Any]]
    selected_epoch: int
    last_state: dict[str, torch.Tensor] | None = None


def qat_train(gm: nn.Module, train_data: Any, pp: Any, cfg: QATConfig, *, val_data: Dataset | None = None,
              teacher: nn.Module | None = None, distill: Any = None, fp32: nn.Module | None = None,
              log: Log | None = None) -> QATRun:
    """Fine-tune the fake-quant model in place (`exporter.train.finetune`); activation ranges follow an EMA for the
    first `freeze_ranges_after` of the epochs, then stay fixed.

    With `val_data` (images not in `train_data`), the model is scored on it after calibration (epoch 0) and
    after every epoch, and ends holding the best-scoring state (top-1; a tie keeps the earlier epoch, fewer
    changes). Without it the last epoch is kept. `fp32` (the float model) adds agreement with it to the curve.
    """
    from edgebench.exporter.train.finetune import finetune

    say = log or (lambda _m: None)
    curve: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": cfg.epochs, "correct": -1, "state": None}
    reference = predict(fp32, val_data, pp)[0] if fp32 is not None and val_data is not None else None

    def score(epoch: int, val_data: Dataset) -> dict[str, Any]:
        row = validation_row(gm, val_data, pp, epoch, reference)
        curve.append(row)
        if row["val_correct"] > best["correct"]:  # strictly better: a tie keeps the earlier state
            best.update(epoch=epoch, correct=row["val_correct"], state=copy.deepcopy(gm.state_dict()))
        agree = f", agreement with FP32 {row['val_agree_fp32_pct']:.2f} %" if reference is not None else ""
        say(f"qat validation epoch {epoch}: top-1 {row['val_top1_pct']:.2f} % on {len(val_data)} held-out images, "
            f"loss {row['val_loss']:.4f}{agree}")
        return row

    def after_epoch(row: dict[str, Any]) -> None:
        if val_data is not None:
            v = score(int(row["epoch"]), val_data)
            row.update({k: v[k] for k in v if k.startswith("val_")})

    if val_data is not None:
        score(0, val_data)
    history = finetune(gm, train_data, pp, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size,
                       weight_decay=cfg.weight_decay, momentum=cfg.momentum, seed=cfg.seed, augment=cfg.augment,
                       teacher=teacher, distill=distill, log=log, tag="qat",
                       before_epoch=lambda e: set_observing(gm, e < cfg.freeze_ranges_after * cfg.epochs),
                       after_epoch=after_epoch)
    set_observing(gm, False)
    selected, last_state = cfg.epochs, None
    if val_data is not None and best["epoch"] != cfg.epochs:
        selected = int(best["epoch"])
        last_state = copy.deepcopy(gm.state_dict())
        gm.load_state_dict(best["state"])
        say(f"qat keeps epoch {selected} (best validation top-1 {100.0 * best['correct'] / len(val_data):.2f} %; "
            f"later epochs did not beat it)")
    gm.eval()
    return QATRun(history, curve, selected, last_state)


# ---- export -------------------------------------------------------------------------------------------


def export_qdq(gm: nn.Module, example: torch.Tensor, path: Any, *, opset: int = 17, input_name: str = "input",
               output_name: str = "logits") -> None:
    """TorchScript-export the fake-quant model to QDQ ONNX at `path`, then fold weights to int8 / biases to int32."""
    import io
    import warnings

    import onnx

    gm.eval()
    buf = io.BytesIO()
    weights = fake_quant_modules(gm)[1]
    for w in weights:
        w.freeze()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(gm, (example,), buf, dynamo=False, opset_version=opset, input_names=[input_name],
                              output_names=[output_name], do_constant_folding=True,
                              dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}})
    finally:
        for w in weights:
            w.freeze(False)
    model = onnx.load_from_string(buf.getvalue())
    fold_weight_quantization(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def fold_weight_quantization(model: Any) -> int:
    """QuantizeLinear(float initializer) -> int8 initializer; float Conv/Gemm biases -> int32 behind a
    DequantizeLinear with scale = input scale x weight scale (what ORT's QLinearConv/QGemm fusions take)."""
    from onnx import helper, numpy_helper

    g = model.graph
    # Constant nodes -> initializers (the TorchScript exporter writes scales/zero points as Constants)
    for n in [n for n in g.node if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"]:
        t = numpy_helper.to_array(n.attribute[0].t)
        g.initializer.append(numpy_helper.from_array(t, n.output[0]))
        g.node.remove(n)
    inits = {i.name: i for i in g.initializer}
    # Cast of a constant (zero points the exporter casts to int8/uint8) -> a typed initializer
    from onnx import helper as _h

    for n in [n for n in g.node if n.op_type == "Cast" and n.input[0] in inits]:
        to = next(a.i for a in n.attribute if a.name == "to")
        v = numpy_helper.to_array(inits[n.input[0]]).astype(_h.tensor_dtype_to_np_dtype(to))
        g.initializer.append(numpy_helper.from_array(v, n.output[0]))
        g.node.remove(n)
    inits = {i.name: i for i in g.initializer}

    def arr(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name])

    folded = 0
    for q in [n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] in inits]:
        w, s = arr(q.input[0]).astype(np.float32), arr(q.input[1]).astype(np.float32)
        zp = arr(q.input[2]) if len(q.input) > 2 and q.input[2] else np.zeros((), np.uint8)
        axis = next((a.i for a in q.attribute if a.name == "axis"), 1) % w.ndim
        shape = [1] * w.ndim
        if s.ndim:
            shape[axis] = s.size
        info = np.iinfo(zp.dtype)
        qw = np.clip(np.round(w / s.reshape(shape if s.ndim else ())) + zp.astype(np.int64).reshape(
            shape if zp.ndim else ()), info.min, info.max).astype(zp.dtype)
        name = q.input[0] + "_quantized"
        g.initializer.append(numpy_helper.from_array(qw, name))
        for n in g.node:
            for i, inp in enumerate(n.input):
                if inp == q.output[0]:
                    n.input[i] = name
        g.node.remove(q)
        folded += 1
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    for node in [n for n in g.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2] in inits]:
        xdq, wdq = producer.get(node.input[0]), producer.get(node.input[1])
        if xdq is None or wdq is None or "DequantizeLinear" not in (xdq.op_type, wdq.op_type) or \
                xdq.op_type != "DequantizeLinear" or wdq.op_type != "DequantizeLinear":
            continue
        if xdq.input[1] not in inits or wdq.input[1] not in inits:
            continue
        b = arr(node.input[2]).astype(np.float64)
        scale = (arr(xdq.input[1]).astype(np.float32) * arr(wdq.input[1]).astype(np.float32).reshape(-1))
        scale = np.broadcast_to(scale, b.shape).astype(np.float32).copy()
        qb = np.round(b / scale.astype(np.float64)).astype(np.int32)
        base = node.input[2]
        g.initializer.extend([numpy_helper.from_array(qb, base + "_quantized"),
                              numpy_helper.from_array(scale, base + "_quantized_scale"),
                              numpy_helper.from_array(np.zeros(b.shape, np.int32), base + "_quantized_zero_point")])
        dq = helper.make_node("DequantizeLinear", [base + "_quantized", base + "_quantized_scale",
                                                  base + "_quantized_zero_point"], [base + "_dq"], name=base + "_dq",
                              axis=0)
        g.node.insert(0, dq)
        node.input[2] = base + "_dq"
    used = {i for n in g.node for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    for vi in [v for v in g.input if v.name in {i.name for i in g.initializer}]:
        g.input.remove(vi)
    return folded


def qdq_parity(gm: nn.Module, onnx_path: Any, x: np.ndarray, input_name: str = "input") -> dict[str, Any]:
    """ORT (INT8 kernels) vs the fake-quant PyTorch model on the same inputs: max |logit diff| and top-1 agreement."""
    from edgebench.runtimes.ort.options import cpu_session

    sess = cpu_session(onnx_path, intra_op_threads=1)
    outs, refs = [], []
    with torch.no_grad():
        for i in range(0, len(x), 100):
            outs.append(sess.run(None, {input_name: x[i:i + 100]})[0])
            refs.append(gm(torch.from_numpy(x[i:i + 100])).numpy())
    o, r = np.concatenate(outs), np.concatenate(refs)
    diff = compare_outputs(o, r, 0.0, 0.0)  # QAT is held to top-1 agreement (QAT_MIN_TOP1_AGREEMENT), not a bound
    return {"n": len(x), "max_abs_diff": diff["max_abs_diff"], "logit_range": diff["max_abs_ref"],
            "top1_agreement": top1_agreement(o, r)}


# ---- the whole job: FP32 parent, fine-tune, export, check -------------------------------------------------



def run_qat(model: nn.Module, spec: Any, out_dir: Any, train_data: Any, choice: Any, cfg: QATConfig, *,
            eval_data: Any = None, distill: Any = None, weights: Any = None, force: bool = False,
            log: Log | None = None) -> Any:
    """Export the FP32 parent (`DIR/model.fp32.onnx`), fine-tune `model` with
    fake quantization for `choice.recipe`, and write `DIR/model.int8.onnx` + manifest derived from the parent.

    Returns the INT8 manifest. Refuses (ParityError, nothing written) when ORT's INT8 disagrees with the
    fake-quant model on more than 2 % of the parity images.
    """
    from pathlib import Path

    from edgebench.atomic import removed_on_failure
    from edgebench.errors import OutputExistsError
    from edgebench.exporter.export import ONNX_FILE
    from edgebench.manifest import manifest_path

    log = log or (lambda _m: None)
    out_dir = Path(out_dir)
    out = out_dir / "model.int8.onnx"
    for p in (out, manifest_path(out), out_dir / ONNX_FILE):
        if p.exists() and not force:
            raise OutputExistsError(f"'{p}' already exists; pass --force to overwrite it")
    recipe = choice.recipe
    check_qat_recipe(recipe)
    train_data.require_labels("QAT fine-tuning and validation")  # before the export, not 13 s later
    if eval_data is not None:
        eval_data.require_labels("evaluation")
    fp32_path = out_dir / ONNX_FILE
    # a failure or Ctrl-C after the FP32 parent is exported takes back the files this run created
    with removed_on_failure(fp32_path, manifest_path(fp32_path), out, manifest_path(out)):
        return _run_qat(model, spec, out_dir, train_data, choice, cfg, eval_data=eval_data, distill=distill,
                        weights=weights, force=force, log=log)


def _run_qat(model: nn.Module, spec: Any, out_dir: Any, train_data: Any, choice: Any, cfg: QATConfig, *,
             eval_data: Any, distill: Any, weights: Any, force: bool, log: Log) -> Any:
    """`run_qat` once its inputs are checked: export, calibrate, fine-tune, select, write."""
    import time
    from datetime import UTC, datetime

    from edgebench.atomic import atomic_path, write_json
    from edgebench.calibration.bits import executed_ops
    from edgebench.calibration.preprocess import preprocess
    from edgebench.calibration.quantize import _versions, count_nodes
    from edgebench.exporter.export import ONNX_FILE, export_model
    from edgebench.exporter.train.loop import evaluate_model
    from edgebench.manifest import manifest_path, read_manifest, sha256_file

    out = out_dir / "model.int8.onnx"
    recipe = choice.recipe
    pp = spec.input.preprocessing
    t0 = time.perf_counter()
    gm = prepare_qat(model, recipe)  # checks trainable weights and traceability before anything is written
    fp32_path = out_dir / ONNX_FILE
    log(f"export the FP32 parent -> {fp32_path}")
    parent = export_model(model, spec, out_dir, parity_dataset=eval_data, parity_images=200,
                          accuracy_images=1000 if eval_data is not None else None, force=True, weights=weights)
    parent = read_manifest(manifest_path(fp32_path))

    # calibration: the images PTQ (`edgebench quantize --calib-size N --seed S`) draws, so epoch 0 is its model;
    # fine-tuning and model selection: the training images split into disjoint fit / validation sets
    calib = train_data.subset(cfg.calib_images, seed=cfg.seed)
    fit, val = split_for_validation(train_data, cfg.val_fraction, cfg.seed)
    calibrate(gm, [torch.from_numpy(preprocess(calib.images[i:i + 100], pp)) for i in range(0, len(calib), 100)])
    before = evaluate_model(gm, eval_data, pp) if eval_data is not None else None
    if before:
        log(f"fake-quant before fine-tuning (= PTQ MinMax with this recipe): top-1 {before['top1_pct']:.2f} %")
    teacher = copy.deepcopy(model).eval() if distill is not None else None
    if teacher is not None:
        for p in teacher.parameters():
            p.requires_grad_(False)
    run = qat_train(gm, fit, pp, cfg, val_data=val, teacher=teacher, distill=distill, fp32=model, log=log)
    after = evaluate_model(gm, eval_data, pp) if eval_data is not None else None
    last = None
    if eval_data is not None and run.last_state is not None:  # reported only: selection never sees these images
        last_gm = copy.deepcopy(gm)
        last_gm.load_state_dict(run.last_state)
        last = evaluate_model(last_gm, eval_data, pp)
    if after:
        log(f"fake-quant at the kept epoch {run.selected_epoch} of {cfg.epochs}: top-1 {after['top1_pct']:.2f} %"
            + (f" (last epoch: {last['top1_pct']:.2f} %)" if last else ""))
    ptq = cfg.keep_ptq and cfg.epochs > 0 and val is not None and run.selected_epoch == 0
    qat_info = {
        "epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size, "train_data": train_data.name,
        "train_images": len(fit), "calib_images": len(calib), "seed": cfg.seed,
        "ema_ranges_for_epochs": int(cfg.freeze_ranges_after * cfg.epochs),
        "distill": None if distill is None else {"alpha": distill.alpha, "temperature": distill.temperature},
        "augment": "random crop (pad 4) + horizontal flip" if cfg.augment else None,
        "fake_quant": "torch.fake_quantize_per_{channel,tensor}_affine via torch.fx (BN folded)",
        "validation": None if val is None else {
            "images": len(val), "fraction": cfg.val_fraction, "data": val.name,
            "rule": "best validation top-1 of the fake-quant model; a tie keeps the earlier epoch (0 = calibrated)",
            "curve": run.val_curve},
        "selected_epoch": run.selected_epoch,
        "exported": ("ptq: no fine-tuned epoch beat the calibrated start on validation, so ORT's static INT8 of "
                     "the same recipe and calibration images is written") if ptq else "fake-quant QDQ export",
        "top1_pct_torch_before": before and before["top1_pct"],
        "top1_pct_torch_after": after and after["top1_pct"],
        "top1_pct_torch_last_epoch": last and last["top1_pct"],
        "history": run.history}

    parity_x = preprocess((eval_data or train_data).images[:500], pp)
    if ptq:
        manifest = _write_ptq(fp32_path, out, calib, choice, gm, parity_x, qat_info, train_data.name, cfg, force,
                              t0)
        log("wrote ORT's PTQ model (the starting point): fine-tuning did not improve validation top-1")
        return manifest
    example = torch.from_numpy(parity_x[:2])
    with atomic_path(out, force=force) as tmp:
        export_qdq(gm, example, tmp)
        parity = qdq_parity(gm, tmp, parity_x)
        _check_parity(parity)
        import onnx

        nodes = count_nodes(onnx.load(str(tmp)))
        nodes["ort_cpu"] = executed_ops(tmp)
        manifest = parent.derive(
            precision="int8", onnx_file=out.name, quantization_mode="qat", parent_file=fp32_path.name,
            parent_sha256=sha256_file(fp32_path), parent_file_size_mb=fp32_path.stat().st_size / 1e6,
            created_utc=datetime.now(UTC).isoformat(timespec="seconds"), versions={**_versions(),
                                                                                    "torch": torch.__version__},
            recipe=recipe.to_dict(), preset=choice.to_dict(), nodes=nodes,
            qat={**qat_info, "parity_vs_fake_quant": parity, "seconds": round(time.perf_counter() - t0, 1)},
        ).with_file(tmp).replace(onnx_file=out.name)
        write_json(manifest_path(out), manifest.to_dict(), force=True)
    return manifest


def _check_parity(parity: dict[str, Any]) -> None:
    from edgebench.errors import ParityError

    if parity["top1_agreement"] < QAT_MIN_TOP1_AGREEMENT:
        raise ParityError(
            f"QDQ ONNX (ORT INT8) agrees with the fake-quant PyTorch model on {100 * parity['top1_agreement']:.1f} "
            f"% of {parity['n']} images (< {100 * QAT_MIN_TOP1_AGREEMENT:.0f} %); nothing written")


def _write_ptq(fp32_path: Any, out: Any, calib: Dataset, choice: Any, gm: nn.Module, parity_x: np.ndarray,
               qat_info: dict[str, Any], data_name: str, cfg: QATConfig, force: bool, t0: float) -> Any:
    """ORT's static INT8 of `fp32_path` (the preset, the calibration images): QAT's epoch 0 as PTQ writes it,
    with the `qat` record; checked against the calibrated fake-quant model like a QAT export."""
    import shutil
    import tempfile
    import time
    from pathlib import Path

    from edgebench.atomic import atomic_path, write_json
    from edgebench.calibration.bits import executed_ops
    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.manifest import manifest_path

    with tempfile.TemporaryDirectory(prefix="edgebench-qat-") as td:
        src = Path(td) / Path(out).name
        ptq = quantize_static_model(fp32_path, calib, choice, output=src, dataset_spec=data_name, seed=cfg.seed,
                                    force=True)
        parity = qdq_parity(gm, src, parity_x)
        _check_parity(parity)
        nodes = {**(ptq.nodes or {}), "ort_cpu": executed_ops(src)}
        with atomic_path(out, force=force) as tmp:
            shutil.copyfile(src, tmp)
            manifest = ptq.replace(nodes=nodes, qat={**qat_info, "parity_vs_fake_quant": parity,
                                        "seconds": round(time.perf_counter() - t0, 1)}
                                   ).with_file(tmp).replace(onnx_file=Path(out).name)
            write_json(manifest_path(out), manifest.to_dict(), force=True)
    return manifest


@dataclass(frozen=True)
class QATJob:
    """Everything `edgebench qat` does, as one value: the model, images and output folder, the fine-tuning
    config, the preset whose recipe the fake quantization mirrors (checked here: 8-bit QDQ only) and an optional
    distillation from the FP32 model. Nothing is read or written until `run_qat_job`."""

    request: FinetuneRequest
    config: QATConfig
    choice: PresetChoice
    distill: DistillConfig | None = None

    def __post_init__(self) -> None:
        check_qat_recipe(self.choice.recipe)


def run_qat_job(job: QATJob, log: Log) -> Manifest:
    """Load the model and images of `job`, then `run_qat`; returns the INT8 manifest."""
    loaded, train, ev = job.request.load(log)
    return run_qat(loaded.model, loaded.spec, job.request.out_dir, train, job.choice, job.config, eval_data=ev,
                   distill=job.distill, weights=loaded.weights, force=job.request.force, log=log)
