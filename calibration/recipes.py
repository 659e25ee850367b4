"""INT8 recipes: one frozen dataclass, CPU-aware presets, and the ONE translation to ORT's arguments.

`QuantRecipe.to_ort_kwargs()` is the only place that knows `quantize_static`'s argument names.
Presets live in `PRESETS` (a `Registry`), filled by the `@_preset` decorator on classmethods.
`select_preset(arch, isa)` is a pure function from ISA flags to a preset name (tests feed it fake
fingerprints); `resolve_preset` adds `auto`, `--target DEVICE` and the host fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from edgebench.errors import NotFoundError, UserInputError, check_one_of, suggest
from edgebench.manifest import Manifest, RecipeRecord
from edgebench.registry import Registry

QuantFormat = Literal["qdq", "qoperator"]
IntType = Literal["uint8", "int8"]
Method = Literal["minmax", "entropy", "percentile"]

FORMATS = ("qdq", "qoperator")
INT_TYPES = ("uint8", "int8")
METHODS = ("minmax", "entropy", "percentile")
WEIGHT_BITS = (8, 6, 4)  # 6: int8 storage with values in [-31, 31]; 4: ONNX int4/uint4 (opset 21)
ACTIVATION_BITS = (8, 16)  # 16: ONNX int16/uint16 (opset 21; com.microsoft Q/DQ below it)
# What ORT's CPU kernels take natively: QLinearConv/QGemm/MatMulInteger are 8-bit only, so other widths run as
# DequantizeLinear -> float op (the file is smaller or the activations finer, not the arithmetic faster).
NATIVE_INT8_OPS = ("QLinearConv", "QGemm", "QLinearMatMul", "QLinearAdd", "MatMulIntegerToFloat")

PRESETS: Registry[Callable[..., QuantRecipe]] = Registry("preset")


def _preset(name: str) -> Callable[[Callable[..., QuantRecipe]], classmethod]:
    """Register a recipe factory under `name` and make it a classmethod of QuantRecipe."""

    def deco(fn: Callable[..., QuantRecipe]) -> classmethod:
        PRESETS.add(name, fn)
        return classmethod(fn)

    return deco


@dataclass(frozen=True)
class QuantRecipe(RecipeRecord):
    """How to quantize: format, integer types, granularity, calibration method and what stays FP32.

    Its fields are those of the manifest's `recipe` record (`edgebench.manifest.RecipeRecord`: one field list),
    validated here against what ORT runs; `to_dict` writes that record's JSON.
    """

    def __post_init__(self) -> None:
        for attr, allowed in (("quant_format", FORMATS), ("activation_type", INT_TYPES),
                              ("weight_type", INT_TYPES), ("method", METHODS)):
            check_one_of(f"recipe {attr}", getattr(self, attr), allowed)
        if not 0.0 < self.percentile <= 100.0:
            raise UserInputError(f"recipe percentile {self.percentile} must be in (0, 100], e.g. 99.999")
        for attr in ("nodes_to_exclude", "op_types_to_exclude", "int8_nodes"):
            v = getattr(self, attr)
            if not isinstance(v, tuple) or not all(isinstance(s, str) and s for s in v):
                raise UserInputError(f"recipe {attr} must be a tuple of non-empty names, got {v!r}")
        if self.weight_bits not in WEIGHT_BITS or isinstance(self.weight_bits, bool):
            raise UserInputError(
                f"--weight-bits {self.weight_bits} is not one ORT can run: choose {', '.join(map(str, WEIGHT_BITS))} "
                "(ONNX has int4/int8 weight types; DequantizeLinear is the only CPU op taking other widths)")
        if self.activation_bits not in ACTIVATION_BITS or isinstance(self.activation_bits, bool):
            raise UserInputError(
                f"--activation-bits {self.activation_bits} is not one ORT can run: choose "
                f"{', '.join(map(str, ACTIVATION_BITS))} (QuantizeLinear/DequantizeLinear take 8- and 16-bit "
                "activations; no CPU kernel computes on 4-bit activations)")
        if self.quant_format == "qoperator" and (self.weight_bits, self.activation_bits) != (8, 8):
            raise UserInputError(
                f"{self.weight_bits}-bit weights / {self.activation_bits}-bit activations need the QDQ format: the "
                "QOperator ops (QLinearConv, QGemm, QLinearAdd) take 8-bit tensors only; use quant_format 'qdq'")
        if self.int8_nodes and self.weight_bits == 8:
            raise UserInputError(
                f"recipe int8_nodes {list(self.int8_nodes)}: the weights are already 8-bit; 8-bit fallback nodes "
                "apply to --weight-bits 6 or 4")
        super().__post_init__()  # the record's JSON types

    # ---- presets: each says why in one line -------------------------------------------------------

    @_preset("x86-vnni")
    def x86_vnni(cls) -> QuantRecipe:  # VNNI (vpdpbusd) sums u8*s8 in int32: no saturation, full 8-bit weights
        return cls(name="x86-vnni", why="x86 with VNNI: U8S8 per-channel, 8-bit weights (int32 dot products)")

    @_preset("x86-avx2")
    def x86_avx2(cls) -> QuantRecipe:  # no VNNI: VPMADDUBSW's int16 pair sums saturate, so weights keep 7 bits
        return cls(reduce_range=True, name="x86-avx2",
                   why="x86 without VNNI: U8S8 per-channel with reduce_range (7-bit weights avoid int16 saturation)")

    @_preset("arm64-dotprod")
    def arm64_dotprod(cls) -> QuantRecipe:  # SDOT accumulates s8*s8 in int32; symmetric S8S8 is ORT's ARM advice
        return cls(activation_type="int8", name="arm64-dotprod",
                   why="ARM with dot product (asimddp, e.g. Cortex-A76/Pi 5): S8S8 per-channel via SDOT")

    @_preset("arm64-neon")
    def arm64_neon(cls) -> QuantRecipe:  # plain NEON widens u8 products to int16/32 (UMULL/UADALP): no saturation
        return cls(name="arm64-neon",
                   why="ARM without dot product (e.g. Cortex-A72/Pi 4): U8S8 per-channel, NEON widening kernels")

    @_preset("qdq-s8s8-tensor")
    def qdq_s8s8_tensor(cls) -> QuantRecipe:  # naive baseline: what ORT's docs suggest first (QDQ S8S8, per-tensor)
        return cls(activation_type="int8", per_channel=False, name="qdq-s8s8-tensor",
                   why="naive baseline: QDQ S8S8 per-tensor")

    @_preset("u8s8-reduce-range")
    def u8s8_reduce_range(cls) -> QuantRecipe:  # naive safe choice anywhere: the non-VNNI recipe, kept for tables
        return cls(reduce_range=True, name="u8s8-reduce-range",
                   why="naive baseline: U8S8 per-channel with reduce_range")

    @property
    def effective_weight_bits(self) -> int:
        """Bits the weights really use: 7 for 8-bit weights with reduce_range, else `weight_bits`."""
        return 7 if self.weight_bits == 8 and self.reduce_range else self.weight_bits

    def onnx_types(self) -> tuple[str, str]:
        """(activation, weight) ONNX element types the QDQ graph stores, e.g. ('uint8', 'int4')."""
        act = self.activation_type if self.activation_bits == 8 else self.activation_type.replace("8", "16")
        weight = self.weight_type if self.weight_bits != 4 else self.weight_type.replace("8", "4")
        return act, weight

    # ---- serialisation and the one translation into ORT's arguments ------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QuantRecipe:
        names = {f.name for f in fields(cls)} - {"extra", "keys"}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserInputError(f"unknown recipe field(s) {unknown}; known: {', '.join(sorted(names))}")
        kw = dict(d)
        for k in ("nodes_to_exclude", "op_types_to_exclude", "int8_nodes"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)

    def with_overrides(self, **changes: Any) -> QuantRecipe:
        """A copy with `changes` applied (None values ignored); the name gets a '+' when anything changed."""
        from dataclasses import replace

        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes or all(getattr(self, k) == v for k, v in changes.items()):
            return self
        return replace(self, **changes, name=self.name if self.name.endswith("+") else self.name + "+")

    def to_ort_kwargs(self, output_op_types: tuple[str, ...] = ()) -> dict[str, Any]:
        """Keyword arguments for `onnxruntime.quantization.quantize_static` (without model paths/reader).

        `output_op_types`: op types of the nodes producing the graph outputs; with `float_logits`, a
        final Gemm/MatMul keeps a float output (ORT still runs it in INT8 as QGemm/MatMulIntegerToFloat).
        Quantized logits take ~200 distinct values, so top-2 classes can tie exactly.
        Bit widths: 4-bit weights -> int4/uint4, 16-bit activations -> int16/uint16 (ORT upgrades the graph to
        opset 21 or uses com.microsoft Q/DQ); 6-bit weights are int8 here and narrowed afterwards by
        `calibration.bits.narrow_weights` (ORT has no 6-bit type).
        """
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
        from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

        qtype = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8, "uint16": QuantType.QUInt16,
                 "int16": QuantType.QInt16, "uint4": QuantType.QUInt4, "int4": QuantType.QInt4}
        act_type, weight_type = self.onnx_types()
        extra: dict[str, Any] = {"ActivationSymmetric": self.activation_symmetric, "WeightSymmetric": True}
        if self.method == "percentile":
            extra["CalibPercentile"] = self.percentile
        float_out = sorted(set(output_op_types) & {"Gemm", "MatMul"}) if self.float_logits else []
        if float_out:
            extra["OpTypesToExcludeOutputQuantization"] = float_out
        kwargs: dict[str, Any] = {
            "quant_format": QuantFormat.QDQ if self.quant_format == "qdq" else QuantFormat.QOperator,
            "activation_type": qtype[act_type],
            "weight_type": qtype[weight_type],
            "per_channel": self.per_channel,
            # reduce_range keeps 8-bit weights to 7 bits (non-VNNI saturation); narrower weights cannot saturate
            "reduce_range": self.reduce_range and self.weight_bits == 8,
            "calibrate_method": {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                                 "percentile": CalibrationMethod.Percentile}[self.method],
            "nodes_to_exclude": list(self.nodes_to_exclude),
            "op_types_to_quantize": None,
            "extra_options": extra,
        }
        if self.op_types_to_exclude:
            # quantize_static's own default is the union of both registries (QDQ falls back to a generic op)
            supported = set(QDQRegistry) | set(QLinearOpsRegistry)
            kwargs["op_types_to_quantize"] = sorted(supported - set(self.op_types_to_exclude))
        return kwargs

    def int8_weight_overrides(self, weights: Mapping[str, tuple[str, int]]) -> dict[str, list[dict[str, Any]]]:
        """ORT `TensorQuantOverrides` keeping the weights of `int8_nodes` at the preset's 8-bit type.

        `weights`: node name -> (its weight initializer, per-channel axis) in the graph ORT quantizes
        (`calibration.bits.weight_inputs`). The node's weights get `weight_type` (int8/uint8), the preset's
        `reduce_range` (7 bits without VNNI) and granularity, as its INT8 recipe; the graph's other weights
        keep `weight_bits`. For 4-bit recipes (ORT's int4 type); 6-bit weights are int8 already and
        `narrow_weights` leaves these nodes alone.
        """
        from onnxruntime.quantization import QuantType

        qtype = QuantType.QInt8 if self.weight_type == "int8" else QuantType.QUInt8
        out: dict[str, list[dict[str, Any]]] = {}
        for n in self.int8_nodes:
            name, axis = weights[n]
            # an override without `axis` makes ORT quantize the tensor per-tensor: give the axis to stay per-channel
            out[name] = [{"quant_type": qtype, "reduce_range": self.reduce_range,
                          **({"axis": axis} if self.per_channel else {})}]
        return out

    def to_ort_dynamic_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `onnxruntime.quantization.quantize_dynamic` (`--mode dynamic`).

        Weights are always uint8: ORT's CPU ConvInteger kernel only takes u8 x u8, and activations are
        quantized at run time (DynamicQuantizeLinear, always uint8), so the static activation type does not apply.
        """
        from onnxruntime.quantization import QuantType
        from onnxruntime.quantization.registry import IntegerOpsRegistry

        if (self.weight_bits, self.activation_bits) != (8, 8):
            raise UserInputError(
                f"--mode dynamic runs ConvInteger/MatMulInteger, which take 8-bit tensors only; "
                f"{self.weight_bits}-bit weights / {self.activation_bits}-bit activations need --mode static")

        kwargs: dict[str, Any] = {
            "weight_type": QuantType.QUInt8,
            "per_channel": self.per_channel,
            "reduce_range": self.reduce_range,
            "nodes_to_exclude": list(self.nodes_to_exclude),
            "op_types_to_quantize": None,
            "extra_options": {},
        }
        if self.op_types_to_exclude:
            kwargs["op_types_to_quantize"] = sorted(set(IntegerOpsRegistry) - set(self.op_types_to_exclude))
        return kwargs


def get_preset(name: str) -> QuantRecipe:
    """The preset `name` (not `auto`; see `resolve_preset`). Unknown names get a suggestion."""
    return PRESETS.get(name)(QuantRecipe)


def preset_names() -> list[str]:
    return [*PRESETS.names(), "auto"]


# ---- choosing a preset from the CPU -----------------------------------------------------------------

X86_VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def select_preset(arch: str, isa: Mapping[str, bool | None]) -> tuple[str, str]:
    """(preset name, reason) for a CPU described by its architecture and ISA flags (pure function).

    >>> select_preset("x86_64", {"avx2": True, "avx512_vnni": False})[0]
    'x86-avx2'
    >>> select_preset("aarch64", {"asimd": True, "asimddp": True})[0]
    'arm64-dotprod'
    """
    a = arch.lower()
    on = {k for k, v in isa.items() if v}
    if a in ("x86_64", "amd64", "x86", "i686", "i386"):
        vnni = [f for f in X86_VNNI_FLAGS if f in on]
        if vnni:
            return "x86-vnni", f"{arch} has {vnni[0]}: u8*s8 dot products accumulate in int32 without saturation"
        have = "avx2" if "avx2" in on else "no avx2"
        return "x86-avx2", (f"{arch} has no VNNI ({have}): u8*s8 pairs saturate int16 in VPMADDUBSW, "
                            "so weights are reduced to 7 bits")
    if a in ("aarch64", "arm64") or a.startswith("arm"):
        if "asimddp" in on or "i8mm" in on:
            return "arm64-dotprod", f"{arch} has asimddp: SDOT int8 dot products"
        return "arm64-neon", f"{arch} has no asimddp (e.g. Cortex-A72): plain NEON int8 kernels"
    raise UserInputError(
        f"cannot choose an INT8 preset for CPU architecture '{arch}'; pass --preset "
        f"({', '.join(PRESETS.names())}) or --target ({', '.join(TARGETS.names())})"
    )


@dataclass(frozen=True)
class Target:
    """A device named with --target: its architecture and the ISA flags that decide INT8 speed."""

    arch: str
    flags: tuple[str, ...]
    description: str

    def isa(self) -> dict[str, bool]:
        return dict.fromkeys(self.flags, True)


TARGETS: Registry[Target] = Registry("target device")
for _name, _t in {
    "pi5": Target("aarch64", ("asimd", "asimddp"), "Raspberry Pi 5, Cortex-A76"),
    "cortex-a76": Target("aarch64", ("asimd", "asimddp"), "Cortex-A76"),
    "pi4": Target("aarch64", ("asimd",), "Raspberry Pi 4, Cortex-A72"),
    "cortex-a72": Target("aarch64", ("asimd",), "Cortex-A72"),
    "pi3": Target("aarch64", ("asimd",), "Raspberry Pi 3, Cortex-A53"),
    "cortex-a53": Target("aarch64", ("asimd",), "Cortex-A53"),
    "graviton3": Target("aarch64", ("asimd", "asimddp", "i8mm", "sve"), "AWS Graviton3, Neoverse-V1"),
    "zen3": Target("x86_64", ("avx2", "fma"), "AMD Zen3 (AVX2, no VNNI)"),
    "zen4": Target("x86_64", ("avx2", "fma", "avx512f", "avx512_vnni"), "AMD Zen4 (AVX-512 VNNI)"),
    "skylake": Target("x86_64", ("avx2", "fma"), "Intel Skylake client (AVX2, no VNNI)"),
    "cascadelake": Target("x86_64", ("avx2", "fma", "avx512f", "avx512_vnni"), "Intel Cascade Lake"),
    "alderlake": Target("x86_64", ("avx2", "fma", "avx_vnni"), "Intel Alder Lake (AVX-VNNI)"),
}.items():
    TARGETS.add(_name, _t)


@dataclass(frozen=True)
class PresetChoice:
    """The recipe to use, the preset name it came from and why it was chosen."""

    recipe: QuantRecipe
    preset: str
    reason: str
    chosen_for: str

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "reason": self.reason, "chosen_for": self.chosen_for}


