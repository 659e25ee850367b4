"""Every sub-package folder is installed and its doctests run under its `edgebench.*` name.

`[tool.setuptools] packages` in pyproject.toml is an explicit list: a new folder with an `__init__.py`
(exporter/prune/, bench/report/ ...) missing from it works in the editable install but is left out of
the wheel the device installs.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from conftest import module_name

REPO = Path(__file__).resolve().parent.parent


def _setuptools() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def test_every_package_folder_is_listed() -> None:
    st = _setuptools()
    found = set()
    for package, folder in st["package-dir"].items():
        for init in (REPO / folder).rglob("__init__.py"):
            found.add(".".join([package, *init.parent.relative_to(REPO / folder).parts]))
    assert "edgebench.exporter.prune" in found and "edgebench.bench.report" in found
    assert sorted(found - set(st["packages"])) == [], "add these to [tool.setuptools] packages in pyproject.toml"
    assert sorted(set(st["packages"]) - found) == [], "these listed packages have no folder with an __init__.py"


def test_sub_package_modules_have_their_installed_names() -> None:
    assert module_name(REPO / "exporter" / "prune" / "config.py") == "edgebench.exporter.prune.config"
    assert module_name(REPO / "bench" / "report" / "__init__.py") == "edgebench.bench.report"
    assert module_name(REPO / "exporter" / "export.py") == "edgebench.exporter.export"
    assert module_name(REPO / "tests" / "exporter" / "tiny_nets.py") is None
