"""The sweep file: TOML -> frozen dataclasses, validated before any work (no side effects here).

Example (``examples/sweep-resnet20.toml`` is the full one)::

    models = ["resnet20"]
    [prune]
    ratios = [0.3, 0.5]
    [quantize]
    precisions = ["fp32", "int8:auto", "int8:qdq-s8s8-tensor"]
    [bench]
    runtimes = ["installed"]
    threads = [1, 2]

    cfg = load_sweep(Path("sweep.toml"))
    cfg.bench.threads  # (1, 2)

Unknown keys, models, presets and runtimes are refused with the closest name; an empty grid is refused.
Whether a runtime is installed, whether the data exist and whether each device is in the device registry
(with a suggestion) is checked by `edgebench.sweep.run.preflight`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Union

from edgebench.errors import NotFoundError, UserInputError, check_one_of, suggest
from edgebench.parity import ConvertTolerance
from edgebench.readers import parse_toml, read_text_file
from edgebench.runtimes.precisions import REDUCED, precision_way
from edgebench.runtimes.precisions import runs as runtime_runs

PRECISION_KINDS = ("fp32", "bf16", "fp16", "int8", "int8-dynamic")
METRICS = ("p50_ms", "peak_rss_mb", "file_size_mb")
ALL_INSTALLED = "installed"
LOCAL = "local"
# which model files each runtime the sweep drives can run: None = any precision of an ONNX file
RUNTIME_PRECISIONS: dict[str, frozenset[str] | None] = {
    "ort-cpu": None,
    "torch": frozenset({"fp32"}),  # rebuilds the PyTorch module from the FP32 model folder
    "torch-int8": frozenset({"fp32"}),  # quantizes the FP32 module itself (PyTorch's own INT8)
}


def convert_precisions(runtime: str) -> tuple[str, ...]:
    """The precisions a converting runtime (openvino, litert, ncnn) runs in a sweep; () for the others.

    Its `converts` (what `edgebench convert` makes from the FP32 model) plus fp32 when it reads the
    ONNX file directly (OpenVINO).

    >>> convert_precisions("openvino"), convert_precisions("ncnn"), convert_precisions("ort-cpu")
    (('fp32', 'int8'), ('fp32',), ())
    """
    from edgebench.runtimes import RUNTIMES, runtime_names

    if runtime in RUNTIME_PRECISIONS or runtime not in runtime_names():
        return ()
    cls = RUNTIMES.get(runtime)
    makes = tuple(getattr(cls, "converts", ()))
    if getattr(cls, "reads_onnx", False) and "fp32" not in makes:
        makes = ("fp32", *makes)
    return tuple(p for p in ("fp32", "int8") if p in makes)


def sweep_runtimes() -> list[str]:
    """Every registered runtime a sweep can drive: ONNX-file runtimes and converting runtimes."""
    from edgebench.runtimes import runtime_names

    return [r for r in runtime_names() if r in RUNTIME_PRECISIONS or convert_precisions(r)]


def _fail(msg: str) -> UserInputError:
    return UserInputError(msg)


@dataclass(frozen=True)
class Precision:
    """One entry of `quantize.precisions`: ``fp32``, ``bf16``, ``fp16``, ``int8[:PRESET]``, ``int8-dynamic[:PRESET]``.

    bf16/fp16 run where a runtime runs them (`edgebench.runtimes.precisions`): ort-cpu's fp16 is the
    model.fp16.onnx of `quantize --mode fp16`; openvino, ncnn and torch run the FP32 model with the options
    that select bf16/fp16 arithmetic.

    >>> Precision.parse("int8:x86-vnni")
    Precision(kind='int8', preset='x86-vnni')
    >>> Precision.parse("int8").preset
    'auto'
    """

    kind: str
    preset: str | None = None

    @classmethod
    def parse(cls, text: str) -> Precision:
        kind, _, preset = str(text).partition(":")
        kind = kind.strip()
        if kind not in PRECISION_KINDS:
            raise _fail(f"precision '{text}' is not one of {', '.join(PRECISION_KINDS)} (int8 and int8-dynamic take "
                        f"':PRESET', e.g. int8:x86-vnni).{suggest(kind, PRECISION_KINDS)}")
        if kind in ("fp32", "bf16", "fp16"):
            if preset:
                raise _fail(f"precision '{text}': {kind} takes no preset; write '{kind}'")
            return cls(kind)
        return cls(kind, preset.strip() or "auto")

    def __post_init__(self) -> None:
        if self.preset is not None and self.preset != "auto":
            from edgebench.calibration.recipes import preset_names

            names = preset_names()
            if self.preset not in names:
                raise NotFoundError(f"unknown INT8 preset '{self.preset}' in precision '{self}'; known: "
                                    f"{', '.join(names)}.{suggest(self.preset, names)}")

    @property
    def file_precision(self) -> str:
        """The precision of the model file this makes (what `RUNTIME_PRECISIONS` is about)."""
        return self.kind

    def __str__(self) -> str:
        return self.kind if self.preset is None else f"{self.kind}:{self.preset}"


def _positive_ints(values: tuple[int, ...], where: str) -> None:
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise _fail(f"{where} holds {v!r}; give integers >= 1")
    if len(set(values)) != len(values):
        raise _fail(f"{where} lists a value twice: {list(values)}")


@dataclass(frozen=True)
class ExportSettings:
    """[export]: how zoo models become ONNX (`edgebench export`)."""

    random_init: bool = False  # random weights on purpose (tests); default: the published weights
    parity_data: str = "none"  # real images for the export's parity check ('none': random inputs only)
    batch: str = "dynamic"
    opset: int | None = None

    def __post_init__(self) -> None:
        if self.batch != "dynamic" and not self.batch.isdigit():
            raise _fail(f"[export] batch '{self.batch}' is not 'dynamic' or a number")


@dataclass(frozen=True)
class PruneSettings:
    """[prune]: each ratio makes one pruned variant of every zoo model (`edgebench prune`, one round).

    `distill`: fine-tune against the model before pruning (`edgebench prune --distill`), with
    `distill_alpha` on its soft targets at `distill_temperature`; needs `finetune_epochs` > 0.
    """

    ratios: tuple[float, ...] = ()
    importance: str = "l1"
    scope: str = "internal"
    round_to: int = 1
    finetune_epochs: int = 0
    lr: float = 0.01
    batch_size: int = 128
    train_data: str = "cifar10:train"
    limit_train: int | None = None
    seed: int = 0
    distill: bool = False
    distill_alpha: float = 0.9
    distill_temperature: float = 4.0

    def __post_init__(self) -> None:
        for r in self.ratios:
            if isinstance(r, bool) or not isinstance(r, int | float) or not 0 < r < 1:
                raise _fail(f"[prune] ratios holds {r!r}; each ratio is a fraction of filters in (0, 1), e.g. 0.3")
        if len(set(self.ratios)) != len(self.ratios):
            raise _fail(f"[prune] ratios lists a value twice: {list(self.ratios)}")
        if self.finetune_epochs < 0:
            raise _fail(f"[prune] finetune_epochs {self.finetune_epochs} must be >= 0")
        if self.limit_train is not None and self.limit_train < 1:
            raise _fail(f"[prune] limit_train {self.limit_train} must be >= 1")
        if not 0.0 <= self.distill_alpha <= 1.0:
            raise _fail(f"[prune] distill_alpha {self.distill_alpha} must be in [0, 1] (the soft targets' weight)")
        if not self.distill_temperature > 0:
            raise _fail(f"[prune] distill_temperature {self.distill_temperature} must be > 0 (e.g. 4)")
        if self.distill and self.finetune_epochs == 0:
            raise _fail("[prune] distill = true needs finetune_epochs > 0 (distillation is how the pruned model is "
                        "fine-tuned); set finetune_epochs, e.g. 3, or drop distill")
        if self.ratios:
            from edgebench.exporter.prune.importance import IMPORTANCES

            IMPORTANCES.get(self.importance)  # unknown names fail here with a suggestion


@dataclass(frozen=True)
class QuantizeSettings:
    """[quantize]: the precisions of every model variant; INT8 is calibrated on `calibration`."""

    precisions: tuple[str, ...] = ("fp32",)
    calibration: str = "cifar10:train"
    calib_size: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.precisions:
            raise _fail("empty grid: [quantize] precisions is empty; give at least 'fp32'")
        parsed = [Precision.parse(p) for p in self.precisions]
        if len({str(p) for p in parsed}) != len(parsed):
            raise _fail(f"[quantize] precisions lists a value twice: {list(self.precisions)}")
        if self.calib_size < 1:
            raise _fail(f"[quantize] calib_size {self.calib_size} must be >= 1")

    @property
    def parsed(self) -> tuple[Precision, ...]:
        return tuple(Precision.parse(p) for p in self.precisions)


@dataclass(frozen=True)
class EvalSettings:
    """[eval]: accuracy of every variant x runtime on the workstation (`edgebench eval`): a classifier's top-1 on
    `data`, a detector's COCO mAP on the detection folder `data` (DIR/images + instances.json or labels/)."""

    data: str = "cifar10"
    limit: int | None = 1000
    arithmetic: str = "auto"

    def __post_init__(self) -> None:
        from edgebench.calibration.evaluate import ARITHMETIC_MODES

        if self.limit is not None and self.limit < 1:
            raise _fail(f"[eval] limit {self.limit} must be >= 1")
        check_one_of("[eval] arithmetic", self.arithmetic, ARITHMETIC_MODES, error=_fail)