def resolve_preset(name: str = "auto", target: str | None = None,
                   cpu: Mapping[str, Any] | None = None) -> PresetChoice:
    """Turn `--preset`/`--target` into a recipe.

    `auto` uses `target` when given, else `cpu` (the `cpu` section of `bench.fingerprint`: `arch`,
    `model`, `isa`), which the caller reads from the host.
    """
    if name != "auto":
        if target is not None:
            raise UserInputError(f"--target {target} only applies to --preset auto, not --preset {name}")
        if name not in PRESETS:
            known = preset_names()
            raise NotFoundError(f"unknown preset '{name}'; known: {', '.join(known)}.{suggest(name, known)}")
        recipe = get_preset(name)
        return PresetChoice(recipe, name, recipe.why, "explicit --preset")
    if target is not None:
        t = TARGETS.get(target)
        preset, reason = select_preset(t.arch, t.isa())
        return PresetChoice(get_preset(preset), preset, f"target {target} ({t.description}): {reason}",
                            f"target {target}")
    if cpu is None:
        raise UserInputError("preset 'auto' needs the host CPU description or --target DEVICE")
    preset, reason = select_preset(str(cpu.get("arch") or ""), cpu.get("isa") or {})
    model = f" {cpu['model']}" if cpu.get("model") else ""
    return PresetChoice(get_preset(preset), preset, f"host{model}: {reason}", "host")


