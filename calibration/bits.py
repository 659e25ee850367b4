"""Bit widths beyond INT8: narrowing weights to 6 bits, and what ONNX Runtime really runs.

`QuantRecipe.weight_bits` (8, 6, 4) and `activation_bits` (8, 16) reach ORT through `to_ort_kwargs`
(int4/uint4 weights, int16/uint16 activations). ORT has no 6-bit type, so 6-bit weights are quantized as
int8 and then narrowed here (`narrow_weights`: values in [-31, 31] per output channel, bias rescaled to
match). ORT's CPU kernels compute in 8 bits only (QLinearConv, QGemm, ...): with 4-bit weights or 16-bit
activations the graph keeps DequantizeLinear -> float Conv/Gemm. `executed_ops` loads the model in ORT and
counts what its optimized graph computes with, so a report can say so instead of assuming.

    narrow_weights(proto, 6)          # in place; returns the number of weight tensors narrowed
    executed_ops(Path("model.int8.onnx"))["float_compute"]    # e.g. {"Conv": 19, "Gemm": 1}
"""

from __future__ import annotations

import gzip
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

# ops whose arithmetic is integer in ORT's CPU provider
INTEGER_COMPUTE = frozenset({"QLinearConv", "QGemm", "QLinearMatMul", "QLinearAdd", "QLinearMul", "ConvInteger",
                             "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
                             "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearConcat",
                             "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax"})
# float ops that carry the MACs or the element-wise work of a CNN
FLOAT_COMPUTE = frozenset({"Conv", "FusedConv", "Gemm", "MatMul", "FusedMatMul", "Add", "Mul", "GlobalAveragePool",
                           "AveragePool", "ConvTranspose"})


def _arr(init: Any) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(init)


