"""Converters: name -> the workstation-only function that writes a runtime's artifact from an ONNX model.

The converters live where their dependencies are allowed (OpenVINO + NNCF in `edgebench.calibration`,
litert-torch and pnnx in `edgebench.exporter`); this layer only knows them by name, through the
`edgebench.converters` entry points (pyproject.toml), so a device install imports none of them.
`edgebench.calibration.convert.convert_model` runs one, checks its parity and writes the manifest.

A converter is a callable::

    convert(job: ConvertJob) -> ConvertOutput   # writes its files into job.out_dir (a fresh folder)
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgebench.errors import RuntimeUnavailable, UserInputError, suggest

if TYPE_CHECKING:
    import numpy as np
    from edgebench.manifest import Manifest

CONVERTERS_GROUP = "edgebench.converters"
# the packages each converter needs (workstation only) and how to get them
CONVERTER_PACKAGES = {"openvino": ("openvino", "nncf"), "litert": ("litert_torch", "torch"), "ncnn": ("pnnx", "onnx")}
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
    from importlib.metadata import entry_points

    return sorted(e.name for e in entry_points(group=CONVERTERS_GROUP))


def get_converter(runtime: str) -> Converter:
    """The converter for `runtime`; an unknown name gets a suggestion, a missing package the workstation hint."""
    import importlib.util
    from importlib.metadata import entry_points

    eps = {e.name: e for e in entry_points(group=CONVERTERS_GROUP)}
    if runtime not in eps:
        names = sorted(eps)
        raise UserInputError(f"no converter for runtime '{runtime}'; converters exist for {', '.join(names)} "
                             f"(ort-cpu and torch run the ONNX/PyTorch model as it is).{suggest(runtime, names)}")
    missing = [p for p in CONVERTER_PACKAGES.get(runtime, ()) if importlib.util.find_spec(p) is None]
    if missing:
        raise RuntimeUnavailable(f"the {runtime} converter needs {', '.join(missing)}, not installed here; "
                                 f"{CONVERT_HINT}")
    return eps[runtime].load()  # type: ignore[no-any-return]


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
