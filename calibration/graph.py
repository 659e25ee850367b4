"""What an ONNX file holds, read from the graph alone (no torch): inputs/outputs, opset, op counts, parameters,
MACs and the file's sha256. `edgebench describe` builds a manifest from it for a model another tool exported.

MACs are counted the way `torch.utils.flop_counter` counts them (one multiply-accumulate per weight use, bias
and element-wise ops not counted), from the tensor shapes after ONNX shape inference at batch 1:

- Conv (grouped and depthwise too): out_elements x C_in/group x prod(kernel)
- ConvTranspose: in_elements(spatial) x prod(W) (W is [C_in, C_out/group, k...])
- Gemm: M x N x K;  MatMul: out_elements x K (broadcast batch dims included)

A graph with a fixed batch B is counted at B and divided by B (MACs are per image). Needs `onnx` (the `export`
extra): this is a workstation module. Example::

    g = inspect_graph(Path("model.onnx"))
    g.opset, g.inputs[0].shape, g.macs, g.op_counts["Conv"]
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgebench.artifact import check_model_file
from edgebench.errors import ModelFileError, RuntimeUnavailable, UserInputError
from edgebench.manifest import sha256_file

Dim = int | str | None
MAC_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
MACS_COUNTER = ("onnx graph after shape inference at batch 1 (Conv incl. grouped/depthwise, ConvTranspose, Gemm, "
                "MatMul; MAC = FLOP/2 as torch.utils.flop_counter)")


class ShapeInferenceError(ModelFileError):
    """ONNX shape inference fails on the graph (the message names the node)."""


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: name, element type ('float32', 'int64', ...) and dims (int, name or None)."""

    name: str
    dtype: str
    shape: tuple[Dim, ...]

    def describe(self) -> str:
        """'input [batch, 3, 32, 32] float32'."""
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} [{dims}] {self.dtype}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class GraphInfo:
    """The facts `inspect_graph` reads from an ONNX file (frozen; `to_dict` for the manifest's `graph`)."""

    path: Path
    sha256: str
    file_size_mb: float
    opset: int | None
    ir_version: int
    producer: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    op_counts: dict[str, int]
    params: int
    macs: int | None
    macs_by_op: dict[str, int] = field(default_factory=dict)
    macs_note: str | None = None  # why `macs` is None or partial
    output_ops: dict[str, str] = field(default_factory=dict)  # graph output -> op type that writes it

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "ir_version": self.ir_version,
            "producer": self.producer,
            "nodes": sum(self.op_counts.values()),
            "op_counts": dict(self.op_counts),
            "macs_by_op": dict(self.macs_by_op),
            "macs_note": self.macs_note,
            "output_ops": dict(self.output_ops),
        }


def import_onnx() -> Any:
    """The `onnx` module, or a RuntimeUnavailable saying where to install it."""
    try:
        import onnx
    except ImportError:
        raise RuntimeUnavailable(
            "reading an ONNX graph needs the onnx package, which the device install leaves out; run "
            "`edgebench describe` on the workstation (pip install 'edgebench[export]') and copy the manifest over"
        ) from None
    return onnx


def load_graph(path: Path) -> Any:
    """The ModelProto at `path`, or one clear ModelFileError."""
    onnx = import_onnx()
    check_model_file(path)
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf DecodeError and friends have no common base
        raise ModelFileError(f"'{path}' is not a readable ONNX model ({type(e).__name__}: {e})") from None
    if not model.graph.node:
        raise ModelFileError(f"'{path}' holds an empty ONNX graph; export it again")
    return model


def default_opset(model: Any) -> int | None:
    """The opset of the default ('' / 'ai.onnx') domain."""
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return None


def _dtype_name(elem_type: int) -> str:
    from onnx import helper

    try:
        return str(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        return f"type{elem_type}"


def _dims(value_info: Any) -> tuple[Dim, ...]:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return ()
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)


