"""One quantize entry: `quantize(model_in, model_out, config)`, dispatching on the config's type (as ORT's
`quantize(in, out, config)`). The CLI (`edgebench quantize`) and the sweep's quantize stage build a config and
call it; the mode switch (static / bit widths / accuracy budget / dynamic / fp16) is the table `RUNNERS`.

Example::

    choice = resolve_preset("auto", cpu=cpu_info())
    r = quantize(Path("artifacts/m/model.fp32.onnx"), None, StaticConfig(choice, "cifar10:train"))
    r.path, r.manifest.calibration.size, r.lines()   # the written file, its manifest, what the CLI prints
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from edgebench.artifact import ModelArtifact
from edgebench.calibration.accuracy_aware import AccuracyBudget, resolve_fallback
from edgebench.calibration.quantize import (
    CalibrationSettings,
    Log,
    Mode,
    as_artifact,
    check_output,
    convert_fp16_model,
    quantize_dynamic_model,
    quantize_static_model,
    resolve_output,
)
from edgebench.calibration.recipes import PresetChoice
from edgebench.errors import UserInputError
from edgebench.manifest import Manifest
from edgebench.units import format_mb

if TYPE_CHECKING:
    from edgebench.calibration.dataset import Dataset


@dataclass(frozen=True)
class StaticConfig:
    """Static INT8: the resolved preset (with its overrides), the calibration images and how they are drawn."""

    choice: PresetChoice
    data: str
    calib: CalibrationSettings = field(default_factory=CalibrationSettings)
    data_dir: Path | None = None
    download: bool = True
    labels_file: Path | None = None
    preprocess_model: bool = True
    force: bool = False
    mode: ClassVar[Mode] = "static"

    def __post_init__(self) -> None:
        if not self.data:
            raise UserInputError("--mode static needs calibration data: --data cifar10:train, an .npz or an image "
                                 "folder")


@dataclass(frozen=True)
class BitsConfig(StaticConfig):
    """Static quantization at other bit widths: weights 8/6/4, activations 8/16 (applied to the recipe here)."""

    weight_bits: int | None = None
    activation_bits: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        recipe = self.choice.recipe.with_overrides(weight_bits=self.weight_bits, activation_bits=self.activation_bits)
        object.__setattr__(self, "choice", replace(self.choice, recipe=recipe))


@dataclass(frozen=True)
class BudgetConfig:
    """Accuracy-aware static INT8: the static config, the budget, and the labelled eval images `eval_spec` (its
    first `eval_size`), read (with the static config's data_dir/download) and predicted by the model's task."""

    static: StaticConfig
    budget: AccuracyBudget
    eval_spec: str
    eval_size: int | None = None
    mode: ClassVar[Mode] = "static"

    def __post_init__(self) -> None:
        resolve_fallback(self.budget, self.static.choice.recipe)  # --fallback int8 on 8-bit weights: refused now
        if not self.eval_spec:
            raise UserInputError(f"--accuracy-budget {self.budget.budget_pts} needs labelled images to measure the "
                                 "drop on: --eval-data cifar10 (test split), an .npz with labels or a class-folder "
                                 "tree")

    @property
    def choice(self) -> PresetChoice:
        return self.static.choice


@dataclass(frozen=True)
class DynamicConfig:
    """Dynamic INT8: weights quantized offline with the preset's types, activations at run time."""

    choice: PresetChoice
    preprocess_model: bool = True
    force: bool = False
    mode: ClassVar[Mode] = "dynamic"


@dataclass(frozen=True)
class Fp16Config:
    """FP16 weights and compute (inputs/outputs stay FP32)."""

    force: bool = False
    mode: ClassVar[Mode] = "fp16"


QuantizeConfig = StaticConfig | BitsConfig | BudgetConfig | DynamicConfig | Fp16Config


@dataclass(frozen=True)
class QuantizeResult:
    """What `quantize` wrote: the model file, its manifest, and the config that made it (`lines`: the summary)."""

    path: Path
    manifest: Manifest
    config: QuantizeConfig

    def lines(self) -> list[str]:
        """The summary `edgebench quantize` prints: preset, recipe, calibration, budget, nodes, file sizes."""
        m = self.manifest
        parent_mb, child_mb = m.parent_file_size_mb or 0.0, m.file_size_mb or 0.0
        ratio = parent_mb / child_mb if child_mb else float("nan")
        out = [*self._recipe_lines(), *_calibration_lines(m), *_budget_lines(m), *_node_lines(m)]
        out.append(f"wrote    {self.path} ({format_mb(child_mb)}; FP32 {format_mb(parent_mb)}, {ratio:.2f}x smaller)")
        return out

    def _recipe_lines(self) -> list[str]:
        choice, r = getattr(self.config, "choice", None), self.manifest.recipe
        if choice is None or r is None:
            return []
        bits = f" bits w{r.weight_bits}/a{r.activation_bits}" if self.config.mode == "static" else ""
        return [f"preset   {choice.preset}: {choice.reason}",
                f"recipe   {r.quant_format} act={r.activation_type} weight={r.weight_type} per_channel={r.per_channel} "
                f"reduce_range={r.reduce_range} method={r.method}{bits}"]


def _calibration_lines(m: Manifest) -> list[str]:
    c = m.calibration
    if c is None or m.quantization_mode != "static":
        return []
    how = "first" if c.seed is None else f"seed {c.seed}"
    size = c.size or 0
    asked = f" (of {c.requested_size} asked for)" if (c.requested_size or size) > size else ""
    return [f"calib    {size} images{asked} of {c.dataset} ({how}), sha256 {(c.sha256 or '')[:12]}"]


def _budget_lines(m: Manifest) -> list[str]:
    a = m.accuracy_aware
    if not a:
        return []
    kept = ", ".join(a["float_nodes"]) or "none"
    at8 = f"; 8-bit: {', '.join(a.get('int8_nodes', [])) or 'none'}" if a.get("fallback") == "int8" else ""
    return [f"budget   {a['budget_pts']} points on {a['eval_images']} images of {a['eval_data']}: drop "
            f"{a['drop_before_pts']:+.2f} -> {a['drop_after_pts']:+.2f} ({'met' if a['met'] else 'NOT met'}); "
            f"float: {kept}{at8}"]


def _node_lines(m: Manifest) -> list[str]:
    n = m.nodes
    if not n:
        return []
    left = ", ".join(f"{k} x{v}" for k, v in n["float_op_types"].items()) or "none"
    out = [f"nodes    {n['int8']} INT8, {n['float']} float ({left})"]
    by_reason: dict[str, list[str]] = {}
    for node, why in (n.get("float_nodes") or {}).items():
        by_reason.setdefault(why, []).append(node)
    for why, names in by_reason.items():
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        out.append(f"float    {shown}: {why}")
    if "ort_cpu" in n:
        e = n["ort_cpu"]
        how = ", ".join(f"{k} x{v}" for k, v in e["float_compute"].items()) or "none"
        out.append(f"ORT CPU  integer kernels: {', '.join(e['integer_compute']) or 'none'}; float compute on "
                   f"dequantized tensors: {how}")
    return out


# ---- the runners, one per config type --------------------------------------------------------------------


def calibration_data(artifact: ModelArtifact, config: StaticConfig) -> Dataset:
    """The calibration images of `config`, decoded with the model's preprocessing and labelled in its classes."""
    from edgebench.calibration.datasets import load_dataset
    from edgebench.calibration.labels import classes_for

    info = artifact.manifest.input if artifact.manifest else None
    classes = classes_for(info.dataset, info.class_names, artifact.manifest.num_classes) \
        if info and artifact.manifest else None
    return load_dataset(config.data, config.data_dir, config.download, size=config.calib.size,
                        seed=config.calib.seed, preprocessing=info.preprocessing if info else None, classes=classes,
                        labels_file=config.labels_file, input_hw=info.image_hw() if info else None)


def _static_kwargs(c: StaticConfig, output: Path | None, log: Log | None) -> dict[str, Any]:
    return {"output": output, "batch_size": c.calib.batch_size, "dataset_spec": c.data, "seed": c.calib.seed,
            "preprocess_model": c.preprocess_model, "force": c.force, "log": log, "requested_size": c.calib.size}


def _static(artifact: ModelArtifact, output: Path | None, c: StaticConfig, log: Log | None) -> Manifest:
    check_output(artifact.path, output, "static", c.force)  # before the calibration data is read
    ds = calibration_data(artifact, c)
    return quantize_static_model(artifact, ds, c.choice, **_static_kwargs(c, output, log))


def _budget(artifact: ModelArtifact, output: Path | None, c: BudgetConfig, log: Log | None) -> Manifest:
    from edgebench.calibration.accuracy_aware import accuracy_aware_quantize
    from edgebench.calibration.eval_set import eval_set
    from edgebench.task import DETECTION

    s = c.static
    check_output(artifact.path, output, "static", s.force)
    calib = calibration_data(artifact, s)
    ev, predict, task = eval_set(artifact.manifest, c.eval_spec, c.eval_size, data_dir=s.data_dir,
                                 download=s.download)
    say = log or (lambda _m: None)
    if str(Path(c.eval_spec)) == str(Path(s.data)) or str(Path(c.eval_spec) / "images") == str(Path(s.data)):
        say(f"note: --eval-data is the calibration data ({s.data}); the budget then holds on images the ranges "
            "were fitted to")
    metric = "mAP@0.5:0.95 points" if task is not None and task.name == DETECTION else "points"
    say(f"accuracy-aware PTQ: budget {c.budget.budget_pts} {metric} on {len(ev)} images of {c.eval_spec}")
    return accuracy_aware_quantize(artifact, calib, s.choice, ev, predict, c.budget, task=task,
                                   eval_spec=c.eval_spec, **_static_kwargs(s, output, log))


def _dynamic(artifact: ModelArtifact, output: Path | None, c: DynamicConfig, log: Log | None) -> Manifest:
    return quantize_dynamic_model(artifact, c.choice, output=output, preprocess_model=c.preprocess_model,
                                  force=c.force, log=log)


def _fp16(artifact: ModelArtifact, output: Path | None, c: Fp16Config, _log: Log | None) -> Manifest:
    return convert_fp16_model(artifact, output=output, force=c.force)


RUNNERS: dict[type, Callable[..., Manifest]] = {
    StaticConfig: _static, BitsConfig: _static, BudgetConfig: _budget, DynamicConfig: _dynamic, Fp16Config: _fp16,
}


def quantize(model_in: Path | ModelArtifact, model_out: Path | None, config: QuantizeConfig, *,
             log: Log | None = None) -> QuantizeResult:
    """Quantize `model_in` as `config` says into `model_out` (an .onnx file or a folder; None: beside the model)
    and write its manifest; `log` gets the notes (fewer images than asked, an opset upgrade, the budget's steps)."""
    run = RUNNERS.get(type(config))
    if run is None:
        raise TypeError(f"quantize() takes one of {', '.join(t.__name__ for t in RUNNERS)}, not "
                        f"{type(config).__name__}")
    artifact = as_artifact(model_in)
    manifest = run(artifact, model_out, config, log)
    return QuantizeResult(resolve_output(artifact.path, model_out, config.mode), manifest, config)

