"""Third-party ONNX layouts made plain before ONNX Runtime sees them: initializers listed as graph inputs (the classic
model-zoo layout of IR < 4) are removed from the inputs, and an IR version above what the graph's opsets need (onnx
saves IR 14 by default, newer than ONNX Runtime reads) is lowered to the one they need.

Initializers left in the inputs are overridable in IR >= 4: ONNX Runtime then neither folds nor pre-packs them (an
FP32 baseline runs slower than it should) and warns once per initializer in colour on the terminal; in IR < 4 its
ConstantSharing (run by `quant_pre_process`) merges two equal shape tensors and drops one initializer while its graph
input stays, which then reads as a required input nobody feeds ("Required inputs (['fc__SHAPE']) are missing from
input feed"). Example::

    changes = normalize_model(proto)   # ['3 initializers removed from the graph inputs', 'IR version 14 -> 8']
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

MIN_IR_WITHOUT_INPUT_INITIALIZERS = 4  # IR 4: initializers need not be graph inputs


def initializer_inputs(model: Any) -> list[str]:
    """Names of the graph inputs that are also initializers."""
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name in inits]


def needed_ir_version(model: Any) -> int:
    """The lowest IR version the model's opsets allow (never below 4: initializers outside the inputs)."""
    from onnx import helper

    needed = helper.find_min_ir_version_for(list(model.opset_import), ignore_unknown=True)
    return max(int(needed), MIN_IR_WITHOUT_INPUT_INITIALIZERS)


def normalize_model(model: Any) -> list[str]:
    """Remove initializers from `model`'s graph inputs and set its IR version to `needed_ir_version` where it was
    above it or below 4 (in place); returns what changed, one phrase each (empty: nothing to do)."""
    changes: list[str] = []
    listed = set(initializer_inputs(model))
    if listed:
        kept = [i for i in model.graph.input if i.name not in listed]
        del model.graph.input[:]
        model.graph.input.extend(kept)
        changes.append(f"{len(listed)} initializer(s) removed from the graph inputs (IR >= 4 layout)")
    needed = needed_ir_version(model)
    too_new = model.ir_version > needed and not ort_reads_ir(int(model.ir_version))
    if too_new or model.ir_version < MIN_IR_WITHOUT_INPUT_INITIALIZERS:
        changes.append(f"IR version {model.ir_version} -> {needed}")
        model.ir_version = needed
    return changes


def constant_slices(model: Any) -> dict[int, tuple[list[int], list[int], list[int], list[int]]]:
    """The Slice nodes whose starts, ends, axes and steps are all initializers, by their index in the graph's node
    list: (starts, ends, axes, steps)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    out = {}
    for k, node in enumerate(model.graph.node):
        if node.op_type == "Slice" and len(node.input) == 5 and all(x in inits for x in node.input[1:]):
            s, e, a, st = ([int(v) for v in numpy_helper.to_array(inits[x]).ravel()] for x in node.input[1:])
            out[k] = (s, e, a, st)
    return out


def is_channel_split(starts: list[int], ends: list[int], axes: list[int], steps: list[int],
                     channels: int | None = None) -> bool:
    """Whether a Slice is ShuffleNetV2's `x[:, 0::2]` / `x[:, 1::2]`: every other channel (of all `channels`, when
    the count is known)."""
    return axes == [1] and steps == [2] and starts[0] in (0, 1) and (
        channels is None or (channels % 2 == 0 and ends[0] >= channels))


def channel_split_slices(model: Any) -> list[str]:
    """Names of the stride-2 Slices over the channels (`x[:, 0::2]`) in `model`."""
    return [model.graph.node[k].name or model.graph.node[k].output[0]
            for k, params in constant_slices(model).items() if is_channel_split(*params)]


@functools.cache
def ort_reads_ir(ir_version: int) -> bool:
    """Whether the installed ONNX Runtime loads a model of `ir_version` (asked once with a one-node graph)."""
    from edgebench.runtimes.ort.options import cpu_session
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    probe = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x],
                                                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]),
                              opset_imports=[helper.make_opsetid("", 13)])
    probe.ir_version = ir_version
    try:
        cpu_session(probe.SerializeToString())
    except Exception:  # ORT's pybind errors have no common base; any failure here means "cannot read it"
        return False
    return True


def normalized_bytes(path: Path) -> bytes | None:
    """The normalized model serialized, when `path` needs `normalize_model` and can be loaded whole from memory;
    None when it needs nothing, when its weights are external data (ONNX Runtime must resolve them beside the
    file) or when the `onnx` package is absent (the device install): ONNX Runtime then reads the file as it is."""
    try:
        import onnx
    except ImportError:
        return None
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, OSError, ValueError):  # not a readable protobuf: ONNX Runtime's own load says so
        return None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        return None
    return model.SerializeToString() if normalize_model(model) else None
