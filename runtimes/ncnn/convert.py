"""ncnn FP32 via pnnx (workstation: `pnnx` + `onnx`).

pnnx converts the ONNX model at a fixed input shape (batch 1). Three rewrites make edgebench's models
convert: a stride-2 `Slice` over H and W (the option-A shortcut's `x[:, :, ::2, ::2]`, which pnnx reports
as "not supported" and then writes a model that fails to load) becomes the equivalent 1x1 MaxPool with
stride 2; a stride-2 `Slice` over the channels (ShuffleNetV2's channel split `x[:, 0::2]` / `x[:, 1::2]`, in
FastestDet) becomes Reshape [1, C/2, 2, H*W] + a unit-step Slice of row 0 or 1 + Reshape back (the same values,
exactly); and the weights are written FP32 (`fp16=0`: pnnx stores fp16 by default, ~5e-3 off). The output shape
(ncnn drops the batch) is recorded from ONNX shape inference at the static input shape.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from edgebench.errors import ModelFileError
from edgebench.runtimes.base import dist_version
from edgebench.runtimes.converters import ConvertJob, ConvertOutput
from edgebench.runtimes.onnx_layout import constant_slices, is_channel_split

# ONNX ops pnnx -> ncnn handles for these models; anything else is named in the refusal
KNOWN_OPS = {"Conv", "Relu", "Add", "Pad", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Gemm",
             "BatchNormalization", "Clip", "Concat", "Reshape", "MatMul", "Mul", "Sigmoid", "HardSigmoid",
             "HardSwish", "Softmax", "Transpose", "Identity", "Cast", "Shape", "Gather", "Unsqueeze", "Constant",
             "Resize"}


# a Slice node and its constant starts, ends, axes, steps -> the nodes that replace it (None: kept as it is)
SliceRewrite = Callable[[Any, list[int], list[int], list[int], list[int]], list[Any] | None]


def _rewrite_slices(model: Any, rewrite: SliceRewrite) -> int:
    """Replace each Slice with constant starts/ends/axes/steps that `rewrite` maps to other nodes; returns how many."""
    consts = constant_slices(model)
    nodes, n = [], 0
    for k, node in enumerate(model.graph.node):
        new = rewrite(node, *consts[k]) if k in consts else None
        nodes += new if new is not None else [node]
        n += new is not None
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return n


def rewrite_strided_slices(model: Any) -> int:
    """Replace Slice(starts 0, axes [2, 3], steps [2, 2]) by MaxPool(kernel 1x1, stride 2); returns how many."""
    from onnx import helper

    def pool(node: Any, starts: list[int], _ends: list[int], axes: list[int], steps: list[int]) -> list[Any] | None:
        if (axes, steps, starts) != ([2, 3], [2, 2], [0, 0]):
            return None
        return [helper.make_node("MaxPool", [node.input[0]], list(node.output), kernel_shape=[1, 1], strides=[2, 2],
                                 name=f"{node.name}_as_pool")]

    return _rewrite_slices(model, pool)


def static_shapes(model: Any, shape: list[int]) -> dict[str, list[int]]:
    """Every tensor's shape (all dimensions known) when the model's first input is `shape`, by ONNX shape
    inference on a copy; tensors whose shape stays symbolic are left out."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    for d, n in zip(dims, shape, strict=True):
        d.ClearField("dim_param")
        d.dim_value = n
    del m.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(m)
    out = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]:
        ds = vi.type.tensor_type.shape.dim
        if ds and all(d.HasField("dim_value") for d in ds):
            out[vi.name] = [int(d.dim_value) for d in ds]
    return out


