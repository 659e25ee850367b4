"""`edgebench doctor`: why an INT8 model is not faster (or less accurate) than its FP32 parent here, and which
measured change fixes it.

The diagnosis puts together what edgebench already measures: the interleaved FP32/INT8 timing
(`bench.interleave`), the one node classification (`calibration.graph.classify_nodes`), ORT's profiler
(`bench.op_profile`), the CPU fingerprint's ISA flags (`calibration.recipes.host_arithmetic`), paired top-1
(`calibration.metrics.paired_metrics`) and the per-tensor quantization error (`calibration.accuracy_aware.rank_units`).
Each cause found is one `Cause` of a known `kind` (CAUSE_KINDS) with the change that should fix it; `try_fixes`
re-quantizes the FP32 parent with each change and measures it (interleaved speed, paired top-1). Nothing is
called a fix unless it was measured. Example::

    d = diagnose(int8_path, fp32_path, cpu=fingerprint()["cpu"], threads=1, data=dataset)
    d.verdict      # 'INT8 is 0.88x FP32 here: ...; fix: preset x86-avx2'
    trials = try_fixes(d, int8_path, fp32_path, dataset, work_dir)

What only the CPU that runs the models can tell (timings, profiler, paired top-1) is measured by
bench/doctor_measure.py, which needs no `onnx`; this module reads the graphs (`read_pair`, `graph_causes`, the
per-tensor error) and `conclude`s from both, so `doctor --on DEVICE` (devices/doctor.py) measures there and
concludes here with the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.bench.doctor_measure import DoctorMeasure, TrialModel, measure, measure_model
from edgebench.errors import EdgebenchError, UserInputError, check_one_of
from edgebench.manifest import RecipeRecord

# cause kind -> (area, what it means)
CAUSE_KINDS: dict[str, tuple[str, str]] = {
    "s8s8-no-vnni": ("speed", "S8S8 or full 8-bit weights on x86 without VNNI: ORT shifts activations and sums "
                              "u8*s8 pairs in int16 (VPMADDUBSW)"),
    "arm-preset-on-x86": ("speed", "an ARM preset (S8S8, chosen for SDOT/NEON) run on an x86 CPU"),
    "narrow-weights": ("speed", "int4 weights: ORT's CPU provider dequantizes them and computes in float"),
    "wide-activations": ("speed", "16-bit activations: no 16-bit integer kernel, the ops run on dequantized floats"),
    "dynamic-conv": ("speed", "dynamic quantization of convolutions: activations quantized at every run, "
                              "ConvInteger is a slow u8xu8 kernel"),
    "float-islands": ("speed", "ops without an INT8 kernel between quantized ops run in float, with a "
                               "DequantizeLinear/QuantizeLinear pair around each"),
    "qdq-overhead": ("speed", "Quantize/Dequantize conversions take a large share of a tiny model's time"),
    "slow-int8-kernels": ("speed", "the runtime's INT8 kernels for some of the graph's ops are slower than its FP32 "
                                   "ones on this CPU (e.g. a 3-channel stem conv, depthwise convs, channel slices in "
                                   "the INT8 NHWC layout)"),
    "oversubscribed-threads": ("speed", "more intra-op threads than usable cores: the threads wait on each other"),
    "outlier-channel": ("accuracy", "one weight channel's range sets a per-tensor scale that crushes the others"),
    "sensitive-nodes": ("accuracy", "a few tensors lose most of the accuracy under INT8"),
}
SPEED_GOAL = 1.0  # a fix must make INT8 at least this fast as FP32 ...
DROP_GOAL_PTS = 0.5  # ... and lose at most this many top-1 points against it
OUTLIER_RATIO = 8.0  # a channel whose max |w| is this many times the median channel's is an outlier
QDQ_SHARE_PCT = 25.0  # conversions above this share of kernel time dominate
REPORT_SPEEDUP = 1.2  # below this (or losing more than REPORT_DROP_PTS) INT8 gets a verdict in the report
REPORT_DROP_PTS = 0.5
MIN_GAIN = 1.05  # a fix replaces an INT8 model that already meets the goal only when this much faster
TINY_MODEL_MS = 0.05  # an FP32 run this short leaves INT8 nothing to win against its per-op overhead


@dataclass(frozen=True)
class Cause:
    """One cause found: its kind (CAUSE_KINDS), the evidence, and the change that should fix it."""

    kind: str
    detail: str
    fix: str

    def __post_init__(self) -> None:
        check_one_of("cause kind", self.kind, CAUSE_KINDS)

    @property
    def area(self) -> str:
        return CAUSE_KINDS[self.kind][0]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "area": self.area, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class Candidate:
    """A change to try: a recipe to quantize the FP32 parent with (static or dynamic), another thread count for
    the same model, or keeping FP32."""

    label: str
    cause: str
    recipe: Any = None  # QuantRecipe; None for "fp32" and "threads"
    threads: int | None = None
    keep_fp32: bool = False

    def __post_init__(self) -> None:
        if sum((self.recipe is not None, self.threads is not None, self.keep_fp32)) != 1:
            raise ValueError(f"candidate '{self.label}' must be exactly one of a recipe, a thread count or FP32")


@dataclass(frozen=True)
class Trial:
    """A candidate as measured: FP32 latency / its latency (interleaved) and its paired top-1 drop."""

    candidate: Candidate
    speedup: float
    drop_pts: float | None
    agreement_pct: float | None

    @property
    def meets_goal(self) -> bool:
        """>= 1.0x FP32 speed and (when measured) <= 0.5 points lost: good enough to apply."""
        return self.speedup >= SPEED_GOAL and (self.drop_pts is None or self.drop_pts <= DROP_GOAL_PTS)

    @property
    def fixes_cause(self) -> bool:
        """The measured figure its cause is about reaches the goal (speed for a speed cause, top-1 otherwise)."""
        if CAUSE_KINDS[self.candidate.cause][0] == "accuracy":
            return self.drop_pts is not None and self.drop_pts <= DROP_GOAL_PTS
        return self.speedup >= SPEED_GOAL

    def to_dict(self) -> dict[str, Any]:
        return {"fix": self.candidate.label, "cause": self.candidate.cause, "speedup": round(self.speedup, 3),
                "drop_pts": None if self.drop_pts is None else round(self.drop_pts, 2),
                "agreement_pct": self.agreement_pct, "fixes_cause": self.fixes_cause, "meets_goal": self.meets_goal}


@dataclass(frozen=True)
class Diagnosis:
    """What `diagnose` found: the verdict line first, then the evidence."""

    speedup: float
    drop_pts: float | None
    causes: tuple[Cause, ...]
    candidates: tuple[Candidate, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    where: str = "here"  # where it was measured: "here", or "on pi4 (Cortex-A72)" for `doctor --on`

    @property
    def kinds(self) -> list[str]:
        return [c.kind for c in self.causes]

    def verdict(self, fix: str | None = None) -> str:
        """'INT8 is 0.88x FP32 here: <first cause>; <float share>; fix: <fix>'."""
        return verdict_line(self.speedup, self.drop_pts, self.causes, self.facts, fix, where=self.where)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict(), "speedup": round(self.speedup, 3),
                "drop_pts": None if self.drop_pts is None else round(self.drop_pts, 2),
                "causes": [c.to_dict() for c in self.causes],
                "candidates": [c.label for c in self.candidates], "facts": self.facts}


def verdict_line(speedup: float, drop_pts: float | None, causes: Sequence[Cause], facts: Mapping[str, Any],
                 fix: str | None = None, where: str = "here") -> str:
    """The one line the doctor (and the compare report) prints first; `where` the model ran.

    >>> verdict_line(2.0, 0.1, [], {})
    'INT8 is 2.00x FP32 here, top-1 -0.10 points: no problem found'
    >>> verdict_line(2.0, None, [], {}, where="on pi4 (Cortex-A72)")
    'INT8 is 2.00x FP32 on pi4 (Cortex-A72): no problem found'
    """
    acc = "" if drop_pts is None else f", top-1 {0.0 - drop_pts:+.2f} points"
    if not causes and speedup < SPEED_GOAL:
        return (f"INT8 is {speedup:.2f}x FP32 {where}{acc}: slower, and no known cause found; compare "
                "`edgebench profile` of both models")
    if not causes:
        return f"INT8 is {speedup:.2f}x FP32 {where}{acc}: no problem found"
    if speedup >= REPORT_SPEEDUP and (drop_pts is None or drop_pts <= DROP_GOAL_PTS):
        return (f"INT8 is {speedup:.2f}x FP32 {where}{acc}: healthy; noted: "
                + "; ".join(c.detail for c in causes) + (f"; measured better: {fix}" if fix else ""))
    parts = [causes[0].detail]
    islands = facts.get("float_time_by_op") or {}
    if islands:
        op, pct = max(islands.items(), key=lambda kv: kv[1])
        parts.append(f"{pct:.0f} % of time in float {op}")
    parts.append(f"fix: {fix or causes[0].fix}")
    return f"INT8 is {speedup:.2f}x FP32 {where}{acc}: " + "; ".join(parts)


# ---- facts read from the graphs ------------------------------------------------------------------------------


def _arr(init: Any) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(init)


def weight_granularity(int8: Any) -> dict[str, str]:
    """{node: 'per-tensor' | 'per-channel'} for the nodes of a QDQ/QOperator graph with quantized weights."""
    inits = {i.name: i for i in int8.graph.initializer}
    producer = {o: n for n in int8.graph.node for o in n.output}
    out = {}
    for n in int8.graph.node:
        scale = None
        if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 1 and n.input[1] in producer:
            dq = producer[n.input[1]]
            if dq.op_type == "DequantizeLinear" and dq.input[0] in inits and dq.input[1] in inits:
                scale = inits[dq.input[1]]
        elif n.op_type == "QLinearConv" and n.input[4] in inits:
            scale = inits[n.input[4]]
        if scale is not None:
            out[n.name or n.output[0]] = "per-tensor" if math.prod(scale.dims) == 1 else "per-channel"
    return out


def weight_outliers(fp32: Any, ratio: float = OUTLIER_RATIO) -> dict[str, dict[str, float]]:
    """{node: {channel, ratio, crushed}} for Conv/Gemm weights whose largest output channel (max |w|) is `ratio`
    times the median channel's: a per-tensor scale sized for it leaves the others a few steps (`crushed`: the
    channels under 8 int8 steps)."""
    inits = {i.name: i for i in fp32.graph.initializer}
    out = {}
    for n in fp32.graph.node:
        if n.op_type not in ("Conv", "Gemm") or len(n.input) < 2 or n.input[1] not in inits:
            continue
        w = _arr(inits[n.input[1]]).astype(np.float64)
        if w.ndim < 2 or w.shape[0] < 4:
            continue
        per = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
        med = float(np.median(per))
        if med > 0 and per.max() / med >= ratio:
            step = per.max() / 127.0
            out[n.name or n.output[0]] = {"channel": int(per.argmax()), "ratio": round(float(per.max() / med), 1),
                                          "crushed": int((per < 8 * step).sum())}
    return out


def _weight_reduced(int8: Any) -> bool:
    """True when every int8 weight tensor stays within 7 bits (reduce_range)."""
    from onnx import TensorProto

    inits = {i.name: i for i in int8.graph.initializer}
    seen = False
    for n in int8.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].data_type == TensorProto.INT8:
            seen = True
            if int(np.abs(_arr(inits[n.input[0]]).astype(np.int32)).max(initial=0)) > 64:
                return False
    return seen


def graph_causes(int8: Any, fp32: Any, recipe: RecipeRecord | None, cpu: Mapping[str, Any],
                 threads: int, usable_cores: int) -> list[Cause]:
    """The causes that the graphs, the recipe and the CPU facts show, before any timing (pure)."""
    from edgebench.calibration.bits import activation_types, weight_types
    from edgebench.calibration.graph import classify_nodes
    from edgebench.calibration.recipes import X86_ARCHES, X86_VNNI_FLAGS

    causes: list[Cause] = []
    arch = str(cpu.get("arch") or "").lower()
    on = {k for k, v in (cpu.get("isa") or {}).items() if v}
    x86, vnni = arch in X86_ARCHES, [f for f in X86_VNNI_FLAGS if f in on]
    host = _host_preset(cpu)
    ops = {n.op_type for n in int8.graph.node}
    acts, weights = activation_types(int8), weight_types(int8)
    name = recipe.name if recipe is not None else ""
    if threads > usable_cores:
        causes.append(Cause("oversubscribed-threads", f"{threads} threads on {usable_cores} usable cores",
                            f"--threads {usable_cores}"))
    if "ConvInteger" in ops or ("DynamicQuantizeLinear" in ops and "Conv" in {n.op_type for n in fp32.graph.node}):
        causes.append(Cause("dynamic-conv", "dynamic INT8 of a conv net: ConvInteger (u8xu8) and a "
                                            "DynamicQuantizeLinear per conv at every run",
                            f"static INT8, preset {host}"))
    if x86 and name.startswith("arm64"):
        causes.append(Cause("arm-preset-on-x86", f"ARM preset {name} run on {cpu.get('arch')}",
                            f"preset {host} (auto for this CPU)"))
    elif x86 and not vnni and "int8" in acts:
        gran = set(weight_granularity(int8).values())
        causes.append(Cause("s8s8-no-vnni", f"{'per-tensor ' if gran == {'per-tensor'} else ''}S8S8 on "
                                            f"{'AVX2' if 'avx2' in on else arch} without VNNI",
                            f"preset {host}"))
    elif x86 and not vnni and "int8" in weights and not _weight_reduced(int8) and "ConvInteger" not in ops:
        causes.append(Cause("s8s8-no-vnni", "8-bit S8 weights without reduce_range on x86 without VNNI "
                                            "(int16 pair sums saturate)", f"preset {host}"))
    narrow_w = sorted(t for t in weights if t in ("int4", "uint4"))
    if narrow_w:
        causes.append(Cause("narrow-weights", f"{'/'.join(narrow_w)} weights are dequantized to float on "
                                              f"{cpu.get('arch')}", f"8-bit weights, preset {host}"))
    if any(t in ("int16", "uint16") for t in acts):
        causes.append(Cause("wide-activations", "16-bit activations: the ops run on dequantized floats",
                            f"8-bit activations, preset {host}"))
    islands = [c for c in classify_nodes(int8) if c.runs == "float" and c.reason.startswith("no INT8 kernel")]
    if islands:
        ops_ = sorted({c.op_type for c in islands})
        causes.append(Cause("float-islands", f"{len(islands)} node(s) without an INT8 kernel run in float between "
                                             f"quantized ops ({', '.join(ops_)})",
                            "QOperator format (int8 Pad/Resize), or keep FP32 if no INT8 variant beats it"))
    gran = weight_granularity(int8)
    outl = {n: v for n, v in weight_outliers(fp32).items() if gran.get(n) == "per-tensor"}
    if outl:
        n, v = next(iter(outl.items()))
        causes.append(Cause("outlier-channel", f"{n}: channel {v['channel']} is {v['ratio']}x the median channel; "
                                               f"its per-tensor scale leaves {v['crushed']} channel(s) under 8 steps",
                            "per-channel weights"))
    return causes


def _host_preset(cpu: Mapping[str, Any]) -> str:
    from edgebench.calibration.recipes import select_preset

    try:
        return select_preset(str(cpu.get("arch") or ""), cpu.get("isa") or {})[0]
    except UserInputError:  # an architecture select_preset does not know: the recipe that cannot saturate anywhere
        return "u8s8-reduce-range"


# ---- the workstation's measurements: the graphs run with every tensor exposed (onnx) -------------------


def node_errors(int8: Path, fp32: Path, x: np.ndarray, input_name: str, top: int = 5) -> list[dict[str, Any]]:
    """The tensors quantization damages most (`rank_units`), with their SQNR in dB, worst first."""
    from edgebench.calibration.accuracy_aware import rank_units

    out = []
    for u in rank_units(int8, fp32, x, input_name)[:top]:
        d = u.to_dict()
        d["sqnr_db"] = round(-20.0 * math.log10(max(u.error, 1e-9)), 1)
        out.append(d)
    return out


def activation_outliers(int8: Any, fp32: Path, x: np.ndarray, input_name: str, ratio: float = 20.0,
                        top: int = 5) -> list[dict[str, Any]]:
    """Activations whose calibrated INT8 range is >= `ratio` times the typical channel's 99.9th-percentile |value|
    on `x` in FP32 (the median over channels): a few extreme values or one wide channel set a per-tensor scale that
    leaves the bulk a few steps. Worst first.
    Percentile or entropy calibration clips such tails; a wide channel needs its nodes kept float."""
    import onnx
    from edgebench.calibration.accuracy_aware import _run_all

    inits = {i.name: i for i in int8.graph.initializer}
    ranges = {}
    for q in int8.graph.node:
        if q.op_type == "QuantizeLinear" and q.input[0] not in inits and q.input[1] in inits and len(q.input) > 2 \
                and q.input[2] in inits:
            scale = _arr(inits[q.input[1]]).astype(np.float64)
            info = np.iinfo(_arr(inits[q.input[2]]).dtype)
            if scale.size == 1:
                ranges[q.input[0]] = float(scale.reshape(())) * (int(info.max) - int(info.min))
    values = _run_all(onnx.load(str(fp32)), x, input_name, set(ranges))
    out = []
    for t, rng in ranges.items():
        if t in values and t != input_name:
            v = np.abs(values[t].astype(np.float64))
            per = np.moveaxis(v, 1, 0).reshape(v.shape[1], -1) if v.ndim >= 2 else v.reshape(1, -1)
            bulk = float(np.median(np.percentile(per, 99.9, axis=1)))  # the typical channel's 99.9th percentile
            if rng >= ratio * max(bulk, 1e-12):
                out.append({"tensor": t, "range": round(rng, 4), "bulk_p99_9_abs": round(bulk, 6),
                            "ratio": round(rng / max(bulk, 1e-12), 1)})
    out.sort(key=lambda d: -d["ratio"])
    return out[:top]


# ---- the diagnosis and the candidates ----------------------------------------------------------------------


def require_int8(int8: Path, proto: Any = None) -> Any:
    """The graph of `int8` (a ModelProto), refused unless it is a readable ONNX file with a quantized op."""
    from edgebench.calibration.graph import INTEGER_OPS, QDQ_OPS, load_graph

    proto = load_graph(Path(int8)) if proto is None else proto
    if not any(n.op_type in QDQ_OPS or n.op_type in INTEGER_OPS or n.op_type.startswith("QLinear")
               for n in proto.graph.node):
        raise UserInputError(f"'{int8}' has no quantized op (QuantizeLinear, QLinearConv, ConvInteger, ...): it is not "
                             "an INT8 model; give the INT8 model, and its FP32 parent with --fp32")
    return proto


def check_pair(int8: Path, fp32: Path, p8: Any, p32: Any, manifest: Any, data: Any) -> None:
    """Refuse, before any timing, a MODEL that is not INT8, an FP32 model whose inputs differ from it, and
    images that do not fit the model (one UserInputError/DataError naming the value and the fix)."""
    from edgebench.calibration.graph import graph_inputs
    from edgebench.calibration.preprocess import preprocess

    require_int8(int8, p8)

    def sig(p: Any) -> list[tuple[str, tuple[Any, ...]]]:
        return [(t.dtype, tuple(t.shape[1:])) for t in graph_inputs(p)]

    if sig(p8) != sig(p32):
        show = "; ".join(t.describe() for t in graph_inputs(p32))
        raise UserInputError(f"--fp32 '{fp32}' takes {show} but '{int8}' takes "
                             f"{'; '.join(t.describe() for t in graph_inputs(p8))}: give the FP32 model the INT8 "
                             "one was quantized from")
    if data is not None and manifest is not None and manifest.input is not None:
        dims = graph_inputs(p8)[0].shape
        pp = manifest.input.preprocessing
        hw = dims[2:4] if pp.layout == "NCHW" else dims[1:3]
        preprocess(data.images[:1], pp, tuple(hw) if all(isinstance(d, int) for d in hw) else None)



def _recipe_of(manifest: Any, cpu: Mapping[str, Any]) -> Any:
    from edgebench.calibration.recipes import QuantRecipe, get_preset

    rec = getattr(manifest, "recipe", None) if manifest is not None else None
    return QuantRecipe.from_dict(rec.to_dict()) if rec else get_preset(_host_preset(cpu))


def candidates_for(causes: Sequence[Cause], current: Any, cpu: Mapping[str, Any], usable_cores: int,
                   errors: Sequence[Mapping[str, Any]] = ()) -> list[Candidate]:
    """The changes to try for `causes` (pure): each cause's fix as a recipe, thread count or FP32."""
    from edgebench.calibration.recipes import get_preset

    host = get_preset(_host_preset(cpu))
    host8 = replace(host, weight_bits=8, activation_bits=8, int8_nodes=())
    out: list[Candidate] = []
    seen: set[str] = set()

    def add(c: Candidate) -> None:
        if c.label not in seen:
            seen.add(c.label)
            out.append(c)

    for cause in causes:
        k = cause.kind
        if k == "oversubscribed-threads":
            add(Candidate(f"--threads {usable_cores}", k, threads=usable_cores))
        elif k in ("s8s8-no-vnni", "arm-preset-on-x86", "narrow-weights", "wide-activations", "dynamic-conv"):
            add(Candidate(f"static INT8, preset {host8.name}", k, recipe=host8))
        elif k == "float-islands":
            add(Candidate(f"QOperator format, preset {host8.name}", k, recipe=replace(host8, quant_format="qoperator",
                                                                                       name=host8.name + "+qop")))
        elif k == "outlier-channel":
            add(Candidate("per-channel weights", k, recipe=replace(current, per_channel=True,
                                                                   name=current.name + "+per-channel")))
        elif k == "sensitive-nodes":
            ranked = [e for e in errors if not e.get("activation_outlier")][:2]
            for group in (ranked, [e for e in errors if e.get("activation_outlier")]):
                nodes = tuple(sorted({n for e in group for n in e["nodes"]}))
                if nodes:
                    add(Candidate(f"keep float: {', '.join(nodes)}", k, recipe=replace(
                        current, nodes_to_exclude=tuple(sorted(set(current.nodes_to_exclude) | set(nodes))),
                        name=current.name + "+float-nodes")))
            if current.method == "minmax":  # clips outlying activations instead of sizing the scale for them
                add(Candidate("percentile calibration", k, recipe=replace(current, method="percentile",
                                                                          name=current.name + "+percentile")))
    if causes:
        add(Candidate("keep FP32", causes[0].kind, keep_fp32=True))
    return out