# ---- does this CPU's integer arithmetic reproduce a QDQ model's? -------------------------------------

X86_ARCHES = ("x86_64", "amd64", "x86", "i686", "i386")


@dataclass(frozen=True)
class ArithmeticChoice:
    """Whether a CPU's ONNX Runtime integer kernels compute what a QDQ model's ONNX graph specifies.

    `exact` False: the host's kernels give other results (u8*s8 pair sums saturating int16), so the
    model's accuracy must be measured on the QDQ graph itself (DequantizeLinear -> float op ->
    QuantizeLinear, graph optimizations disabled), which is what a device with exact kernels computes.
    """

    exact: bool
    reason: str


def _recipe_field(recipe: RecipeRecord | Mapping[str, Any], name: str) -> Any:
    if isinstance(recipe, RecipeRecord):
        return getattr(recipe, name)
    return recipe.get(name, getattr(QuantRecipe(), name))


def host_arithmetic(recipe: RecipeRecord | Mapping[str, Any], cpu: Mapping[str, Any]) -> ArithmeticChoice:
    """Do this CPU's ORT integer kernels reproduce the arithmetic of a model quantized with `recipe`? (pure)

    `recipe` is a QuantRecipe, a manifest's `recipe` record or its JSON dict; `cpu` the `cpu` section of
    `bench.fingerprint.fingerprint()` (`arch`, `model`, `isa`). x86 without VNNI runs U8S8 through
    VPMADDUBSW, whose int16 sums of two u8*s8 products saturate once weights use all 8 bits (S8
    activations are shifted to U8 there, so S8S8 is the same); 7-bit weights (reduce_range) fit.
    VNNI accumulates in int32; ARM NEON widens (UMULL/SADALP) and SDOT accumulates in int32.

    >>> host_arithmetic(get_preset("arm64-neon"), {"arch": "x86_64", "isa": {"avx2": True}}).exact
    False
    >>> host_arithmetic(get_preset("arm64-neon"), {"arch": "x86_64", "isa": {"avx512_vnni": True}}).exact
    True
    >>> host_arithmetic(get_preset("arm64-neon"), {"arch": "aarch64", "isa": {"asimd": True}}).exact
    True
    """
    arch = str(cpu.get("arch") or "")
    a = arch.lower()
    isa: Mapping[str, Any] = cpu.get("isa") or {}
    on = {k for k, v in isa.items() if v}
    model = f" ({cpu['model']})" if cpu.get("model") else ""
    weights, acts = _recipe_field(recipe, "weight_type"), _recipe_field(recipe, "activation_type")
    pair = f"{'U8' if acts == 'uint8' else 'S8'}{'U8' if weights == 'uint8' else 'S8'}"
    if a in X86_ARCHES:
        vnni = [f for f in X86_VNNI_FLAGS if f in on]
        if vnni:
            return ArithmeticChoice(True, f"{arch}{model} has {vnni[0]}: u8*s8 dot products accumulate in int32")
        if weights == "uint8":
            return ArithmeticChoice(True, f"{arch}{model}: {pair} with u8 weights widens to int16 before summing "
                                          "(no saturation)")
        if _recipe_field(recipe, "reduce_range"):
            return ArithmeticChoice(True, f"{arch}{model} has no VNNI, but the weights are reduced to 7 bits "
                                          "(reduce_range): VPMADDUBSW's int16 pair sums cannot saturate")
        if not isa or all(v is None for v in isa.values()):
            return ArithmeticChoice(False, f"{arch}{model}: ISA flags unknown, so VNNI cannot be assumed; "
                                           f"{pair} with 8-bit weights may saturate int16 in VPMADDUBSW")
        return ArithmeticChoice(False, f"{arch}{model} has no VNNI: ORT's {pair} kernels sum pairs of u8*s8 "
                                       "products in int16 (VPMADDUBSW), which saturates with 8-bit weights "
                                       "(this model has no reduce_range)")
    if a in ("aarch64", "arm64") or a.startswith("arm"):
        if "asimddp" in on or "i8mm" in on:
            return ArithmeticChoice(True, f"{arch}{model} has asimddp: SDOT/UDOT accumulate in int32")
        return ArithmeticChoice(True, f"{arch}{model}: NEON widens int8 products (UMULL/SADALP) into int32")
    return ArithmeticChoice(False, f"CPU architecture '{arch}' is unknown here: its integer kernels are not "
                                   "known to match the ONNX arithmetic")


def model_arithmetic(manifest: Manifest | None, cpu: Mapping[str, Any]) -> ArithmeticChoice | None:
    """`host_arithmetic` for the model a manifest describes; None for a float model (no `recipe`).

    Dynamic INT8 (`quantization_mode` dynamic) always has u8 weights (ConvInteger/MatMulInteger), whatever
    the recipe says.
    """
    if manifest is None or manifest.recipe is None:
        return None
    recipe = manifest.recipe
    if manifest.quantization_mode == "dynamic":
        recipe = replace(recipe, weight_type="uint8")
    return host_arithmetic(recipe, cpu)