@dataclass(frozen=True)
class BenchSettings:
    """[bench]: runtimes x threads x batch x devices; timing settings of `edgebench bench`."""

    runtimes: tuple[str, ...] = ("ort-cpu",)
    threads: tuple[int, ...] = (1,)
    batch: tuple[int, ...] = (1,)
    devices: tuple[str, ...] = (LOCAL,)
    min_seconds: float = 1.0
    min_iters: int = 50
    warmup_iters: int = 10
    max_seconds: float | None = None
    repeat_cells: int = 3  # per device, cells benched again after the others: its run-to-run drift (sweep.drift)

    def __post_init__(self) -> None:
        if self.repeat_cells < 0:
            raise _fail(f"[bench] repeat_cells {self.repeat_cells} must be >= 0 (0: no drift measurement), e.g. 3")
        for key in ("runtimes", "threads", "batch", "devices"):
            if not getattr(self, key):
                raise _fail(f"empty grid: [bench] {key} is empty")
        _positive_ints(self.threads, "[bench] threads")
        _positive_ints(self.batch, "[bench] batch")
        from edgebench.bench.inputs import check_batch

        check_batch(self.batch, "[bench] batch")
        if len(set(self.runtimes)) != len(self.runtimes):
            raise _fail(f"[bench] runtimes lists a runtime twice: {list(self.runtimes)}")
        from edgebench.runtimes import runtime_names

        known = runtime_names()
        for rt in self.runtimes:
            if rt == ALL_INSTALLED:
                continue
            if rt not in known:
                raise NotFoundError(f"unknown runtime '{rt}' in [bench] runtimes; known: {', '.join(known)} or "
                                    f"'{ALL_INSTALLED}'.{suggest(rt, [*known, ALL_INSTALLED])}")
            if rt not in sweep_runtimes():
                raise _fail(f"runtime '{rt}' is not driven by sweeps (it runs neither an ONNX file nor a converted "
                            f"model); sweeps run {', '.join(sweep_runtimes())}")
        if len(set(self.devices)) != len(self.devices):
            raise _fail(f"[bench] devices lists a device twice: {list(self.devices)}")
        from edgebench.devices.registry import NAME_RE

        for d in self.devices:
            if not isinstance(d, str) or not NAME_RE.match(d):
                raise _fail(f"[bench] devices holds {d!r}: give '{LOCAL}' (this machine) or the name of a device of "
                            "`edgebench device list` (letters, digits, '-', '_', '.')")
        if not self.min_seconds >= 0 or self.min_iters < 1 or self.warmup_iters < 0:
            raise _fail("[bench] min_seconds must be >= 0, min_iters >= 1 and warmup_iters >= 0")


