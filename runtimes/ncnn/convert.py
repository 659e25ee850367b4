"""ncnn FP32 via pnnx (workstation: `pnnx` + `onnx`).

pnnx converts the ONNX model at a fixed input shape (batch 1). Two rewrites make edgebench's models
convert: a stride-2 `Slice` over H and W (the option-A shortcut's `x[:, :, ::2, ::2]`, which pnnx reports
as "not supported" and then writes a model that fails to load) becomes the equivalent 1x1 MaxPool with
stride 2; and the weights are written FP32 (`fp16=0`: pnnx stores fp16 by default, ~5e-3 off).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from edgebench.errors import ModelFileError
from edgebench.runtimes.base import dist_version
from edgebench.runtimes.converters import ConvertJob, ConvertOutput

# ONNX ops pnnx -> ncnn handles for these models; anything else is named in the refusal
KNOWN_OPS = {"Conv", "Relu", "Add", "Pad", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Gemm",
             "BatchNormalization", "Clip", "Concat", "Reshape", "MatMul", "Mul", "Sigmoid", "HardSigmoid",
             "HardSwish", "Softmax", "Transpose", "Identity", "Cast", "Shape", "Gather", "Unsqueeze", "Constant"}


def rewrite_strided_slices(model: Any) -> int:
    """Replace Slice(starts 0, axes [2, 3], steps [2, 2]) by MaxPool(kernel 1x1, stride 2); returns how many."""
    from onnx import helper, numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    nodes, n = [], 0
    for node in model.graph.node:
        if node.op_type == "Slice" and len(node.input) == 5:
            starts, _ends, axes, steps = (inits.get(x) for x in node.input[1:])
            if (starts is not None and axes is not None and steps is not None and list(axes) == [2, 3]
                    and list(steps) == [2, 2] and list(starts) == [0, 0]):
                nodes.append(helper.make_node("MaxPool", [node.input[0]], list(node.output), kernel_shape=[1, 1],
                                              strides=[2, 2], name=f"{node.name}_as_pool"))
                n += 1
                continue
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return n


def convert(job: ConvertJob) -> ConvertOutput:
    import onnx

    out_dir = Path(job.out_dir).resolve()  # pnnx runs in `work`: every path it gets is absolute
    work = out_dir / "pnnx"
    work.mkdir()
    model = onnx.load(str(job.onnx_path))
    unknown = sorted({nd.op_type for nd in model.graph.node} - KNOWN_OPS - {"Slice"})
    slices = rewrite_strided_slices(model)
    left = [nd.name or nd.op_type for nd in model.graph.node if nd.op_type == "Slice"]
    if left:
        raise ModelFileError(f"ncnn cannot take '{job.onnx_path.name}': Slice node(s) {', '.join(left[:3])} are not "
                             "a stride-2 spatial subsample (pnnx: 'slice with step is not supported')")
    src = work / "model.onnx"
    onnx.save(model, str(src))
    shape = [1 if not isinstance(d, int) else d for d in (job.manifest.input.shape if job.manifest.input else ())]
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
    n_out = job.manifest.num_classes or -1
    return ConvertOutput(model_file=out_dir / "model.param", converter="pnnx (ONNX -> ncnn, fp16=0)",
                         converter_version=f"pnnx {dist_version('pnnx', 'pnnx')}",
                         details={"static_batch": 1, "rewrites": {"strided_slice_to_maxpool": slices},
                                  "input_shape": shape,
                                  "output_shape": [1, n_out]})
