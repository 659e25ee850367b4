"""Converters: the workstation-only function that writes a runtime's artifact from an ONNX model.

A converter lives with its runtime, as `convert(job)` in `runtimes/<name>/convert.py` (openvino: NNCF,
litert: litert-torch, ncnn: pnnx); the runtime class lists the precisions it makes (`converts`) and the
packages it needs (`converter_packages`), which are imported inside the function, so a device install
imports none of them. `edgebench.calibration.convert.convert_model` runs one, checks its parity and writes
the manifest. What a converter needs from the layers above (calibration images, the PyTorch module rebuilt
from the manifest) comes in the `ConvertJob`, filled by the caller.

A converter is a callable::

    convert(job: ConvertJob) -> ConvertOutput   # writes its files into job.out_dir (a fresh folder)
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgebench.errors import RuntimeUnavailable, UserInputError, suggest

if TYPE_CHECKING:
    import numpy as np
    from edgebench.manifest import Manifest

# rebuilds the PyTorch module of a manifest: (manifest, model folder) -> (nn.Module in eval mode, weights file)
ModuleBuilder = Callable[["Manifest", Path], tuple[Any, Path]]
# the converters' own output, in the artifact folder (`edgebench convert --verbose` shows it instead)
CONVERT_LOG = "convert.log"
CONVERT_HINT = ("converters run on the workstation: pip install 'edgebench[export,convert]' there, convert, "
                "and copy the model folder to the device")


@dataclass(frozen=True)
class ConvertJob:
    """What a converter gets: the FP32 ONNX parent and its manifest, the precision, calibration images."""

    onnx_path: Path
    manifest: Manifest  # the parent's, with its `input`
    precision: str
    out_dir: Path
    calibration: np.ndarray | None = None  # preprocessed NCHW float32 images (INT8 only)
    build_module: ModuleBuilder | None = None  # for a converter that reads the PyTorch module (litert)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConvertOutput:
    """The file the runtime loads (inside out_dir), the converter's name and version, notes for the manifest."""

    model_file: Path
    converter: str
    converter_version: str
    details: dict[str, Any] = field(default_factory=dict)


class Converter(Protocol):
    def __call__(self, job: ConvertJob) -> ConvertOutput: ...


def converter_names() -> list[str]:
    """The runtimes `edgebench convert` makes artifacts for (a non-empty `converts`)."""
    from edgebench.runtimes import RUNTIMES, runtime_names

    return [n for n in runtime_names() if getattr(RUNTIMES.get(n), "converts", ())]


def get_converter(runtime: str) -> Converter:
    """The converter for `runtime`; an unknown name gets a suggestion, a missing package the workstation hint."""
    import importlib
    import importlib.util

    from edgebench.runtimes import RUNTIMES

    names = converter_names()
    if runtime not in names:
        raise UserInputError(f"no converter for runtime '{runtime}'; converters exist for {', '.join(names)} "
                             f"(ort-cpu and torch run the ONNX/PyTorch model as it is).{suggest(runtime, names)}")
    cls = RUNTIMES.get(runtime)
    missing = [p for p in cls.converter_packages if importlib.util.find_spec(p) is None]
    if missing:
        raise RuntimeUnavailable(f"the {runtime} converter needs {', '.join(missing)}, not installed here; "
                                 f"{CONVERT_HINT}")
    package = cls.__module__.rpartition(".")[0]  # runtimes/<name>/session.py -> runtimes/<name>/convert.py
    return importlib.import_module(f"{package}.convert").convert  # type: ignore[no-any-return]


@contextlib.contextmanager
def captured_output(log_path: Path) -> Iterator[Path]:
    """Send everything printed inside to `log_path` instead of the terminal: Python's stdout/stderr, logging and
    warnings, and what C/C++ libraries (TFLite, XNNPACK, OpenVINO, absl) write to file descriptors 1 and 2."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):  # a closed or replaced stream has nothing to flush
            stream.flush()  # type: ignore[union-attr]
    with open(log_path, "a", encoding="utf-8", buffering=1) as f:
        saved: list[tuple[int, int]] = []
        for fd in (1, 2):
            with contextlib.suppress(OSError):  # no such descriptor (a daemon): nothing to redirect
                saved.append((fd, os.dup(fd)))
                os.dup2(f.fileno(), fd)
        handler = logging.StreamHandler(f)
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
                yield log_path
        finally:
            root.removeHandler(handler)
            f.flush()
            for stream in (sys.__stdout__, sys.__stderr__):
                with contextlib.suppress(Exception):
                    stream.flush()  # type: ignore[union-attr]
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