def _per_axis(a: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """A per-channel vector `a` shaped to broadcast along `axis` of an `ndim`-d tensor (scalars pass through)."""
    if a.ndim == 0:
        return a
    shape = [1] * ndim
    shape[axis] = a.size
    return a.reshape(shape)


def narrow_weights(model: Any, bits: int, skip: tuple[str, ...] = (), only: tuple[str, ...] | None = None) -> int:
    """Requantize every int8 weight of a QDQ `model` (ModelProto, in place) to `bits` signed bits, symmetric.

    For each Conv/Gemm/MatMul whose weight comes from DequantizeLinear(int8 initializer): the weights are
    dequantized, a new per-channel scale max|w| / (2**(bits-1) - 1) is taken and the values rounded into
    [-(2**(bits-1) - 1), 2**(bits-1) - 1] (still stored as int8); an int32 bias behind its own
    DequantizeLinear is rescaled to input_scale * new_weight_scale, as ORT's fused kernels assume.
    Nodes named in `skip` keep their 8-bit weights (the recipe's `int8_nodes`); with `only`, just those nodes
    are narrowed (the 7-bit weights of a reduce_range preset's 8-bit fallback nodes).
    Returns how many weight tensors were narrowed.
    """
    from onnx import TensorProto, numpy_helper

    if not 2 <= bits < 8:
        raise ValueError(f"narrow_weights: bits {bits} must be in 2..7")
    qmax = 2 ** (bits - 1) - 1
    inits = {i.name: i for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers = Counter(i for n in model.graph.node for i in n.input)
    done = 0

    def dq_of(name: str) -> Any:
        n = producer.get(name)
        return n if n is not None and n.op_type == "DequantizeLinear" else None

    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2 or node.name in skip:
            continue
        if only is not None and node.name not in only:
            continue
        wdq = dq_of(node.input[1])
        if wdq is None or wdq.input[0] not in inits or inits[wdq.input[0]].data_type != TensorProto.INT8:
            continue
        if consumers[wdq.input[0]] > 1 or consumers[wdq.input[1]] > 1:
            continue  # a shared weight or scale: leave it (narrowing it for one user would change the other)
        q = _arr(inits[wdq.input[0]]).astype(np.float32)
        scale = _arr(inits[wdq.input[1]]).astype(np.float32)
        zp = _arr(inits[wdq.input[2]]).astype(np.float32) if len(wdq.input) > 2 and wdq.input[2] else np.zeros(())
        axis = next((a.i for a in wdq.attribute if a.name == "axis"), 1)
        axis = axis % q.ndim
        w = (q - _per_axis(zp, axis, q.ndim)) * _per_axis(scale, axis, q.ndim)
        reduce = tuple(d for d in range(q.ndim) if d != axis) if scale.ndim else None
        amax = np.abs(w).max(axis=reduce) if reduce is not None else np.abs(w).max()
        new_scale = (np.maximum(amax, 1e-12) / qmax).astype(np.float32).reshape(scale.shape)
        new_q = np.clip(np.round(w / _per_axis(new_scale, axis, q.ndim)), -qmax, qmax).astype(np.int8)
        inits[wdq.input[0]].CopyFrom(numpy_helper.from_array(new_q, wdq.input[0]))
        inits[wdq.input[1]].CopyFrom(numpy_helper.from_array(new_scale, wdq.input[1]))
        if len(wdq.input) > 2 and wdq.input[2]:
            inits[wdq.input[2]].CopyFrom(numpy_helper.from_array(np.zeros(_arr(inits[wdq.input[2]]).shape, np.int8),
                                                                 wdq.input[2]))
        done += 1
        bdq = dq_of(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        xdq = dq_of(node.input[0])
        if bdq is None or xdq is None or bdq.input[0] not in inits:
            continue
        if inits[bdq.input[0]].data_type != TensorProto.INT32:
            continue
        if xdq.input[1] not in inits or consumers[bdq.input[1]] > 1:
            continue
        b = _arr(inits[bdq.input[0]]).astype(np.float64) * _arr(inits[bdq.input[1]]).astype(np.float64)
        b_scale = (_arr(inits[xdq.input[1]]).astype(np.float32) * new_scale.reshape(-1)).astype(np.float32)
        b_scale = b_scale.reshape(_arr(inits[bdq.input[1]]).shape)
        new_b = np.round(b / b_scale.astype(np.float64)).astype(np.int32)
        inits[bdq.input[0]].CopyFrom(numpy_helper.from_array(new_b, bdq.input[0]))
        inits[bdq.input[1]].CopyFrom(numpy_helper.from_array(b_scale, bdq.input[1]))
    return done


def weight_inputs(model: Any, nodes: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    """Node name -> (its weight initializer, the per-channel axis ORT gives it) in a float `model`.

    The axis follows ORT's QDQ quantizer: Conv 0, ConvTranspose 1, Gemm 0 with transB else 1, MatMul 1.
    Raises CalibrationError for a node the graph lacks or whose weight is not an initializer.
    """
    from edgebench.errors import CalibrationError

    inits = {i.name for i in model.graph.initializer}
    by_name = {n.name: n for n in model.graph.node if n.name}
    out: dict[str, tuple[str, int]] = {}
    for name in nodes:
        node = by_name.get(name)
        if node is None or len(node.input) < 2 or node.input[1] not in inits:
            raise CalibrationError(f"8-bit fallback node '{name}' is not a node with a weight initializer in the "
                                   "graph being quantized (quant_pre_process may have renamed or fused it)")
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        axis = {"Conv": 0, "ConvTranspose": 1, "Gemm": 0 if trans_b else 1}.get(node.op_type, 1)
        out[name] = (node.input[1], axis)
    return out


def node_weight_types(model: Any) -> dict[str, str]:
    """Node name -> ONNX element type of its quantized weight (DequantizeLinear of an initializer), or 'float'.

    For Conv/Gemm/MatMul nodes of a QDQ `model`: e.g. {"conv1": "int8", "conv2": "int4", "fc": "float"}.
    """
    from onnx import TensorProto

    inits = {i.name: i.data_type for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    out: dict[str, str] = {}
    for n in model.graph.node:
        if n.op_type not in ("Conv", "Gemm", "MatMul", "ConvTranspose") or len(n.input) < 2 or not n.name:
            continue
        dq = producer.get(n.input[1])
        if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in inits:
            out[n.name] = TensorProto.DataType.Name(inits[dq.input[0]]).lower()
        elif n.input[1] in inits:
            out[n.name] = "float"
    return out


def weight_types(model: Any) -> dict[str, int]:
    """ONNX element type names of the quantized weights (DequantizeLinear of an initializer), with counts."""
    from onnx import TensorProto

    inits = {i.name: i.data_type for i in model.graph.initializer}
    out: Counter[str] = Counter()
    for n in model.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]] != TensorProto.INT32:
            out[TensorProto.DataType.Name(inits[n.input[0]]).lower()] += 1
    return dict(sorted(out.items()))


def activation_types(model: Any) -> dict[str, int]:
    """ONNX element type names written by the QuantizeLinear nodes (the activations), with counts."""
    from onnx import TensorProto

    inits = {i.name: i for i in model.graph.initializer}
    out: Counter[str] = Counter()
    for n in model.graph.node:
        if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[2] in inits:
            out[TensorProto.DataType.Name(inits[n.input[2]].data_type).lower()] += 1
    return dict(sorted(out.items()))


def executed_ops(path: Path) -> dict[str, Any]:
    """What ORT's CPU provider computes with after its graph optimizations (fusions of DQ -> op -> Q).

    Returns ``integer_compute`` and ``float_compute`` (op type -> count), ``dequantize`` (DequantizeLinear
    nodes left at run time) and ``all_integer`` (no float Conv/Gemm/MatMul left).
    """
    import onnx
    from edgebench.runtimes.ort.options import cpu_session

    with tempfile.TemporaryDirectory(prefix="edgebench-ops-") as td:
        optimized = Path(td) / "optimized.onnx"
        cpu_session(path, intra_op_threads=1, graph_optimization="extended", optimized_model_file=optimized)
        ops = Counter(n.op_type for n in onnx.load(str(optimized)).graph.node)
    integer = {k: v for k, v in sorted(ops.items()) if k in INTEGER_COMPUTE}
    flt = {k: v for k, v in sorted(ops.items()) if k in FLOAT_COMPUTE}
    heavy = {"Conv", "FusedConv", "Gemm", "MatMul", "FusedMatMul", "ConvTranspose"}
    return {"integer_compute": integer, "float_compute": flt, "dequantize": ops.get("DequantizeLinear", 0),
            "all_integer": not (heavy & set(flt))}


def onnx_zero_fraction(path: Path) -> dict[str, Any]:
    """Zeros among the Conv/Gemm/MatMul weights of an ONNX file (float, or int8 behind DequantizeLinear)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    zeros = total = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2:
            continue
        name = node.input[1]
        if name not in inits and name in producer and producer[name].op_type == "DequantizeLinear":
            dq = producer[name]
            name = dq.input[0]
            zp = numpy_helper.to_array(inits[dq.input[2]]) if len(dq.input) > 2 and dq.input[2] in inits else 0
        else:
            zp = 0
        if name not in inits:
            continue
        w = numpy_helper.to_array(inits[name])
        zp_arr = np.asarray(zp)
        if zp_arr.ndim and w.ndim:
            zp_arr = zp_arr.reshape([-1] + [1] * (w.ndim - 1))
        zeros += int((w.astype(np.int64 if w.dtype.kind in "iu" else np.float64) == zp_arr).sum())
        total += w.size
    return {"overall": zeros / total if total else 0.0, "weights": total}


def gzip_size_mb(path: Path, level: int = 9) -> float:
    """Size of the file gzip-compressed (what the study reported as the compressed model)."""
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=level)) / 1e6
