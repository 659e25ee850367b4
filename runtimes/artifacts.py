"""Where a runtime's converted model lives in a model folder, and how `-r NAME --precision P` finds it.

Layout (written by `edgebench convert`)::

    DIR/model.fp32.onnx + model.fp32.json          the parent (edgebench export)
    DIR/model.int8.onnx + model.int8.json          ONNX Runtime's INT8 (edgebench quantize)
    DIR/<runtime>/<precision>/model.<ext> + model.json   a converted artifact and its derived manifest

`resolve_for_runtime(arg, runtime, precision)` turns what the user typed (a model folder, the FP32 .onnx,
or any model file) into the file the runtime loads. Standard library only.

>>> artifact_dir(Path("art/resnet20"), "litert", "int8").as_posix()
'art/resnet20/litert/int8'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebench.errors import ModelFileError, UserInputError
from edgebench.runtimes.precisions import PRECISIONS

# the file each converting runtime loads from its artifact folder
ARTIFACT_FILES = {"openvino": "model.xml", "litert": "model.tflite", "ncnn": "model.param"}
ARTIFACT_MANIFEST = "model.json"


def artifact_dir(folder: Path, runtime: str, precision: str) -> Path:
    return Path(folder) / runtime / precision


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        from edgebench.errors import suggest

        hint = suggest(precision, PRECISIONS)
        raise UserInputError(f"--precision '{precision}' is not one of {', '.join(PRECISIONS)}.{hint}")
    return precision


def model_folder(arg: Path) -> Path:
    """The model folder of a folder, of its `model.*.onnx`, or of an artifact inside `<runtime>/<precision>/`."""
    arg = Path(arg)
    if arg.is_dir():
        return arg
    if arg.parent.parent.name in ARTIFACT_FILES and arg.parent.name in PRECISIONS:
        return arg.parent.parent.parent
    return arg.parent


def resolve_for_runtime(arg: Path, runtime: str, precision: str | None) -> Path:
    """The file `runtime` loads for `arg` at `precision` (None: what `arg` names, the FP32 model for a folder).

    - a runtime with converted artifacts (`ARTIFACT_FILES`): DIR/<runtime>/<precision>/model.<ext> when it
      exists; OpenVINO also reads the ONNX files directly, so it falls back to model.<precision>.onnx;
    - any other runtime: DIR/model.<precision>.onnx.

    A file given explicitly is returned as it is unless `precision` asks for another one.
    """
    from edgebench.manifest import resolve_model_arg

    arg = Path(arg)
    if precision is None:
        # litert/ncnn cannot read ONNX: a folder or an .onnx means that precision's artifact
        if runtime in ARTIFACT_FILES and runtime != "openvino" and (arg.is_dir() or arg.suffix == ".onnx"):
            prec = _onnx_precision(resolve_model_arg(arg)) if arg.suffix == ".onnx" else "fp32"
            return _artifact_or_refuse(model_folder(arg), runtime, prec)
        return resolve_model_arg(arg)
    check_precision(precision)
    folder = model_folder(arg)
    if runtime in ARTIFACT_FILES:
        found = artifact_dir(folder, runtime, precision) / ARTIFACT_FILES[runtime]
        if found.is_file():
            return found
        onnx = folder / f"model.{precision}.onnx"
        if runtime == "openvino" and precision == "fp32" and onnx.is_file():
            return onnx
        return _artifact_or_refuse(folder, runtime, precision)
    onnx = folder / f"model.{precision}.onnx"
    if not onnx.is_file():
        how = {"int8": "edgebench quantize", "fp16": "edgebench quantize --mode fp16"}.get(precision,
                                                                                           "edgebench export")
        raise ModelFileError(f"'{folder}' has no {onnx.name} for --precision {precision}; make it with {how}")
    return onnx


def resolve_precision(arg: Path, runtime: str, precision: str | None, options: Any = None) -> tuple[Path, Any]:
    """`resolve_for_runtime` for any precision, with the runtime options that select it (`plan_precision`).

    bf16/fp16 run as reduced arithmetic of the FP32 model (OpenVINO, ncnn, torch) load the FP32 file: the
    folder's, or the file given when it is an FP32 one.
    """
    from edgebench.runtimes.precisions import plan_precision

    file_precision, options = plan_precision(runtime, precision, options)
    if precision is not None and file_precision != precision and not Path(arg).is_dir():
        given = _file_precision(Path(arg))
        if given != file_precision:
            raise UserInputError(f"--precision {precision} on {runtime} runs the {file_precision} model, but "
                                 f"'{arg}' is {given}; give the model folder or its model.{file_precision}.onnx")
        return resolve_for_runtime(arg, runtime, None), options  # the file given (ncnn/litert: its artifact)
    return resolve_for_runtime(arg, runtime, file_precision), options


def _file_precision(path: Path) -> str:
    """The precision of a model file: its folder's under <runtime>/<precision>/, else its name's."""
    if path.parent.parent.name in ARTIFACT_FILES and path.parent.name in PRECISIONS:
        return path.parent.name
    return _onnx_precision(path)


def _onnx_precision(path: Path) -> str:
    stem = path.stem  # model.int8
    return stem.split(".")[-1] if stem.split(".")[-1] in PRECISIONS else "fp32"


def _artifact_or_refuse(folder: Path, runtime: str, precision: str) -> Path:
    found = artifact_dir(folder, runtime, precision) / ARTIFACT_FILES[runtime]
    if found.is_file():
        return found
    from edgebench.runtimes import RUNTIMES, runtime_names

    runtime_names()
    makes = getattr(RUNTIMES.get(runtime), "converts", ())
    if precision not in makes:
        raise UserInputError(f"runtime '{runtime}' has no {precision} model (it runs: {', '.join(makes)}); "
                             f"use another runtime for {precision}, e.g. -r ort-cpu --precision {precision}")
    raise ModelFileError(
        f"'{folder}' has no {runtime} {precision} model ({found.relative_to(folder).as_posix()}); make it on the "
        f"workstation with `edgebench convert {folder} --runtime {runtime} --precision {precision}` and copy the "
        "folder to this machine"
    )