@dataclass(frozen=True)
class ModelPair:
    """The INT8 model and its FP32 parent as read and checked (`read_pair`): paths, graphs, the INT8 manifest."""

    int8: Path
    fp32: Path
    p8: Any
    p32: Any
    manifest: Any

    @property
    def recipe(self) -> RecipeRecord | None:
        return getattr(self.manifest, "recipe", None) if self.manifest is not None else None


def read_pair(int8: Path, fp32: Path, data: Any = None) -> ModelPair:
    """Read both graphs and refuse a pair (or images) the doctor cannot diagnose (`check_pair`), before any timing."""
    from edgebench.artifact import ModelArtifact
    from edgebench.calibration.graph import load_graph

    art = ModelArtifact.resolve(int8)
    p8, p32 = load_graph(Path(int8)), load_graph(Path(fp32))
    check_pair(int8, fp32, p8, p32, art.manifest, data)
    return ModelPair(Path(int8), Path(fp32), p8, p32, art.manifest)


def diagnose(int8: Path, fp32: Path, *, cpu: Mapping[str, Any], threads: int = 1, data: Any = None,
             rounds: int = 7, iters: int = 30, usable_cores: int | None = None, profile_runs: int = 30) -> Diagnosis:
    """Speed (and with `data`, a labelled Dataset, accuracy) diagnosis of `int8` against its parent `fp32` on this
    machine, as if its CPU were `cpu` (the fingerprint's `cpu` section) with `usable_cores`."""
    from edgebench.system import default_threads

    pair = read_pair(int8, fp32, data)
    spec = DoctorMeasure(fp32=str(fp32), model=str(int8), threads=threads, rounds=rounds, iters=iters,
                         profile_runs=profile_runs)
    cores = usable_cores if usable_cores is not None else default_threads()
    return conclude(pair, measure_model(spec, data), cpu=cpu, threads=threads, usable_cores=cores, data=data)