def rewrite_channel_slices(model: Any, shapes: dict[str, list[int]]) -> int:
    """Replace Slice(starts 0 or 1, ends past the end, axes [1], steps [2]) of a [1, C, H, W] tensor by Reshape
    [1, C/2, 2, H*W] + Slice(row start..start+1 of axis 2) + Reshape [1, C/2, H, W]; returns how many."""
    from onnx import helper, numpy_helper

    def split(node: Any, starts: list[int], ends: list[int], axes: list[int], steps: list[int]) -> list[Any] | None:
        dims = shapes.get(node.input[0], [])
        if not (len(dims) == 4 and dims[0] == 1 and is_channel_split(starts, ends, axes, steps, dims[1])):
            return None
        _, c, h, w = dims
        k = f"{node.name or node.output[0]}_split"
        consts = {f"{k}.shape": [1, c // 2, 2, h * w], f"{k}.start": starts[:1], f"{k}.end": [starts[0] + 1],
                  f"{k}.axis": [2], f"{k}.back": [1, c // 2, h, w]}
        model.graph.initializer.extend(numpy_helper.from_array(np.asarray(v, np.int64), name)
                                       for name, v in consts.items())
        return [helper.make_node("Reshape", [node.input[0], f"{k}.shape"], [f"{k}.pairs"], name=f"{k}_r"),
                helper.make_node("Slice", [f"{k}.pairs", f"{k}.start", f"{k}.end", f"{k}.axis"], [f"{k}.row"],
                                 name=f"{k}_s"),
                helper.make_node("Reshape", [f"{k}.row", f"{k}.back"], list(node.output), name=f"{k}_b")]

    return _rewrite_slices(model, split)


def strided_slices(model: Any) -> list[str]:
    """The Slice nodes with a step other than 1 (pnnx: 'slice with step is not supported')."""
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [nd.name or nd.op_type for nd in model.graph.node if nd.op_type == "Slice" and len(nd.input) == 5
            and (inits.get(nd.input[4]) is None or bool(np.any(inits[nd.input[4]] != 1)))]


def convert(job: ConvertJob) -> ConvertOutput:
    import onnx

    out_dir = Path(job.out_dir).resolve()  # pnnx runs in `work`: every path it gets is absolute
    work = out_dir / "pnnx"
    work.mkdir()
    model = onnx.load(str(job.onnx_path))
    unknown = sorted({nd.op_type for nd in model.graph.node} - KNOWN_OPS - {"Slice"})
    shape = [1 if not isinstance(d, int) else d for d in (job.manifest.input.shape if job.manifest.input else ())]
    shapes = static_shapes(model, shape)
    slices = rewrite_strided_slices(model)
    channel_slices = rewrite_channel_slices(model, shapes)
    left = strided_slices(model)
    if left:
        raise ModelFileError(f"ncnn cannot take '{job.onnx_path.name}': Slice node(s) {', '.join(left[:3])} are not "
                             "a stride-2 spatial subsample or channel split (pnnx: 'slice with step is not supported')")
    src = work / "model.onnx"
    onnx.save(model, str(src))
    exe = shutil.which("pnnx") or str(Path(__import__("pnnx").EXEC_PATH))
    proc = subprocess.run([exe, str(src), f"inputshape=[{','.join(map(str, shape))}]", "fp16=0"],
                          cwd=work, capture_output=True, text=True, timeout=600, check=False)
    param, weights = work / "model.ncnn.param", work / "model.ncnn.bin"
    text = proc.stdout + proc.stderr
    print(text, end="")  # pnnx's log: into convert.log (on the terminal with convert --verbose)
    unsupported = sorted({ln.strip() for ln in text.splitlines() if "not supported" in ln})
    if proc.returncode != 0 or not param.is_file() or unsupported:
        why = "; ".join(unsupported[:3]) or (text.strip().splitlines() or ["no output"])[-1]
        hint = f" (ONNX ops outside the tested set: {', '.join(unknown)})" if unknown else ""
        raise ModelFileError(f"pnnx could not convert '{job.onnx_path.name}' for ncnn: {why}{hint}")
    shutil.move(param, out_dir / "model.param")
    shutil.move(weights, out_dir / "model.bin")
    shutil.rmtree(work)
    out_shape = shapes.get(model.graph.output[0].name) or [1, job.manifest.num_classes or -1]
    return ConvertOutput(model_file=out_dir / "model.param", converter="pnnx (ONNX -> ncnn, fp16=0)",
                         converter_version=f"pnnx {dist_version('pnnx', 'pnnx')}",
                         details={"static_batch": 1, "rewrites": {"strided_slice_to_maxpool": slices,
                                                                  "channel_slice_to_reshape": channel_slices},
                                  "input_shape": shape, "output_shape": out_shape})