@dataclass(frozen=True)
class ConvertSettings:
    """[convert]: how openvino/litert/ncnn models are made (`edgebench convert`); INT8 calibrates on [quantize].

    The parity check compares each converted model with ONNX Runtime FP32 on `parity_images` real images
    of `parity_data` (default: [eval] data); a model that fails it is a failed cell with the reason.
    """

    parity_data: str | None = None
    parity_images: int = 256
    # the tolerance fields default to `edgebench convert`'s own (one source for both)
    atol: float = ConvertTolerance.atol
    rtol: float = ConvertTolerance.rtol
    min_agreement_fp32: float = ConvertTolerance.min_agreement_fp32
    min_agreement_int8: float = ConvertTolerance.min_agreement_int8
    max_top1_drop_int8: float = ConvertTolerance.max_top1_drop_int8
    min_box_agreement_fp32: float = ConvertTolerance.min_box_agreement_fp32
    min_box_agreement_int8: float = ConvertTolerance.min_box_agreement_int8

    def __post_init__(self) -> None:
        if self.parity_images < 1:
            raise _fail(f"[convert] parity_images {self.parity_images} must be >= 1")
        self.tolerance()  # validates the tolerance fields

    def tolerance(self) -> ConvertTolerance:
        try:
            return ConvertTolerance(self.atol, self.rtol, self.min_agreement_fp32, self.min_agreement_int8,
                                    self.max_top1_drop_int8, self.min_box_agreement_fp32, self.min_box_agreement_int8)
        except UserInputError as e:
            raise _fail(f"[convert] {e}") from None


@dataclass(frozen=True)
class RecommendSettings:
    """[recommend]: what the sweep's summary recommends (`edgebench recommend` takes the same); budgets in points of
    each model's headline accuracy (top-1, a detector's mAP@0.5:0.95)."""

    budgets: tuple[float, ...] = (1.0,)
    metric: str = "p50_ms"

    def __post_init__(self) -> None:
        check_one_of("[recommend] metric", self.metric, METRICS, error=_fail)
        for b in self.budgets:
            if isinstance(b, bool) or not isinstance(b, int | float) or b < 0:
                raise _fail(f"[recommend] budgets holds {b!r}; a budget is accuracy points >= 0, e.g. 1.0")