# an INT8 op type -> the FP32 op type it stands for ("layout": the layout conversions each graph gets)
_FP32_OP = {"NhwcMaxPool": "MaxPool", "QGemm": "Gemm", "MatMulInteger": "MatMul", "ConvInteger": "Conv",
            "Transpose": "layout", "ReorderInput": "layout", "ReorderOutput": "layout"}
_CONVERSIONS = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear")
SLOWER_SHARE = 0.05  # an op type whose INT8 kernels lose at least this share of INT8 time to FP32's is named


def slower_kernels(int8_ms: Mapping[str, float], fp32_ms: Mapping[str, float],
                   slowest: Mapping[str, Sequence[Any]] | None = None) -> list[dict[str, Any]]:
    """The op types whose INT8 kernels take longer than the FP32 model's kernels for the same ops (ORT profiles of
    both; QLinearConv counts as Conv, NhwcMaxPool as MaxPool, Transpose/Reorder* as layout), by the time lost,
    those losing >= SLOWER_SHARE of INT8 kernel time; Quantize/Dequantize conversions are not counted here.

    >>> [k["op"] for k in slower_kernels({"QLinearConv": 3.0, "Slice": 1.3, "QuantizeLinear": 0.2},
    ...                                  {"Conv": 2.6, "Slice": 0.2, "ReorderOutput": 0.4})]
    ['Slice', 'Conv']
    """
    def as_fp32(op: str) -> str:
        return _FP32_OP.get(op, op.removeprefix("QLinear"))

    def by_fp32_op(ms: Mapping[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for op, t in ms.items():
            if op not in _CONVERSIONS:
                out[as_fp32(op)] = out.get(as_fp32(op), 0.0) + float(t)
        return out

    a, b = by_fp32_op(int8_ms), by_fp32_op(fp32_ms)
    total = sum(int8_ms.values()) or 1.0
    slow_node = {as_fp32(op): v for op, v in (slowest or {}).items()}
    out = [{"op": op, "int8_ms": t, "fp32_ms": b[op], "lost_ms": t - b[op], "slowest": slow_node.get(op)}
           for op, t in a.items() if op in b and op != "layout" and t - b[op] >= SLOWER_SHARE * total]
    return sorted(out, key=lambda k: -k["lost_ms"])


def _slow_kernels_fix(pair: ModelPair, slower: Sequence[Mapping[str, Any]]) -> str:
    """What to change when INT8 kernels lose: the model's channel split when its strided Slices are among them,
    else keep FP32."""
    from edgebench.runtimes.onnx_layout import channel_split_slices

    splits = channel_split_slices(pair.p32) if any(k["op"] == "Slice" for k in slower) else []
    if splits:
        return (f"write the model's channel split ({len(splits)} Slices take every other channel, e.g. "
                f"'{splits[0]}': a strided copy in the INT8 NHWC layout) as a reshape to [N, C/2, 2, H*W] and a "
                "unit-step slice of each row, the same values (docs/detection.md, 'INT8 speed'), then export and "
                "quantize again")
    return ("keep FP32 with this runtime on this CPU (no recipe changes these kernels); time other runtimes "
            "(`edgebench bench FP32 INT8 --interleave -r RUNTIME`)")


def conclude(pair: ModelPair, measured: Mapping[str, Any], *, cpu: Mapping[str, Any], threads: int,
             usable_cores: int, data: Any = None, where: str = "here") -> Diagnosis:
    """The diagnosis from the graphs of `pair` and what the CPU `cpu` measured (`doctor_measure.measure_model`:
    here, or on a device for `doctor --on`); with `data` the per-tensor error is measured here (onnx)."""
    from edgebench.bench.op_profile import float_nodes_why
    from edgebench.calibration.recipes import host_arithmetic

    causes = graph_causes(pair.p8, pair.p32, pair.recipe, cpu, threads, usable_cores)
    speedup, fp32_ms = float(measured["speedup"]), float(measured["fp32_ms"])
    facts: dict[str, Any] = {"threads": threads, "usable_cores": usable_cores,
                             "cpu": {k: cpu.get(k) for k in ("arch", "model")},
                             "isa": sorted(k for k, v in (cpu.get("isa") or {}).items() if v),
                             "precision_pct": measured["precision_pct"],
                             "float_time_by_op": measured["float_time_by_op"],
                             "float_nodes": float_nodes_why(pair.int8, list(measured["fp32_nodes"])),
                             "weights": sorted(set(weight_granularity(pair.p8).values()))}
    if pair.recipe:
        facts["arithmetic"] = host_arithmetic(pair.recipe, cpu).reason
    facts["fp32_ms"] = round(fp32_ms, 4)
    convert = measured["precision_pct"].get("convert", 0.0)
    explained = any(c.area == "speed" for c in causes)
    if (convert >= QDQ_SHARE_PCT and not explained) or (speedup < SPEED_GOAL and not explained
                                                         and fp32_ms < TINY_MODEL_MS):
        causes.append(Cause("qdq-overhead", f"FP32 takes {fp32_ms:.3f} ms a run: per-op overhead (Quantize/Dequantize "
                                            f"{convert:.0f} % of INT8 kernel time) outweighs the arithmetic INT8 saves",
                            "keep FP32 (too little arithmetic for INT8 to pay off)"))
    slower = slower_kernels(measured.get("op_ms") or {}, measured.get("fp32_op_ms") or {},
                            measured.get("slowest_by_op") or {})
    if speedup < SPEED_GOAL and slower and not any(c.area == "speed" for c in causes):
        causes.append(Cause("slow-int8-kernels", "INT8 kernels slower than FP32's: " + ", ".join(
            f"{k['op']} {k['int8_ms']:.2f} vs {k['fp32_ms']:.2f} ms"
            + (f" (slowest: {k['slowest'][0]} {k['slowest'][1]:.2f} ms)" if k.get("slowest") else "")
            for k in slower[:3]), _slow_kernels_fix(pair, slower)))
    drop = None
    errors: list[dict[str, Any]] = []
    if measured.get("paired") is not None:
        facts["paired"] = dict(measured["paired"])
        drop = 0.0 - facts["paired"]["top1_delta_pts"]
        errors = _tensor_errors(pair, data, facts) if data is not None else []
        if drop > DROP_GOAL_PTS and errors and not any(c.kind == "outlier-channel" for c in causes):
            e = errors[0]
            wide = [x["why"] for x in errors if x.get("activation_outlier")]
            causes.append(Cause("sensitive-nodes", f"worst: {e['why']} (SQNR {e['sqnr_db']} dB)"
                                                   + (f"; {wide[0]}" if wide else ""),
                                f"keep float: {', '.join(e['nodes'])}"))
    order = {k: i for i, k in enumerate(CAUSE_KINDS)}
    lossy = drop is not None and drop > DROP_GOAL_PTS  # then the accuracy causes lead the verdict
    causes.sort(key=lambda c: (not (lossy and c.area == "accuracy"), order[c.kind]))
    current = _recipe_of(pair.manifest, cpu)
    return Diagnosis(speedup, drop, tuple(causes), tuple(candidates_for(causes, current, cpu, usable_cores, errors)),
                     facts, where)


def _tensor_errors(pair: ModelPair, data: Any, facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The tensors quantization damages most and the widest activations on 16 images of `data` (both graphs run
    here with every tensor exposed), recorded in `facts`; the ranked groups of nodes to keep float."""
    from edgebench.calibration.preprocess import preprocess

    man = pair.manifest
    if man is None or man.input is None or "QuantizeLinear" not in {n.op_type for n in pair.p8.graph.node}:
        return []
    x = preprocess(data.images[:16], man.input.preprocessing)
    errors = node_errors(pair.int8, pair.fp32, x, man.input.name)
    facts["node_errors"] = errors
    facts["activation_outliers"] = activation_outliers(pair.p8, pair.fp32, x, man.input.name)
    for a in facts["activation_outliers"][:1]:  # keeping the worst one's producer and consumers float
        around = sorted({n.name for n in pair.p32.graph.node if n.name and (a["tensor"] in n.output
                                                                            or a["tensor"] in n.input)})
        errors.append({"nodes": around, "why": f"activation '{a['tensor']}' spans {a['ratio']}x its typical "
                                               "channel's 99.9th percentile", "activation_outlier": True})
    return errors


# ---- trying the fixes ----------------------------------------------------------------------------------------


def build_candidate(cand: Candidate, fp32: Path, calib: Any, out_dir: Path, extra: dict[str, Any] | None = None
                    ) -> Path:
    """Quantize `fp32` with the candidate's recipe on `calib` into `out_dir`; the written model's path."""
    from edgebench.calibration.quantize import quantize_static_model
    from edgebench.calibration.recipes import PresetChoice

    choice = PresetChoice(cand.recipe, cand.recipe.name, f"edgebench doctor: {cand.label}", "doctor")
    man = quantize_static_model(fp32, calib, choice, output=out_dir, extra_fields=extra)
    return Path(out_dir) / str(man.onnx_file)


def plan_trials(d: Diagnosis, int8: Path, fp32: Path, data: Any, work_dir: Path, *, calib_size: int = 64
                ) -> list[tuple[Candidate, TrialModel | None]]:
    """Every candidate of `d` with the model to time for it: a re-quantized FP32 model (built here, in
    `work_dir`, calibrated on the first `calib_size` images of `data`), the INT8 model at another thread count,
    or None for keeping FP32 (FP32 itself: nothing to time)."""
    calib = data.subset(min(calib_size, len(data))) if data is not None else None
    planned: list[tuple[Candidate, TrialModel | None]] = []
    for i, cand in enumerate(d.candidates):
        if cand.keep_fp32:
            planned.append((cand, None))
        elif cand.threads is not None:  # the same INT8 model at another thread count, against FP32 as given
            planned.append((cand, TrialModel(cand.label, str(int8), cand.threads)))
        elif calib is None:
            raise UserInputError(f"trying '{cand.label}' re-quantizes the FP32 model: give --data for calibration")
        else:
            built = build_candidate(cand, fp32, calib, Path(work_dir) / f"candidate{i}")
            planned.append((cand, TrialModel(cand.label, str(built))))
    return planned


def trials_from(planned: Sequence[tuple[Candidate, TrialModel | None]], measured: Sequence[Mapping[str, Any]],
                scored: bool) -> list[Trial]:
    """The `planned` candidates as measured (`doctor_measure.measure_trial`'s records, by label; here or on a
    device); keeping FP32 is FP32 itself: 1.00x, and with `scored` (images given) no drop."""
    by_label = {m["label"]: m for m in measured}
    trials = []
    for cand, model in planned:
        if model is None:
            trials.append(Trial(cand, 1.0, 0.0 if scored else None, 100.0 if scored else None))
            continue
        if cand.label not in by_label:
            raise EdgebenchError(f"the measurements hold no trial '{cand.label}'")
        m = by_label[cand.label]
        trials.append(Trial(cand, float(m["speedup"]), m["drop_pts"], m["agreement_pct"]))
    return trials


def try_fixes(d: Diagnosis, int8: Path, fp32: Path, data: Any, work_dir: Path, *, calib_size: int = 64,
              rounds: int = 7, iters: int = 30,
              measure_trials: Callable[[DoctorMeasure], Sequence[Mapping[str, Any]]] | None = None) -> list[Trial]:
    """Apply every candidate of `d` and measure it: interleaved speed against FP32 and (with `data`) paired top-1.

    Calibration uses the first `calib_size` images of `data` (the same images the paired top-1 is measured on).
    `measure_trials(spec)` times the fixes (`doctor_measure.measure_trial` records): by default here, on a device
    for `doctor --on` (devices/doctor.py)."""
    planned = plan_trials(d, int8, fp32, data, work_dir, calib_size=calib_size)
    models = tuple(m for _, m in planned if m is not None)
    measured: Sequence[Mapping[str, Any]] = []
    if models:
        spec = DoctorMeasure(fp32=str(fp32), trials=models, threads=int(d.facts.get("threads", 1)), rounds=rounds,
                             iters=iters)
        measured = measure_trials(spec) if measure_trials is not None else measure(spec, data)["trials"]
    return trials_from(planned, measured, data is not None)


def best_trial(trials: Sequence[Trial], given: Diagnosis | None = None) -> Trial | None:
    """The fastest INT8 trial meeting the goal (>= 1.0x FP32, <= 0.5 points lost) and at least 5 % faster than the
    `given` model when that meets the goal too; else the FP32 trial; None when nothing was tried (or the given model
    stays best)."""
    floor = 0.0
    if given is not None and given.speedup >= SPEED_GOAL and (given.drop_pts or 0.0) <= DROP_GOAL_PTS:
        floor = given.speedup * MIN_GAIN  # separate interleaved runs: a smaller gain is within the drift
    ok = [t for t in trials if t.meets_goal and not t.candidate.keep_fp32 and t.speedup > floor]
    if floor and not ok:
        return None
    if ok:
        return max(ok, key=lambda t: (t.speedup, -(t.drop_pts or 0.0)))
    return next((t for t in trials if t.candidate.keep_fp32), None)


def decision_line(d: Diagnosis, best: Trial | None) -> str:
    """What the doctor decided, said plainly when no INT8 variant reaches the goal."""
    if best is None and d.speedup >= SPEED_GOAL and (d.drop_pts or 0.0) <= DROP_GOAL_PTS:
        return f"keep this INT8 model: {d.speedup:.2f}x FP32 within 0.5 points" + (
            "" if d.drop_pts is not None else " (top-1 not measured: give --data)")
    if best is None:
        return "nothing tried (--try measures the fixes)"
    if best.candidate.keep_fp32:
        return (f"keep FP32: no INT8 variant tried reaches >= 1.00x FP32 speed within 0.5 points {d.where} (see the "
                "table)")
    drop = "" if best.drop_pts is None else f", top-1 {0.0 - best.drop_pts:+.2f} points"
    return f"{best.candidate.label}: measured {best.speedup:.2f}x FP32{drop} (was {d.speedup:.2f}x)"



# ---- the compare report's verdicts ------------------------------------------------------------------------------

def isa_cause(arch: str | None, isa_on: Sequence[str]) -> Cause | None:
    """The cause a machine's ISA flags alone show for slow INT8 (pure; what the report can say from a result).

    >>> isa_cause("x86_64", ["avx2"]).kind, isa_cause("x86_64", ["avx2", "avx512_vnni"])
    ('s8s8-no-vnni', None)
    """
    from edgebench.calibration.recipes import X86_ARCHES, X86_VNNI_FLAGS

    a = (arch or "").lower()
    if a in X86_ARCHES and not set(X86_VNNI_FLAGS) & set(isa_on):
        return Cause("s8s8-no-vnni", f"{arch} without VNNI: ORT's u8s8 kernels sum pairs in int16 (VPMADDUBSW)",
                     "preset x86-avx2 (U8S8 per-channel, reduce_range)")
    return None


def report_verdict(speedup: float | None, drop_pts: float | None, arch: str | None, isa_on: Sequence[str]
                   ) -> str | None:
    """The verdict line the compare report shows for an INT8 result: None unless its speed-up is below 1.2x or it
    loses more than 0.5 top-1 points; derived from the result's figures and the machine's ISA flags (cheap: no
    model is run).

    >>> report_verdict(2.0, 0.1, "x86_64", ["avx2"]) is None
    True
    >>> report_verdict(0.9, None, "x86_64", ["avx2"]).split(": ")[0]
    'INT8 is 0.90x FP32 here'
    """
    slow = speedup is not None and speedup < REPORT_SPEEDUP
    lossy = drop_pts is not None and drop_pts > REPORT_DROP_PTS
    if not (slow or lossy):
        return None
    cause = isa_cause(arch, isa_on) if slow else None
    hint = "run `edgebench doctor MODEL --data DATA --try` for the cause and a measured fix"
    if speedup is None:
        return f"INT8 loses {drop_pts:.2f} top-1 points against FP32: {hint}"
    if cause is None:
        acc = "" if drop_pts is None else f", top-1 {0.0 - drop_pts:+.2f} points"
        return f"INT8 is {speedup:.2f}x FP32 here{acc}: {hint}"
    return verdict_line(speedup, drop_pts, [cause], {}) + f" ({hint})"


@dataclass(frozen=True)
class DoctorConfig:
    """`edgebench doctor`'s options, checked on construction (before any model is read): `data` labelled images
    (paired top-1, per-node error; --try calibrates on them), `limit` of them, `threads` of the timings,
    `try_fixes` measures every candidate fix, `output` is where --apply writes the best one (given only with it;
    with `on`, the devices measured on (`doctor --on`), one folder each below it)."""

    data: str | None = None
    limit: int = 500
    runtime: str = "ort-cpu"
    threads: int = 1
    try_fixes: bool = False
    apply: bool = False
    output: Path | None = None
    on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.runtime != "ort-cpu":
            raise UserInputError(f"-r {self.runtime}: the doctor reads ONNX Runtime's profiler and kernels; use -r "
                                 "ort-cpu")
        if self.threads < 1:
            raise UserInputError(f"--threads {self.threads} must be >= 1 (e.g. 1)")
        if self.limit < 1:
            raise UserInputError(f"--limit {self.limit} must be >= 1 (e.g. 500)")
        if self.apply and self.output is None:
            raise UserInputError("--apply writes the best model to a folder: give -o DIR")
        if self.output is not None and not self.apply:
            raise UserInputError(f"-o {self.output} is where --apply writes; add --apply or drop -o")
        if (self.try_fixes or self.apply) and self.data is None:
            raise UserInputError("--try/--apply re-quantize the FP32 model and measure top-1: give --data (e.g. "
                                 "cifar10)")
        object.__setattr__(self, "on", tuple(self.on))
        if self.output is not None:  # with --on: a folder per device below -o
            for folder in [self.output / device for device in self.on] or [self.output]:
                self._check_output(folder)

    def output_for(self, device: str | None = None) -> Path | None:
        """Where --apply writes (for `device` with --on: its folder below -o); None without --apply."""
        if not self.apply or self.output is None:
            return None
        return self.output / device if device is not None else self.output

    def load_data(self, fp32_manifest: Any) -> Any:
        """--data's first --limit labelled images, as the FP32 model's manifest loads them; None without --data."""
        from edgebench.calibration.evaluate import load_eval_dataset

        if self.data is None:
            return None
        return load_eval_dataset(self.data, fp32_manifest, size=self.limit).require_labels("the doctor")

    @staticmethod
    def _check_output(output: Path) -> None:
        from edgebench.atomic import check_writable_dir
        from edgebench.errors import OutputExistsError

        check_writable_dir(output)
        for name in ("model.int8.onnx", "model.int8.json", "doctor.json"):
            if (output / name).exists():
                raise OutputExistsError(f"'{output / name}' already exists; choose another -o")


def run_doctor(cfg: DoctorConfig, int8: Path, fp32: Path, fp32_manifest: Any = None) -> dict[str, Any]:
    """Diagnose `int8` against its parent `fp32` (whose manifest gives the images' preprocessing), try the fixes
    when asked and write the best to `cfg.output` with --apply; returns the record (`doctor --json`)."""
    import tempfile

    from edgebench.bench.fingerprint import fingerprint

    ds = cfg.load_data(fp32_manifest)
    d = diagnose(int8, fp32, cpu=fingerprint()["cpu"], threads=cfg.threads, data=ds)
    trials: list[Trial] = []
    if cfg.try_fixes or cfg.apply:
        with tempfile.TemporaryDirectory(prefix="edgebench-doctor-") as tmp:
            trials = try_fixes(d, int8, fp32, ds, Path(tmp))
    return doctor_record(d, trials, int8, fp32, ds, cfg.output_for())


def doctor_record(d: Diagnosis, trials: Sequence[Trial], int8: Path, fp32: Path, ds: Any, output: Path | None
                  ) -> dict[str, Any]:
    """The doctor's record (`doctor --json`): the diagnosis, the measured trials and the decision; with `output`
    (--apply) the best trial is written there."""
    best = best_trial(trials, d)
    record = {**d.to_dict(), "trials": [t.to_dict() for t in trials], "decision": decision_line(d, best),
              "model": str(int8), "fp32": str(fp32)}
    if best is not None and not best.candidate.keep_fp32:
        record["verdict"] = d.verdict(best.candidate.label)
    if output is not None:
        record["applied"] = _apply(best, fp32, ds, output, record)
    return record


def _apply(best: Trial | None, fp32: Path, ds: Any, output: Path, record: dict[str, Any]) -> str:
    """Write the best trial to `output`: its model + manifest (with the `doctor` record), or only doctor.json when
    the decision keeps a model that exists (FP32, the given INT8 model, another thread count)."""
    from edgebench.atomic import ensure_writable_dir, write_json_new

    if best is None or best.candidate.keep_fp32 or best.candidate.threads is not None:
        ensure_writable_dir(output)
        return str(write_json_new(output / "doctor.json", record))
    calib = ds.subset(min(64, len(ds)))
    return str(build_candidate(best.candidate, fp32, calib, output, extra={"doctor": dict(record)}))
