"""A runtime is one sub-package, `runtimes/<name>/`: session, options and converter together, engines imported
lazily, and no entry point from the runtimes layer into a higher one."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from edgebench.runtimes import RUNTIMES, runtime_names
from edgebench.runtimes.base import RunOnlyRuntime
from edgebench.runtimes.converters import converter_names

REPO = Path(__file__).resolve().parents[2]
BUILT_IN = {"ort-cpu": "ort", "torch": "torch", "torch-int8": "torch", "openvino": "openvino", "litert": "litert",
            "ncnn": "ncnn"}


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_runtime_session_and_options_live_in_its_sub_package(name: str) -> None:
    assert name in runtime_names()  # registers the built-in runtimes
    cls = RUNTIMES.get(name)
    package = f"edgebench.runtimes.{BUILT_IN[name]}"
    assert cls.__module__ == f"{package}.session"
    assert cls.Options.__module__ == f"{package}.options"


def test_converters_live_with_their_runtime() -> None:
    assert converter_names() == ["litert", "ncnn", "openvino"]
    for name in converter_names():
        cls = RUNTIMES.get(name)
        assert issubclass(cls, RunOnlyRuntime) and cls.converter_packages
        module = importlib.import_module(f"edgebench.runtimes.{BUILT_IN[name]}.convert")  # engines inside functions
        assert callable(module.convert)


def test_no_entry_point_from_runtimes_into_a_higher_layer() -> None:
    with open(REPO / "pyproject.toml", "rb") as f:
        groups = tomllib.load(f)["project"].get("entry-points", {})
    assert "edgebench.converters" not in groups
    for target in groups.get("edgebench.runtimes", {}).values():
        assert target.startswith("edgebench.runtimes."), target


def test_listing_runtimes_imports_no_engine() -> None:
    code = ("import sys\nfrom edgebench.runtimes import runtime_names\nfrom edgebench.runtimes.converters import "
            "converter_names\nprint(runtime_names(), converter_names())\nheavy = ('torch', 'openvino', 'ncnn', "
            "'ai_edge_litert', 'nncf', 'pnnx', 'litert_torch', 'onnxruntime', 'onnx')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
    assert set(BUILT_IN) <= set(runtime_names())