def is_model_file(name: str) -> bool:
    """A model entry that names a file or folder (not a zoo name): has a '/' or ends in .onnx."""
    return "/" in name or name.endswith(".onnx") or name.startswith(".")


@dataclass(frozen=True)
class SweepConfig:
    """A whole sweep file."""

    models: tuple[str, ...]
    name: str = "sweep"
    data_dir: str | None = None
    export: ExportSettings = field(default_factory=ExportSettings)
    prune: PruneSettings = field(default_factory=PruneSettings)
    quantize: QuantizeSettings = field(default_factory=QuantizeSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    convert: ConvertSettings = field(default_factory=ConvertSettings)
    bench: BenchSettings = field(default_factory=BenchSettings)
    recommend: RecommendSettings = field(default_factory=RecommendSettings)

    def __post_init__(self) -> None:
        if not self.models:
            raise _fail("empty grid: 'models' is empty; give zoo names (edgebench models) or model folders")
        if len(set(self.models)) != len(self.models):
            raise _fail(f"'models' lists a model twice: {list(self.models)}")
        from edgebench.exporter.zoo import MODELS

        zoo = MODELS.names()
        for m in self.models:
            if is_model_file(m) or m.startswith("tv:"):
                continue
            if m not in zoo:
                raise NotFoundError(f"unknown model '{m}' in 'models'; zoo: {', '.join(zoo)} (or a model folder "
                                    f"path, or tv:<name>).{suggest(m, zoo)}")
        runtimes = [r for r in self.bench.runtimes if r != ALL_INSTALLED]
        if runtimes and not any(_runs(r, p) for r in runtimes for p in self.quantize.parsed):
            raise _fail(f"empty grid: no runtime of {runtimes} runs any precision of {list(self.quantize.precisions)} "
                        "(torch and torch-int8 run the fp32 model folder, torch also bf16; ort-cpu runs all but "
                        "bf16; openvino, litert and ncnn run their converted fp32/int8 models, openvino and ncnn "
                        "also bf16/fp16)")


def _runs(runtime: str, precision: Precision) -> bool:
    if precision.kind in REDUCED:  # what the runtime declares: its own file (ort-cpu fp16) or its FP32 one
        from edgebench.runtimes import runtime_names

        if runtime not in runtime_names() or precision.kind not in runtime_runs(runtime):
            return False
        way = precision_way(runtime, precision.kind)
        if runtime not in RUNTIME_PRECISIONS:
            return way is not None and way.file in convert_precisions(runtime)
        allowed = RUNTIME_PRECISIONS[runtime]
        return allowed is None or (way.file if way is not None else precision.kind) in allowed
    if runtime not in RUNTIME_PRECISIONS:  # a converting runtime: its own fp32/int8 model (not the ORT presets')
        return precision.kind in convert_precisions(runtime)
    allowed = RUNTIME_PRECISIONS[runtime]
    return allowed is None or precision.file_precision in allowed


def runs(runtime: str, precision: Precision) -> bool:
    """Whether the sweep benches `runtime` on the model file that `precision` makes."""
    return _runs(runtime, precision)


# ---------------------------------------------------------------------------------------------- TOML


def _hint_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_hint_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        return isinstance(value, list | tuple) and all(_hint_ok(v, inner) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _build(cls: type, data: Any, where: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise _fail(f"{source}: {where} must be a table (e.g. [{where.strip('[]')}]), not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    for key in data:
        if key not in names:
            raise _fail(f"{source}: unknown key '{key}' in {where}; allowed: {', '.join(names)}.{suggest(key, names)}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise _fail(f"{source}: {where} needs '{f.name}'")
            continue
        value = data[f.name]
        hint = hints[f.name]
        if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
            kwargs[f.name] = _build(hint, value, f"[{f.name}]", source)
            continue
        if not _hint_ok(value, hint):
            raise _fail(f"{source}: '{f.name}' in {where} is {value!r}; expected {_type_name(hint)}")
        kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**kwargs)
    except UserInputError as e:
        raise type(e)(f"{source}: {e}") from None


def parse_sweep(text: str, source: str = "sweep file") -> SweepConfig:
    """A sweep file's text -> `SweepConfig` (`source` names it in errors)."""
    return _build(SweepConfig, parse_toml(text, source), "the top level", source)


def load_sweep(path: Path) -> SweepConfig:
    """Read and validate a sweep file."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"sweep file '{path}' does not exist; see examples/sweep-resnet20.toml")
    return parse_sweep(read_text_file(path, "sweep file"), str(path))
