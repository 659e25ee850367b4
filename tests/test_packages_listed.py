"""Every sub-package folder is installed and its doctests run under its `edgebench.*` name.

`[tool.setuptools] packages` in pyproject.toml is an explicit list: a new folder with an `__init__.py`
(exporter/prune/, bench/report/ ...) missing from it works in the editable install but is left out of
the wheel the device installs.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from conftest import module_name

REPO = Path(__file__).resolve().parent.parent


def _package_inits() -> list[Path]:
    """The `__init__.py` of every package and sub-package folder."""
    folders = _setuptools()["package-dir"].values()
    return [init for folder in folders for init in sorted((REPO / folder).rglob("__init__.py"))]


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


def test_no_package_folder_is_git_ignored() -> None:
    """A .gitignore pattern such as `report/` would leave bench/report/__init__.py out of every commit."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    inits = [str(p.relative_to(REPO)) for p in _package_inits()]
    r = subprocess.run(["git", "check-ignore", "--no-index", *inits], cwd=REPO, capture_output=True, text=True)
    assert r.stdout.split() == [], "ignored by .gitignore"