def _tensor(value_info: Any) -> TensorInfo:
    return TensorInfo(value_info.name, _dtype_name(value_info.type.tensor_type.elem_type), _dims(value_info))


def graph_inputs(model: Any) -> tuple[TensorInfo, ...]:
    """The inputs a caller feeds (initializers listed as inputs by older exporters are skipped)."""
    inits = {i.name for i in model.graph.initializer}
    return tuple(_tensor(i) for i in model.graph.input if i.name not in inits)


def count_params(model: Any) -> int:
    """Elements of the float initializers (and float Constant tensors of more than one element).

    A BatchNorm folded into a conv by the exporter counts less than torch's parameters of the same network."""
    from onnx import TensorProto

    floats = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16}
    n = sum(math.prod(i.dims) for i in model.graph.initializer if i.data_type in floats)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type in floats and math.prod(a.t.dims) > 1:
                    n += math.prod(a.t.dims)
    return int(n)


def _infer(model: Any, input_shapes: dict[str, tuple[int, ...]], path: Path) -> dict[str, tuple[Dim, ...]]:
    """Shapes of every tensor after strict shape inference with `input_shapes` set; a failure names the node."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for inp in m.graph.input:
        if inp.name in input_shapes:
            dims = inp.type.tensor_type.shape.dim
            for d, v in zip(dims, input_shapes[inp.name], strict=False):
                d.Clear()
                d.dim_value = int(v)
    del m.graph.value_info[:]  # re-infer everything from the inputs
    for o in m.graph.output:  # a stale output shape (batch name) must not clash with the concrete one
        o.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True, data_prop=True)
    except Exception as e:  # onnx raises InferenceError / ValidationError / RuntimeError here
        msg = " ".join(str(e).split())
        found = re.search(r"\(op_type:\s*([^,]+),\s*node name:\s*([^)]*)\)\s*:?\s*(.*)", msg)
        if found:
            op, node, why = found.group(1).strip(), found.group(2).strip(), found.group(3)
            why = re.sub(r"^\[\w+\]\s*", "", why)
            where, msg = f"at node '{node or '?'}' ({op})", why
        else:
            where = "on the graph"
        raise ShapeInferenceError(
            f"ONNX shape inference fails {where} of '{path}': {msg[:300]}; that node does not fit its inputs: fix "
            "or re-export the graph (onnx.checker.check_model(model, full_check=True) shows the same)"
        ) from None
    shapes: dict[str, tuple[Dim, ...]] = {}
    g = inferred.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shapes[vi.name] = _dims(vi)
    for init in g.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    return shapes


def _known(shape: tuple[Dim, ...] | None) -> bool:
    return shape is not None and len(shape) > 0 and all(isinstance(d, int) and d > 0 for d in shape)


def _attr(node: Any, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def node_macs(node: Any, shapes: dict[str, tuple[Dim, ...]]) -> int | None:
    """MACs of one Conv/ConvTranspose/Gemm/MatMul node from the inferred shapes (None when a shape is unknown)."""
    op = node.op_type
    ins = [shapes.get(i) for i in node.input]
    out = shapes.get(node.output[0]) if node.output else None
    if op == "Conv":
        w = ins[1] if len(ins) > 1 else None
        if not (_known(out) and _known(w)):
            return None
        return math.prod(out) * math.prod(w[1:])  # type: ignore[arg-type,index]
    if op == "ConvTranspose":
        x, w = ins[0], ins[1] if len(ins) > 1 else None
        if not (_known(x) and _known(w)):
            return None
        return x[0] * math.prod(x[2:]) * math.prod(w)  # type: ignore[index,operator,arg-type]
    if op == "Gemm":
        a, b = ins[0], ins[1] if len(ins) > 1 else None
        if not (_known(a) and _known(b)) or len(a) != 2 or len(b) != 2:  # type: ignore[arg-type]
            return None
        m, k = (a[1], a[0]) if _attr(node, "transA", 0) else (a[0], a[1])  # type: ignore[index]
        n = b[0] if _attr(node, "transB", 0) else b[1]  # type: ignore[index]
        return int(m) * int(n) * int(k)
    if op == "MatMul":
        a = ins[0]
        if not (_known(a) and _known(out)):
            return None
        return math.prod(out) * int(a[-1])  # type: ignore[arg-type,index]
    return None


def _count_macs(model: Any, shapes: dict[str, tuple[Dim, ...]]) -> tuple[Counter[str], list[str]]:
    """MACs by op type, and the MAC nodes whose shapes are unknown."""
    by_op: Counter[str] = Counter()
    missing: list[str] = []
    for node in model.graph.node:
        if node.op_type in MAC_OPS:
            m = node_macs(node, shapes)
            if m is None:
                missing.append(node.name or node.op_type)
            else:
                by_op[node.op_type] += m
    return by_op, missing


def _symbolic_shapes(model: Any, input_shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[Dim, ...]]:
    """Shapes from ONNX Runtime's symbolic shape inference, which computes the small shape tensors (Pad's pads,
    Reshape's shape) ONNX's own inference leaves unknown; empty when onnxruntime is absent or gives up."""
    import onnx

    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    except ImportError:
        return {}
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for inp in m.graph.input:
        if inp.name in input_shapes:
            for d, v in zip(inp.type.tensor_type.shape.dim, input_shapes[inp.name], strict=False):
                d.Clear()
                d.dim_value = int(v)
    try:
        inferred = SymbolicShapeInference.infer_shapes(m, auto_merge=False, guess_output_rank=False)
    except Exception:  # it raises plain Exception/AssertionError on ops it cannot follow: the MACs stay unknown
        return {}
    g = inferred.graph
    return {vi.name: _dims(vi) for vi in list(g.input) + list(g.value_info) + list(g.output)}


def inspect_graph(path: Path, *, input_shapes: dict[str, tuple[int, ...]] | None = None,
                  model: Any = None) -> GraphInfo:
    """Read `path` (or the already loaded `model`) and count its ops, parameters and MACs.

    `input_shapes` sets concrete dims for inputs whose height/width are dynamic; a dynamic batch is set to 1.
    Without concrete dims MACs are None and `macs_note` says why.
    """
    path = Path(path)
    model = load_graph(path) if model is None else model
    inputs = graph_inputs(model)
    outputs = tuple(_tensor(o) for o in model.graph.output)
    concrete: dict[str, tuple[int, ...]] = {}
    unknown: list[str] = []
    batch = 1
    for t in inputs:
        dims = list((input_shapes or {}).get(t.name, t.shape))
        if dims and not isinstance(dims[0], int):
            dims[0] = 1
        elif dims and isinstance(dims[0], int) and dims[0] > 1:
            batch = max(batch, int(dims[0]))
        if all(isinstance(d, int) and d > 0 for d in dims):
            concrete[t.name] = tuple(int(d) for d in dims)  # type: ignore[arg-type]
        else:
            unknown.append(t.describe())
    shapes = _infer(model, concrete, path)
    by_op, missing = _count_macs(model, shapes)
    if missing and not unknown:  # e.g. TF "same" padding computed by a Pad chain ONNX's inference cannot follow
        shapes = {**_symbolic_shapes(model, concrete), **{k: v for k, v in shapes.items() if _known(v)}}
        by_op, missing = _count_macs(model, shapes)
    note = None
    macs: int | None = sum(by_op.values()) // batch
    if unknown:
        macs, note = None, f"dynamic input dims ({', '.join(unknown)}); give the input size to count MACs"
    elif missing:
        macs, note = None, f"shapes unknown after shape inference at {len(missing)} node(s): {', '.join(missing[:5])}"
    elif batch > 1:
        note = f"fixed batch {batch}: counted at batch {batch} and divided by it (MACs per image)"
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    return GraphInfo(
        path=path,
        sha256=sha256_file(path),
        file_size_mb=path.stat().st_size / 1e6,
        opset=default_opset(model),
        ir_version=int(model.ir_version),
        producer=" ".join(x for x in (model.producer_name, model.producer_version) if x) or "unknown",
        inputs=inputs,
        outputs=outputs,
        op_counts=dict(sorted(Counter(n.op_type for n in model.graph.node).items())),
        params=count_params(model),
        macs=macs,
        macs_by_op={k: v // batch for k, v in sorted(by_op.items())},
        macs_note=note,
        output_ops={o.name: producers.get(o.name, "input") for o in outputs},
    )


def parse_size(text: str) -> tuple[int, int]:
    """'224x224' / '224' -> (224, 224); a UserInputError naming --size otherwise.

    >>> parse_size("240x320")
    (240, 320)
    """
    parts = text.lower().replace(",", "x").split("x")
    try:
        vals = [int(p) for p in parts if p.strip()]
    except ValueError:
        vals = []
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 1:
        raise UserInputError(f"--size '{text}' is not HxW (e.g. --size 224x224)")
    return vals[0], vals[1]


# ---- which nodes run INT8, and why the others do not --------------------------------------------------------

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
INTEGER_OPS = frozenset({"ConvInteger", "MatMulInteger", "QGemm", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
                         "QAttention", "DynamicQuantizeLSTM", "QEmbedLayerNormalization", "QOrderedMatMul"})
# Ops that only move or select data: run on int8 tensors when their input is int8 (QOperator format).
DATA_MOVEMENT_OPS = frozenset({"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "MaxPool", "Identity",
                               "Slice", "Split", "Concat", "Gather", "Pad", "Resize", "DepthToSpace", "SpaceToDepth"})
# QDQ format on ONNX Runtime's CPU provider: DequantizeLinear -> op -> QuantizeLinear units that ORT fuses into an
# integer kernel (QLinearConv, QGemm, QLinearAdd, ...; Relu/Clip fold into the QuantizeLinear after them) ...
ORT_QDQ_INTEGER_OPS = frozenset({"Conv", "ConvTranspose", "MatMul", "Gemm", "Add", "Mul", "AveragePool",
                                 "GlobalAveragePool", "LeakyRelu", "Sigmoid", "Softmax", "Concat", "Where", "Relu",
                                 "Clip"})
# ... and units whose DequantizeLinear/QuantizeLinear it drops, so the op moves int8 data. Any other op between
# DQ and Q (Pad, for one: measured on ORT 1.31 with `edgebench profile`) computes in float on dequantized tensors.
ORT_QDQ_DROPPED_OPS = frozenset({"Gather", "GatherElements", "Reshape", "Expand", "Flatten", "Transpose", "MaxPool",
                                 "Resize", "Squeeze", "Unsqueeze", "Tile", "Slice", "Identity"})
NARROW_TYPES = {"INT4": "int4", "UINT4": "uint4", "INT16": "int16", "UINT16": "uint16"}


@dataclass(frozen=True)
class NodeClass:
    """How one node of a (quantized) graph runs on ORT's CPU provider: `int8`, `float` or `convert` (Q/DQ),
    and why."""

    name: str
    op_type: str
    runs: str
    reason: str

    def __post_init__(self) -> None:
        if self.runs not in ("int8", "float", "convert"):
            raise ValueError(f"runs '{self.runs}' is not int8, float or convert")


def classify_nodes(model: Any, recipe: Any = None) -> list[NodeClass]:
    """Every node of the ONNX `model` (a ModelProto): int8 / float / convert on ORT's CPU provider, with the
    reason. `recipe` (a QuantRecipe) names the nodes and op types it excluded. The one classification behind
    quantize's `nodes` summary and profile's float nodes."""
    from onnx import TensorProto

    int_types = {TensorProto.INT8, TensorProto.UINT8, TensorProto.INT32, TensorProto.INT64}
    narrow = {getattr(TensorProto, k): v for k, v in NARROW_TYPES.items() if hasattr(TensorProto, k)}
    init_types = {i.name: i.data_type for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    excluded_nodes = set(getattr(recipe, "nodes_to_exclude", ()) or ())
    excluded_ops = set(getattr(recipe, "op_types_to_exclude", ()) or ())
    int8_tensors: set[str] = set()
    out = []

    def stored_type(dq: Any) -> str | None:
        """The narrow type (int4/int16) a DequantizeLinear reads, if any."""
        x = dq.input[0]
        t = init_types.get(x)
        if t is None and x in producer and producer[x].op_type == "QuantizeLinear" and len(producer[x].input) > 2:
            t = init_types.get(producer[x].input[2])
        return narrow.get(t) if t is not None else None

    for node in model.graph.node:
        op, name = node.op_type, node.name or node.output[0]
        if op in QDQ_OPS:
            out.append(NodeClass(name, op, "convert", "quantizes or dequantizes a tensor"))
            if op != "DequantizeLinear":
                int8_tensors.update(node.output[:1])
            continue
        if op == "Constant":
            continue
        data = [i for i in node.input if i and init_types.get(i) not in int_types]
        dqs = [producer[i] for i in data if i in producer and producer[i].op_type == "DequantizeLinear"]
        from_dq = bool(data) and len(dqs) == len(data)
        if op.startswith("QLinear") or op in INTEGER_OPS:
            out.append(NodeClass(name, op, "int8", "integer operator"))
            int8_tensors.update(node.output)
        elif op in DATA_MOVEMENT_OPS and data and all(i in int8_tensors for i in data):
            out.append(NodeClass(name, op, "int8", "moves int8 data (QOperator)"))
            int8_tensors.update(node.output)
        elif name in excluded_nodes:
            out.append(NodeClass(name, op, "float", "excluded by the recipe (nodes_to_exclude: --exclude-nodes or "
                                                    "the accuracy budget)"))
        elif op in excluded_ops:
            out.append(NodeClass(name, op, "float", "excluded by op type (op_types_to_exclude: --exclude-ops)"))
        elif from_dq and (kinds := sorted({k for d in dqs if (k := stored_type(d))})):
            out.append(NodeClass(name, op, "float", f"{'/'.join(kinds)} tensors are dequantized: ORT's CPU provider "
                                                    "has no kernel for them and computes in float"))
        elif from_dq and op in ORT_QDQ_INTEGER_OPS:
            out.append(NodeClass(name, op, "int8", "QDQ unit ORT fuses into an integer kernel"))
        elif from_dq and op in ORT_QDQ_DROPPED_OPS:
            out.append(NodeClass(name, op, "int8", "moves int8 data (ORT drops its DequantizeLinear/QuantizeLinear)"))
        elif from_dq:
            out.append(NodeClass(name, op, "float", f"no INT8 kernel for {op} in ORT's CPU provider: it runs on "
                                                    "dequantized floats"))
        else:
            out.append(NodeClass(name, op, "float", "not quantized: no quantized input (an op type the quantizer "
                                                    "leaves float)"))
    return out


def float_node_reasons(model: Path) -> dict[str, str]:
    """{node: reason} of the nodes of the ONNX file `model` that run in float: from its manifest's `nodes`
    (recorded by quantize, so the torch- and onnx-free device install has it), else from `classify_nodes`."""
    from edgebench.manifest import find_typed_manifest

    man = find_typed_manifest(model)
    recorded = (man.nodes or {}).get("float_nodes") if man is not None else None
    if recorded is not None:
        return dict(recorded)
    try:
        import onnx
    except ImportError:  # the device install: no onnx, and a manifest without the record
        return {}
    return {c.name: c.reason for c in classify_nodes(onnx.load(str(model))) if c.runs == "float"}
