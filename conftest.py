"""Doctests of the package folders (core/, runtimes/, ...), imported under their installed names.

`--doctest-modules` (pyproject.toml) makes pytest collect the `>>>` examples of every module in
`testpaths`. Left alone, pytest would import `runtimes/ort/session.py` as a second module named
`runtimes.ort.session` beside the real `edgebench.runtimes.ort.session` (registering "ort-cpu" twice).
Here each package folder's modules are imported as `edgebench.*`, the names that
`[tool.setuptools.package-dir]` gives them, and a module whose import needs an optional extra
that is not installed (torch without the export extra, on a device install) is skipped with the
reason rather than failing collection.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Generator
from pathlib import Path

import pytest
from _pytest.doctest import DoctestModule
from _pytest.python import Package

REPO = Path(__file__).resolve().parent

# Top-level modules of the optional extras (`export`, `report`): absent on a device install.
OPTIONAL = frozenset({"torch", "torchvision", "torch_pruning", "onnx", "onnxscript", "onnxslim",
                      "matplotlib", "jinja2"})


def _package_dirs() -> dict[Path, str]:
    """Repository folder -> package name, from pyproject.toml's [tool.setuptools.package-dir], with the
    sub-package folders below them (exporter/prune/ -> edgebench.exporter.prune)."""
    with open(REPO / "pyproject.toml", "rb") as f:
        mapping = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    out: dict[Path, str] = {}
    for package, folder in mapping.items():
        root = (REPO / folder).resolve()
        out[root] = package
        for init in sorted(root.rglob("__init__.py")):
            if init.parent != root:
                out[init.parent] = ".".join([package, *init.parent.relative_to(root).parts])
    return out


PACKAGE_DIRS = _package_dirs()


def module_name(path: Path) -> str | None:
    """The installed name of a package-folder module, e.g. runtimes/ort/session.py -> edgebench.runtimes.ort.session
    (a sub-package folder with an __init__.py below a package folder takes its parent's name + its own)."""
    folder, subs = path.resolve().parent, []
    while folder not in PACKAGE_DIRS:
        if not (folder / "__init__.py").is_file() or folder == folder.parent:
            return None
        subs.insert(0, folder.name)
        folder = folder.parent
    package = ".".join([PACKAGE_DIRS[folder], *subs])
    return package if path.name == "__init__.py" else f"{package}.{path.stem}"


def _skip_if_optional(e: BaseException, name: str) -> None:
    """Skip the module's doctests when `e` is an optional extra that is not installed."""
    cause = e if isinstance(e, ModuleNotFoundError) else e.__cause__
    if isinstance(cause, ModuleNotFoundError):
        top = (cause.name or "").partition(".")[0]
        if top in OPTIONAL:
            pytest.skip(f"{name} needs {top} (an optional extra, not installed here)")


class PackageDoctests(DoctestModule):
    """The doctests of one package module, imported by its `edgebench.*` name."""

    def _getobj(self) -> object:
        name = module_name(self.path)
        assert name is not None  # only created for package-folder modules (pytest_collect_file below)
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as e:
            _skip_if_optional(e, name)
            raise


class OtherDoctests(DoctestModule):
    """The doctests of a module outside the package folders (tests/ helpers such as tiny_nets.py,
    which import torch): imported as pytest does, skipped when an optional extra is missing."""

    def _getobj(self) -> object:
        try:
            return super()._getobj()
        except pytest.Collector.CollectError as e:
            _skip_if_optional(e, str(self.path.relative_to(REPO)))
            raise


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Generator[None, list, list]:
    collected = yield
    doctests = OtherDoctests if module_name(file_path) is None else PackageDoctests
    return [doctests.from_parent(parent, path=file_path) if type(c) is DoctestModule else c for c in collected]


@pytest.hookimpl(wrapper=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> Generator[None, object, object]:
    """A package folder (or a sub-package of one) is collected as a plain directory: pytest's Package node
    would import its __init__.py a second time, as the top-level module `runtimes`, `core`, ..."""
    node = yield
    if isinstance(node, Package) and module_name(path / "__init__.py") is not None:
        return pytest.Dir.from_parent(parent, path=path)
    return node
