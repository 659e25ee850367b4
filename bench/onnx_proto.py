"""A minimal ONNX writer without the `onnx` package: protobuf encoding of conv/QDQ probe graphs.

The device install has onnxruntime but not `onnx` (nor torch), yet `edgebench latency-table` must
build one small graph per layer and candidate width there. ONNX files are protobuf messages; the few
message types a probe needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
ValueInfoProto) are written here field by field, following onnx/onnx.proto (field numbers noted).

Example::

    g = Graph("probe")
    x = g.input("x", [1, 16, 32, 32])
    y = g.node("Relu", [x])
    g.output(y, [1, 16, 32, 32])
    data = g.model_bytes(opset=17)          # onnxruntime.InferenceSession(data) loads it
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

FLOAT, UINT8, INT8, INT32, INT64 = 1, 2, 3, 6, 7
_NP = {np.dtype(np.float32): FLOAT, np.dtype(np.uint8): UINT8, np.dtype(np.int8): INT8,
       np.dtype(np.int32): INT32, np.dtype(np.int64): INT64}
ATTR_FLOAT, ATTR_INT, ATTR_INTS = 1, 2, 7


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def f_int(field: int, v: int) -> bytes:
    return _key(field, 0) + _varint(int(v))


def f_bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def f_str(field: int, s: str) -> bytes:
    return f_bytes(field, s.encode("utf-8"))


def f_float(field: int, v: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", float(v))


def tensor(name: str, arr: np.ndarray) -> bytes:
    """TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little endian)."""
    arr = np.asarray(arr).copy(order="C")  # (np.ascontiguousarray would make a scalar 1-D)
    body = b"".join(f_int(1, d) for d in arr.shape) + f_int(2, _NP[arr.dtype]) + f_str(8, name)
    return body + f_bytes(9, arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())


def attribute(name: str, value: int | float | Sequence[int]) -> bytes:
    """AttributeProto: name=1, f=2, i=3, ints=8, type=20."""
    if isinstance(value, float):
        return f_str(1, name) + f_float(2, value) + f_int(20, ATTR_FLOAT)
    if isinstance(value, int):
        return f_str(1, name) + f_int(3, value) + f_int(20, ATTR_INT)
    return f_str(1, name) + b"".join(f_int(8, v) for v in value) + f_int(20, ATTR_INTS)


def value_info(name: str, elem_type: int, shape: Sequence[int]) -> bytes:
    """ValueInfoProto{name=1, type=2: TypeProto{tensor_type=1: {elem_type=1, shape=2: {dim=1: {dim_value=1}}}}}."""
    dims = b"".join(f_bytes(1, f_int(1, d)) for d in shape)
    tensor_type = f_int(1, elem_type) + f_bytes(2, dims)
    return f_str(1, name) + f_bytes(2, f_bytes(1, tensor_type))


class Graph:
    """A graph under construction: inputs, initializers, nodes (in topological order), outputs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._nodes: list[bytes] = []
        self._inits: list[bytes] = []
        self._inputs: list[bytes] = []
        self._outputs: list[bytes] = []
        self._n = 0

    def fresh(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def input(self, name: str, shape: Sequence[int], elem_type: int = FLOAT) -> str:
        self._inputs.append(value_info(name, elem_type, shape))
        return name

    def output(self, name: str, shape: Sequence[int], elem_type: int = FLOAT) -> None:
        self._outputs.append(value_info(name, elem_type, shape))

    def const(self, stem: str, arr: np.ndarray) -> str:
        name = self.fresh(stem)
        self._inits.append(tensor(name, arr))
        return name

    def node(self, op: str, inputs: Sequence[str], **attrs: int | float | Sequence[int]) -> str:
        """NodeProto: input=1, output=2, name=3, op_type=4, attribute=5; returns the output name."""
        out = self.fresh(op.lower())
        body = b"".join(f_str(1, i) for i in inputs) + f_str(2, out) + f_str(3, out + "_node") + f_str(4, op)
        body += b"".join(f_bytes(5, attribute(k, v)) for k, v in attrs.items())
        self._nodes.append(body)
        return out

    def model_bytes(self, opset: int = 17, ir_version: int = 8) -> bytes:
        """ModelProto{ir_version=1, producer_name=2, graph=7, opset_import=8{domain=1, version=2}}."""
        graph = (b"".join(f_bytes(1, n) for n in self._nodes) + f_str(2, self.name)
                 + b"".join(f_bytes(5, t) for t in self._inits)
                 + b"".join(f_bytes(11, v) for v in self._inputs) + b"".join(f_bytes(12, v) for v in self._outputs))
        return (f_int(1, ir_version) + f_str(2, "edgebench-latency-probe") + f_bytes(7, graph)
                + f_bytes(8, f_str(1, "") + f_int(2, opset)))
